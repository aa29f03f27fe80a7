//! HTTP failures classified where they are born: reqwest errors and response statuses become
//! [`Error::Backend`] with a [`Transience`] and, when the receiver asked for one, a retry delay.
//!
//! | failure | transience | why |
//! |---|---|---|
//! | connection refused, DNS failure, connect timeout | transient | nothing was sent |
//! | timeout or reset after the request was sent | uncertain | the receiver may have it |
//! | 408, 429, 5xx | transient, with `Retry-After` | the receiver asks to try again |
//! | any other non-2xx (3xx are not followed) | permanent | resending the same request cannot help |
//! | the host resolves to no permitted address | permanent (`Invalid`) | see `guard.rs` |
//!
//! Messages never contain the URL (its path may be a secret) nor any header.

use std::error::Error as StdError;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::StatusCode;

use crate::error::{BackendError, Error, Transience};

const BACKEND: &str = "http";

/// Classifies a failed send (no response, or a response cut short).
pub(crate) fn request_error(err: reqwest::Error) -> Error {
    // Display of a reqwest error includes the URL; the URL's path and query may be secrets.
    let err = err.without_url();
    // The address guard refused every address the host resolves to: final, never retried.
    if let Some(refused) = chain(&err).find_map(|cause| cause.downcast_ref::<super::guard::Refused>()) {
        return Error::Invalid { what: "webhook address", reason: refused.0.clone() };
    }
    let (transience, what) = if err.is_connect() {
        let what = if err.is_timeout() { "connect timed out" } else { "could not connect" };
        (Transience::Transient, what)
    } else if err.is_timeout() {
        (Transience::Uncertain, "timed out after the request was sent")
    } else if err.is_builder() || err.is_redirect() {
        (Transience::Permanent, "the request could not be built")
    } else {
        // Reset, closed or broken after the connection was made: part of the request may have
        // been received and acted on.
        (Transience::Uncertain, "the connection failed after the request was sent")
    };
    let message = format!("{what}: {}", root_cause(&err));
    BackendError::new(BACKEND, transience, message).with_source(err).into()
}

/// Classifies a non-2xx response. `retry_after` is the parsed `Retry-After` header;
/// `body_snippet` a short, already redacted prefix of the response body.
pub(crate) fn status_error(status: StatusCode, retry_after: Option<Duration>, body_snippet: &str) -> Error {
    let transience = match status.as_u16() {
        408 | 429 | 500..=599 => Transience::Transient,
        _ => Transience::Permanent,
    };
    let mut message = format!("the webhook answered {status}");
    if status.is_redirection() {
        message.push_str(" (redirects are not followed)");
    }
    if !body_snippet.is_empty() {
        message.push_str(&format!(": {body_snippet:?}"));
    }
    let err = BackendError::new(BACKEND, transience, message);
    match retry_after {
        Some(delay) if transience == Transience::Transient => err.with_retry_after(delay),
        _ => err,
    }
    .into()
}

