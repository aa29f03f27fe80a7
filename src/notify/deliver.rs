//! One notification's delivery: look up the task's webhook, POST the event under the api retry
//! policy, record how it ended.

use std::sync::Arc;

use chrono::Utc;
use reqwest::Response;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use uuid::Uuid;

use super::guard::AddressGuard;
use super::record::{FailedNotification, FailureReason, Ledger, Reservation};
use super::slots::Slots;
use super::url::WebhookUrl;
use super::{NotifierOptions, TaskStatusUpdateEvent, classify};
use crate::error::{Error, Result};
use crate::model::PushNotificationConfig;
use crate::retry::{Call, execute_with_retry};
use crate::storage::Storage;
use crate::telemetry::{WebhookTimer, webhook_attempt};

/// The header carrying the notification's id, the same on every retry, so that a receiver can
/// drop a copy it already processed.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// How much of a response body an error message quotes.
const SNIPPET_BYTES: usize = 256;

/// How one delivery ended.
#[derive(Debug)]
pub(crate) enum Delivered {
    /// A webhook answered 2xx.
    Sent,
    /// The task has no webhook config (any more): there is nowhere to send it.
    NoWebhook,
    /// It failed for good, and was recorded so.
    Failed(Box<FailedNotification>),
}

/// A state to report, holding its place in the backlog until its delivery ends.
#[derive(Debug)]
pub(crate) struct Notification {
    pub(crate) id: Uuid,
    pub(crate) event: TaskStatusUpdateEvent,
    pub(crate) _reservation: Reservation,
}

/// What every delivery shares.
pub(crate) struct Deliverer {
    pub(crate) client: reqwest::Client,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) options: NotifierOptions,
    /// Literal addresses skip DNS: the guard checks them here.
    pub(crate) guard: AddressGuard,
    /// Requests in flight, in all and per host.
    pub(crate) slots: Slots,
    pub(crate) ledger: Arc<Ledger>,
}

impl Deliverer {
    /// Delivers `notification` to the task's webhook, if it has one, and records the outcome.
    pub(crate) async fn deliver(&self, notification: &Notification) -> Delivered {
        let task_id = notification.event.task_id;
        // Read at send time, so configs saved for long-running tasks work across restarts and
        // a deleted config stops deliveries at once.
        let config = match self.storage.load_webhook_config(task_id).await {
            Ok(Some(config)) => config,
            Ok(None) => return Delivered::NoWebhook,
            Err(err) => return self.failed(notification, None, 0, FailureReason::Storage, &err).await,
        };
        let url = match WebhookUrl::parse(&config.url) {
            Ok(url) => url,
            Err(err) => return self.failed(notification, None, 0, FailureReason::InvalidConfig, &err).await,
        };
        let host = Some(url.host());
        if let Err(err) = self.guard.check_literal(url.url().host_str().unwrap_or_default()) {
            return self.failed(notification, host, 0, FailureReason::Forbidden, &err).await;
        }
        let (headers, body) = match request_parts(notification, &config) {
            Ok(parts) => parts,
            Err(err) => return self.failed(notification, host, 0, FailureReason::InvalidConfig, &err).await,
        };
        let token = config.token.as_deref().filter(|token| !token.is_empty());
        let mut attempts = 0;
        let timer = WebhookTimer::start();
        let outcome = execute_with_retry(&self.options.retry, Call::PUSH_NOTIFICATION, || {
            attempts += 1;
            webhook_attempt();
            self.post(&url, &headers, &body, token)
        })
        .await;
        match outcome {
            Ok(()) => {
                timer.stop("delivered");
                self.ledger.delivered();
                tracing::debug!(
                    task = %task_id,
                    state = %notification.event.status.state,
                    webhook_host = url.host(),
                    attempts,
                    "push notification delivered",
                );
                Delivered::Sent
            }
            Err(err) => {
                let reason = match err {
                    Error::Exhausted { .. } => FailureReason::Exhausted,
                    Error::Invalid { what: "webhook address", .. } => FailureReason::Forbidden,
                    _ => FailureReason::Rejected,
                };
                timer.stop(reason.label());
                self.failed(notification, host, attempts, reason, &err).await
            }
        }
    }

    /// One attempt. A request slot is held only while the request is in flight, so a webhook
    /// waiting to be retried holds none.
    async fn post(
        &self,
        url: &WebhookUrl,
        headers: &HeaderMap,
        body: &[u8],
        token: Option<&str>,
    ) -> Result<()> {
        let _slot = self.slots.acquire(url.host()).await?;
        let request = self.client.post(url.url().clone()).headers(headers.clone()).body(body.to_vec());
        let response = request.send().await.map_err(classify::request_error)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| classify::parse_retry_after(value, Utc::now()));
        // Read (up to the limit) even on success, so that the connection can be reused.
        let body = read_limited(response, self.options.max_response_bytes).await;
        if status.is_success() {
            return Ok(());
        }
        Err(classify::status_error(status, retry_after, &snippet(&body, token)))
    }

    /// Logs and records a failure: in this process's ledger, and in storage, where operators
    /// (and other processes) see it and can redeliver it.
    async fn failed(
        &self,
        notification: &Notification,
        webhook_host: Option<&str>,
        attempts: u32,
        reason: FailureReason,
        err: &Error,
    ) -> Delivered {
        let event = &notification.event;
        tracing::warn!(
            task = %event.task_id,
            state = %event.status.state,
            webhook_host = webhook_host.unwrap_or("-"),
            attempts,
            %reason,
            error = %err,
            "push notification failed",
        );
        let failure = FailedNotification {
            notification_id: notification.id,
            task_id: event.task_id,
            context_id: event.context_id,
            status: event.status.clone(),
            webhook_host: webhook_host.map(str::to_owned),
            attempts,
            reason,
            error: err.to_string(),
            failed_at: Utc::now(),
        };
        self.ledger.record(failure.clone());
        if let Err(stored) = self.storage.record_failed_notification(&failure).await {
            tracing::warn!(task = %event.task_id, error = %stored, "could not store a failed push notification");
        }
        Delivered::Failed(Box::new(failure))
    }
}

