//! Hiding secrets before anything is logged, displayed or debug-printed.

/// `url` with any password replaced by `***`: the `user:password@` part of the authority and
/// `password=` / `token=` query parameters. Text that is not a URL is returned as is.
pub fn url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_len = authority_len(url, rest);
    let authority = &rest[..authority_len];
    let mut out = String::with_capacity(url.len());
    out.push_str(&url[..authority_start]);
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(colon) => {
                    out.push_str(&userinfo[..colon]);
                    out.push_str(":***");
                }
                // redis://secret@host puts the password where the user would be.
                None if is_redis(url) => out.push_str("***"),
                None => out.push_str(userinfo),
            }
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    out.push_str(&redact_query(&rest[authority_len..]));
    out
}

/// The byte range of `url`'s userinfo (`user:password`, without the `@`), if it has one.
pub(crate) fn userinfo(url: &str) -> Option<std::ops::Range<usize>> {
    let start = url.find("://")? + 3;
    let rest = &url[start..];
    let at = rest[..authority_len(url, rest)].rfind('@')?;
    Some(start..start + at)
}

/// The length of the authority at the start of `rest` (what follows `scheme://` in `url`).
///
/// A Redis password is often pasted unescaped, and may hold `/`, `?`, `#` or `@`: a Redis URL's
/// userinfo runs to its last `@` (Redis URLs carry none in their path or query). Other URLs end
/// the authority at the first `/`, `?` or `#`, as RFC 3986 says.
fn authority_len(url: &str, rest: &str) -> usize {
    let plain = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest.rfind('@') {
        Some(at) if is_redis(url) => at + rest[at..].find(['/', '?', '#']).unwrap_or(rest.len() - at),
        _ => plain,
    }
}

fn is_redis(url: &str) -> bool {
    url.starts_with("redis") || url.starts_with("valkey")
}

fn redact_query(tail: &str) -> String {
    let Some(q) = tail.find('?') else {
        return tail.to_owned();
    };
    let (path, query) = tail.split_at(q + 1);
    let (query, fragment) = query.split_at(query.find('#').unwrap_or(query.len()));
    let params: Vec<String> = query
        .split('&')
        .map(|param| match param.split_once('=') {
            Some((key, _)) if is_secret_key(key) => format!("{key}=***"),
            _ => param.to_owned(),
        })
        .collect();
    format!("{path}{}{fragment}", params.join("&"))
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "passwd", "pass", "token", "secret", "sslpassword"].contains(&key.as_str())
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
    use super::{origin, url};

    #[test]
    fn origins_keep_only_scheme_and_host() {
        assert_eq!(origin("https://u:p@hooks.example:8443/t/s3cret?sig=x"), "https://hooks.example:8443/…");
        assert_eq!(origin("http://h"), "http://h");
        assert_eq!(origin("nonsense"), "<not a URL>");
    }

    #[test]
    fn hides_passwords() {
        assert_eq!(url("postgres://bindu:hunter2@db:5432/app"), "postgres://bindu:***@db:5432/app");
        assert_eq!(url("redis://:hunter2@127.0.0.1:6379/0"), "redis://:***@127.0.0.1:6379/0");
        assert_eq!(url("redis://hunter2@127.0.0.1/0"), "redis://***@127.0.0.1/0");
        assert_eq!(url("rediss://default:p%40ss@h"), "rediss://default:***@h");
        assert_eq!(
            url("postgresql://u@h/db?password=hunter2&sslmode=require"),
            "postgresql://u@h/db?password=***&sslmode=require"
        );
        assert_eq!(url("https://h/x?token=abc#frag"), "https://h/x?token=***#frag");
    }

    #[test]
    fn hides_redis_passwords_holding_url_delimiters() {
        for password in ["a/b", "a?b", "a#b", "/?#@", "x@y/z"] {
            let raw = format!("redis://default:{password}@cache:6379/0?protocol=resp3");
            assert_eq!(url(&raw), "redis://default:***@cache:6379/0?protocol=resp3", "{password}");
            let range = super::userinfo(&raw).unwrap();
            assert_eq!(&raw[range], format!("default:{password}"));
        }
        assert_eq!(url("redis://:p/w@h"), "redis://:***@h");
        assert_eq!(super::userinfo("redis://h:6379/0"), None);
    }

    #[test]
    fn leaves_the_rest_alone() {
        assert_eq!(url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(url("host=h user=u"), "host=h user=u");
        assert_eq!(url("https://example.org/a@b"), "https://example.org/a@b");
    }
}