/// The delay a `Retry-After` value asks for, as delta-seconds or an HTTP-date (IMF-fixdate, or
/// the obsolete RFC 850 and asctime forms, which RFC 9110 requires recipients to accept). A date
/// in the past means no delay; anything malformed, `None`.
pub(crate) fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // All digits but too large for u64: as long as possible (the policy caps it anyway).
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .map(|date| date.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%A, %d-%b-%y %H:%M:%S GMT").map(|d| d.and_utc()))
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%a %b %e %H:%M:%S %Y").map(|d| d.and_utc()))
        .ok()?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// The innermost cause's text, e.g. "Connection refused (os error 111)".
/// `err` and its sources, outermost first.
fn chain<'a>(err: &'a (dyn StdError + 'static)) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |cause: &&'a (dyn StdError + 'static)| (*cause).source())
}

fn root_cause(err: &(dyn StdError + 'static)) -> String {
    let mut cause = err;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpSocket};

    use super::*;

    fn classify_status(code: u16) -> Transience {
        status_error(StatusCode::from_u16(code).unwrap(), None, "").transience()
    }

    #[test]
    fn statuses_that_ask_to_try_again_are_transient() {
        for code in [408, 429, 500, 502, 503, 504] {
            assert_eq!(classify_status(code), Transience::Transient, "{code}");
        }
        for code in [301, 302, 400, 401, 403, 404, 409, 410, 413, 422] {
            assert_eq!(classify_status(code), Transience::Permanent, "{code}");
        }
    }

    #[test]
    fn retry_after_is_kept_only_where_a_retry_follows() {
        let later = Some(Duration::from_secs(7));
        let err = status_error(StatusCode::TOO_MANY_REQUESTS, later, "slow down");
        assert_eq!(err.retry_after(), later);
        assert_eq!(
            err.to_string(),
            "http error (transient): the webhook answered 429 Too Many Requests: \"slow down\""
        );
        assert_eq!(status_error(StatusCode::BAD_REQUEST, later, "").retry_after(), None);
        let moved = status_error(StatusCode::MOVED_PERMANENTLY, None, "").to_string();
        assert!(moved.contains("redirects are not followed"), "{moved}");
    }

    #[test]
    fn retry_after_reads_seconds_and_all_three_date_forms() {
        let now = Utc.with_ymd_and_hms(1994, 11, 6, 8, 49, 0).unwrap();
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(parse_retry_after("120", now), secs(120));
        assert_eq!(parse_retry_after(" 0 ", now), secs(0));
        assert_eq!(parse_retry_after("99999999999999999999999", now), secs(u64::MAX));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), secs(37));
        assert_eq!(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now), secs(37));
        assert_eq!(parse_retry_after("Sun Nov  6 08:49:37 1994", now), secs(37));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), secs(0), "past: no delay");
        for garbage in ["", "-1", "1.5", "soon", "Sun, 32 Nov 1994 08:49:37 GMT"] {
            assert_eq!(parse_retry_after(garbage, now), None, "{garbage:?}");
        }
    }

    fn client(connect: Duration, request: Duration) -> reqwest::Client {
        reqwest::Client::builder().connect_timeout(connect).timeout(request).build().unwrap()
    }

    async fn post(client: &reqwest::Client, url: &str) -> Error {
        request_error(client.post(url).body("{}").send().await.unwrap_err())
    }

    fn assert_classified(err: &Error, transience: Transience, prefix: &str) {
        assert_eq!(err.transience(), transience, "{err}");
        let message = err.to_string();
        assert!(message.starts_with(&format!("http error ({transience}): {prefix}")), "{message}");
        assert!(!message.contains("secret-path"), "the URL leaked: {message}");
    }

    #[tokio::test]
    async fn connection_refused_is_transient() {
        let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
        let client = client(Duration::from_secs(2), Duration::from_secs(5));
        let err = post(&client, &format!("http://127.0.0.1:{port}/secret-path")).await;
        assert_classified(&err, Transience::Transient, "could not connect");
    }

    #[tokio::test]
    async fn a_dns_failure_is_transient() {
        let client = client(Duration::from_secs(5), Duration::from_secs(10));
        // `.invalid` never resolves (RFC 2606).
        let err = post(&client, "http://webhook.invalid/secret-path").await;
        // A resolver that cannot be reached makes the lookup time out instead of fail: the same.
        let prefix =
            if err.to_string().contains("timed out") { "connect timed out" } else { "could not connect" };
        assert_classified(&err, Transience::Transient, prefix);
    }

    #[tokio::test]
    async fn a_connect_timeout_is_transient() {
        // A listener that never accepts, with its backlog filled: further SYNs go unanswered.
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(0).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut fillers = Vec::new();
        for _ in 0..4 {
            let filler = TcpSocket::new_v4().unwrap();
            if let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_millis(200), filler.connect(addr)).await
            {
                fillers.push(stream);
            }
        }
        let client = client(Duration::from_millis(200), Duration::from_secs(5));
        let err = post(&client, &format!("http://{addr}/secret-path")).await;
        assert_classified(&err, Transience::Transient, "connect timed out");
    }

    /// A server that reads each request (all of it, or one byte) and then does `then` to the
    /// connection.
    async fn server(whole: bool, then: fn(tokio::net::TcpStream)) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                loop {
                    let want = if whole { buf.len() } else { 1 };
                    match stream.read(&mut buf[..want]).await {
                        Ok(n) if n > 0 => request.extend_from_slice(&buf[..n]),
                        _ => break,
                    }
                    // Every request here ends with the body "{}".
                    if !whole || request.ends_with(b"\r\n\r\n{}") {
                        break;
                    }
                }
                then(stream);
            }
        });
        format!("http://{addr}/secret-path")
    }

    #[tokio::test]
    async fn a_timeout_after_sending_is_uncertain() {
        let url = server(true, |stream| {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(30)).await;
                drop(stream);
            });
        })
        .await;
        let client = client(Duration::from_secs(2), Duration::from_millis(200));
        let err = post(&client, &url).await;
        assert_classified(&err, Transience::Uncertain, "timed out after the request was sent");
    }

    #[tokio::test]
    async fn a_reset_or_close_after_sending_is_uncertain() {
        // Closing with unread request bytes makes the kernel answer with a reset; closing after
        // reading the request, with an orderly close.
        for (whole, cause) in [(false, "reset"), (true, "connection closed before message completed")] {
            let url = server(whole, drop).await;
            let client = client(Duration::from_secs(2), Duration::from_secs(5));
            let err = post(&client, &url).await;
            assert_classified(
                &err,
                Transience::Uncertain,
                "the connection failed after the request was sent",
            );
            assert!(err.to_string().contains(cause), "{err}");
        }
    }
}
