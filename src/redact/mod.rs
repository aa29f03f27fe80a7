//! Hiding secrets before anything is logged, displayed or debug-printed.
//!
//! A connection URL is never shown as written: [`postgres`] and [`redis`] parse it the way the
//! driver does when connecting, and show what that parse found — scheme, user, hosts, ports,
//! database — with any password as `***`. So a password is hidden wherever the driver finds it
//! (percent-encoded or not, holding `/`, `?`, `#` or `@`, in the userinfo or a query parameter,
//! quoted in a key=value string). A value the driver cannot parse, or whose parse may have taken
//! a piece of a secret for a host or user, is hidden whole but for its scheme.

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;

#[cfg(feature = "postgres")]
pub(crate) use postgres::parse_error as postgres_parse_error;

/// A PostgreSQL URL (`postgres://`, `postgresql://`) or key=value connection string, as
/// tokio-postgres reads it, with the password replaced by `***`.
///
/// ```
/// # #[cfg(feature = "postgres")] {
/// assert_eq!(bindu::redact::postgres("postgres://u:s3/cr?t@db/app"), "postgres://u:***@db:5432/app");
/// assert_eq!(bindu::redact::postgres("host=db password='a b'"), "host=db password=***");
/// # }
/// ```
pub fn postgres(value: &str) -> String {
    #[cfg(feature = "postgres")]
    if let Some(shown) = postgres::render(value) {
        return shown;
    }
    hidden(value)
}

/// A Redis URL (`redis://`, `rediss://`, `unix://`, `redis+unix://`), as the redis backends read
/// it, with the password replaced by `***`.
///
/// ```
/// # #[cfg(feature = "redis")]
/// assert_eq!(bindu::redact::redis("redis://:p/w@cache/2"), "redis://:***@cache:6379/2");
/// ```
pub fn redis(value: &str) -> String {
    #[cfg(feature = "redis")]
    if let Some(shown) = redis::render(value) {
        return shown;
    }
    hidden(value)
}

/// Only the scheme of `value` (`postgres://***`), or `***`: what is left of a value that could
/// not be parsed, where anything might be a credential.
pub fn hidden(value: &str) -> String {
    match value.split_once("://") {
        Some((scheme, _))
            if !scheme.is_empty()
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
        {
            format!("{scheme}://***")
        }
        _ => "***".to_owned(),
    }
}

/// Whether what a driver took for a URL's `user:password` may instead hold a piece of its path or
/// query — `postgres://h/db?password=a@b` reads as user `h/db?password=a` at host `b` — so that
/// the "host" may be a piece of a secret. A user name holding a URL delimiter must have been
/// escaped; a query inside the userinfo gives itself away by a `?` before an `=`.
#[cfg_attr(not(any(feature = "postgres", feature = "redis")), allow(dead_code))]
fn ambiguous_userinfo(userinfo: &str) -> bool {
    let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
    user.contains(['/', '?', '#', '=', '&'])
        || userinfo.find('?').is_some_and(|question| userinfo[question..].contains('='))
}

/// Whether `shown` still holds `password` (or its percent-encoding): then the parse was not what
/// it seemed, and nothing but the scheme may be shown.
#[cfg_attr(not(any(feature = "postgres", feature = "redis")), allow(dead_code))]
fn shows(shown: &str, password: Option<&[u8]>) -> bool {
    match password {
        Some(password) if !password.is_empty() => {
            let plain = String::from_utf8_lossy(password);
            shown.contains(plain.as_ref()) || shown.contains(&encode(&plain))
        }
        _ => false,
    }
}

/// `text` percent-encoded but for RFC 3986's unreserved characters: safe anywhere in a URL.
#[cfg_attr(not(any(feature = "postgres", feature = "redis")), allow(dead_code))]
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Only `scheme://host[:port]/…` of `url`: webhook paths and queries often carry secrets.
pub fn origin(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return "<not a URL>".to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let tail = if rest.len() > authority.len() { "/…" } else { "" };
    format!("{}://{host}{tail}", &url[..scheme_end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_keep_only_scheme_and_host() {
        assert_eq!(origin("https://u:p@hooks.example:8443/t/s3cret?sig=x"), "https://hooks.example:8443/…");
        assert_eq!(origin("http://h"), "http://h");
        assert_eq!(origin("nonsense"), "<not a URL>");
    }

    #[test]
    fn what_cannot_be_parsed_keeps_only_its_scheme() {
        assert_eq!(hidden("mysql://u:pw@h/db"), "mysql://***");
        assert_eq!(hidden("host=h password=pw"), "***");
        assert_eq!(hidden("pw://x"), "pw://***");
        assert_eq!(hidden("a b://pw"), "***");
    }

    #[test]
    fn queries_inside_a_userinfo_are_ambiguous() {
        for ambiguous in ["h/db?password=a", "h:5432/db?password=a", "u?x=1:p", "a=b"] {
            assert!(ambiguous_userinfo(ambiguous), "{ambiguous}");
        }
        for plain in ["u:p/w?x#y", "u:a=b", "u", ":p?", "user%2Fname:pw"] {
            assert!(!ambiguous_userinfo(plain), "{plain}");
        }
    }

    #[test]
    fn encodes_all_but_unreserved() {
        assert_eq!(encode("a/b?c#d@e f~"), "a%2Fb%3Fc%23d%40e%20f~");
    }
}