/// The headers and body every attempt sends: built once, so every retry is byte-identical.
fn request_parts(
    notification: &Notification,
    config: &PushNotificationConfig,
) -> Result<(HeaderMap, Vec<u8>)> {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let key =
        HeaderValue::try_from(notification.id.to_string()).map_err(|_| invalid_header("idempotency key"))?;
    headers.insert(HeaderName::from_static(IDEMPOTENCY_KEY), key);
    if let Some(token) = config.token.as_deref().filter(|token| !token.is_empty()) {
        // Never name the token in the error: it would end up in logs.
        let mut bearer =
            HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| invalid_header("token"))?;
        // Keeps the value out of the HTTP stack's own debug output.
        bearer.set_sensitive(true);
        headers.insert(AUTHORIZATION, bearer);
    }
    let body = serde_json::to_vec(&notification.event)
        .map_err(|err| Error::Decode { what: "status update event", reason: err.to_string() })?;
    Ok((headers, body))
}

fn invalid_header(what: &str) -> Error {
    Error::Invalid { what: "webhook config", reason: format!("the {what} is not a valid HTTP header value") }
}

/// At most `limit` bytes of the body. A body announced as longer is not read at all; a longer
/// one without a length is read only up to the limit. Read errors end the read: the status is
/// what counts.
async fn read_limited(mut response: Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    if response.content_length().is_some_and(|len| len > limit as u64) {
        return body;
    }
    while body.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(limit - body.len())]),
            Ok(None) | Err(_) => break,
        }
    }
    body
}

/// The start of a response body for an error message, with the token scrubbed in case the
/// receiver echoed it back, even where the read limit or the cut left only a piece of it.
fn snippet(body: &[u8], token: Option<&str>) -> String {
    let mut text = String::from_utf8_lossy(body).into_owned();
    if let Some(token) = token {
        text = text.replace(token, "***");
    }
    let mut end = text.len().min(SNIPPET_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    if let Some(token) = token {
        let piece =
            (1..token.len()).rev().find(|&n| token.is_char_boundary(n) && text.ends_with(&token[..n]));
        if let Some(piece) = piece {
            text.truncate(text.len() - piece);
        }
    }
    text.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_are_short_and_never_show_the_token() {
        let body = format!("invalid token s3cr3t {}", "x".repeat(1000));
        let text = snippet(body.as_bytes(), Some("s3cr3t"));
        assert!(text.starts_with("invalid token *** xxx"), "{text}");
        assert!(text.len() <= SNIPPET_BYTES);
        assert_eq!(snippet("  é ".as_bytes(), None), "é");
        // The read limit cut the echoed token: its first half is still hidden.
        assert_eq!(snippet(b"bad token s3c", Some("s3cr3t")), "bad token");
        let cut = format!("{}s3cr3", "x".repeat(SNIPPET_BYTES - 5));
        assert_eq!(snippet(cut.as_bytes(), Some("s3cr3t")), "x".repeat(SNIPPET_BYTES - 5));
    }

    #[test]
    fn a_token_that_is_no_header_value_is_refused_without_being_shown() {
        let ledger = Ledger::new(1, 1);
        let task = crate::model::Task {
            id: crate::model::TaskId::new(),
            context_id: crate::model::ContextId::new(),
            status: crate::model::TaskStatus::now(crate::model::TaskState::Working),
            artifacts: Vec::new(),
            history: Vec::new(),
            metadata: crate::model::Metadata::new(),
        };
        let event = TaskStatusUpdateEvent::for_task(&task);
        let notification =
            Notification { id: event.notification_id(), event, _reservation: ledger.reserve().unwrap() };
        let mut config = PushNotificationConfig::new("https://example.org/hook");
        config.token = Some("line\nbreak-s3cr3t".into());
        let err = request_parts(&notification, &config).unwrap_err().to_string();
        assert!(err.contains("token is not a valid HTTP header value") && !err.contains("s3cr3t"), "{err}");
        config.token = Some("s3cr3t".into());
        let (headers, body) = request_parts(&notification, &config).unwrap();
        assert_eq!(headers[AUTHORIZATION], "Bearer s3cr3t");
        assert!(headers[AUTHORIZATION].is_sensitive());
        assert_eq!(headers[IDEMPOTENCY_KEY], notification.id.to_string().as_str());
        assert_eq!(serde_json::from_slice::<TaskStatusUpdateEvent>(&body).unwrap(), notification.event);
    }
}
