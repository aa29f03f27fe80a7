//! The one reading of a Redis URL, shared by connecting and by [redaction](crate::redact::redis):
//! what is shown is what the redis crate will use.

use std::ops::Range;

use deadpool_redis::redis::{ConnectionInfo, IntoConnectionInfo, RedisResult};

/// What the redis crate connects with for `url`. A password pasted unescaped is escaped first, so
/// that its `/`, `?`, `#` or `@` is not read as the end of the host.
pub(crate) fn connection_info(url: &str) -> RedisResult<ConnectionInfo> {
    escape_userinfo(url).as_str().into_connection_info()
}

/// The byte range of a TCP URL's userinfo (`user:password`, without the `@`), if it has one.
///
/// A Redis password is often pasted unescaped and may hold `/`, `?`, `#` or `@`, so the userinfo
/// runs to the last `@` (Redis URLs carry none in their path or query). Socket URLs
/// (`unix://`, `redis+unix://`) have no userinfo: their credentials are query parameters.
pub(crate) fn userinfo(url: &str) -> Option<Range<usize>> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "redis" | "rediss" | "valkey" | "valkeys") {
        return None;
    }
    let start = scheme.len() + 3;
    Some(start..start + rest.rfind('@')?)
}

/// `url` with its userinfo [escaped](escape) (the redis crate decodes it).
fn escape_userinfo(url: &str) -> String {
    match userinfo(url) {
        Some(range) => format!("{}{}{}", &url[..range.start], escape(&url[range.clone()]), &url[range.end..]),
        None => url.to_owned(),
    }
}

/// `text` with `/`, `?`, `#` and `@` percent-encoded: what a URL parser would take for the end
/// of the userinfo.
pub(crate) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '/' => escaped.push_str("%2F"),
            '?' => escaped.push_str("%3F"),
            '#' => escaped.push_str("%23"),
            '@' => escaped.push_str("%40"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use deadpool_redis::redis::ConnectionAddr;

    use super::*;

    #[test]
    fn passwords_with_url_delimiters_work_escaped_or_not() {
        for password in ["p/w", "p?w", "p#w", "p@w", "a/b?c#d@e"] {
            for url in [
                format!("redis://user:{password}@cache:6380/2"),
                format!("redis://user:{}@cache:6380/2", escape(password)),
            ] {
                let info = connection_info(&url).unwrap();
                let settings = info.redis_settings();
                assert_eq!(info.addr(), &ConnectionAddr::Tcp("cache".into(), 6380), "{password}");
                assert_eq!((settings.db(), settings.username()), (2, Some("user")));
                assert_eq!(settings.password(), Some(password), "{url}");
            }
        }
    }

    #[test]
    fn socket_urls_keep_their_query() {
        assert_eq!(userinfo("unix:///tmp/r.sock?pass=a@b"), None);
        assert_eq!(userinfo("redis+unix:///tmp/r.sock?pass=a@b"), None);
        let info = connection_info("redis+unix:///tmp/r.sock?db=3&pass=a@b").unwrap();
        assert_eq!(info.redis_settings().password(), Some("a@b"));
        assert_eq!(info.redis_settings().db(), 3);
    }
}
