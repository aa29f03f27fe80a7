//! Redis URLs shown from the redis crate's own parse (as the backends read them).

use std::fmt::Write;

use deadpool_redis::redis::{ConnectionAddr, ProtocolVersion};

use crate::redis::url::{connection_info, userinfo};

/// What the redis backends read from `value`, without the password; `None` when it cannot be
/// read, or its reading may have put a piece of a secret where a host or user goes.
pub(super) fn render(value: &str) -> Option<String> {
    let (scheme, rest) = value.split_once("://")?;
    // Built without TLS, the redis crate refuses `rediss://`; read as `redis://` it names the
    // same server and credentials.
    let plain = match scheme {
        "rediss" => "redis",
        "valkeys" => "valkey",
        other => other,
    };
    let info = connection_info(&format!("{plain}://{rest}")).ok()?;
    if userinfo(value).is_some_and(|range| super::ambiguous_userinfo(&value[range])) {
        return None;
    }
    let settings = info.redis_settings();
    let password = settings.password().map(str::as_bytes);
    let mut shown = format!("{scheme}://");
    match info.addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            match (settings.username(), password) {
                (user, Some(_)) => {
                    let _ = write!(shown, "{}:***@", user.map(super::encode).unwrap_or_default());
                }
                // `redis://secret@host` reads as a user name, though a password is what was meant.
                (Some(_), None) => shown.push_str("***@"),
                (None, None) => {}
            }
            let host = if host.contains(':') { format!("[{host}]") } else { super::encode(host) };
            let _ = write!(shown, "{host}:{port}/{}", settings.db());
            if settings.protocol() == ProtocolVersion::RESP3 {
                shown.push_str("?protocol=resp3");
            }
        }
        ConnectionAddr::Unix(path) => {
            let _ = write!(shown, "{}?db={}", path.display(), settings.db());
            if let Some(user) = settings.username() {
                let _ = write!(shown, "&user={}", super::encode(user));
            }
            if password.is_some() {
                shown.push_str("&pass=***");
            }
        }
        _ => return None,
    }
    (!super::shows(&shown, password)).then_some(shown)
}

#[cfg(test)]
mod tests {
    use super::super::redis as shown;

    /// Every form the redis backends read, with what is shown for it.
    #[test]
    fn every_form_is_shown_from_the_driver_s_parse() {
        let table = [
            ("redis://:Pw7q@cache:6380/2", "redis://:***@cache:6380/2"),
            ("redis://default:Pw7q@cache", "redis://default:***@cache:6379/0"),
            ("rediss://default:Pw7q@cache:6390/1", "rediss://default:***@cache:6390/1"),
            ("redis://:Pw%2F7%3Fq%23%40@cache", "redis://:***@cache:6379/0"),
            // Raw URL delimiters: the backends read the userinfo up to the last `@`.
            ("redis://:Pw/7?q#x@y@cache/3", "redis://:***@cache:6379/3"),
            ("redis://Pw7q@cache", "redis://***@cache:6379/0"),
            ("redis://:Pw7q@[::1]:6379/0?protocol=resp3", "redis://:***@[::1]:6379/0?protocol=resp3"),
            ("redis://cache/0?password=Pw7q", "redis://cache:6379/0"),
            ("unix:///run/redis.sock?db=2&pass=Pw7q", "unix:///run/redis.sock?db=2&pass=***"),
            (
                "redis+unix:///run/redis.sock?user=u&pass=Pw%2F7q",
                "redis+unix:///run/redis.sock?db=0&user=u&pass=***",
            ),
            ("valkey://:Pw7q@cache", "valkey://:***@cache:6379/0"),
        ];
        for (value, expected) in table {
            assert_eq!(shown(value), expected, "{value}");
        }
    }

    #[test]
    fn doubtful_values_are_hidden_whole() {
        let table = [
            // An `@` in a query value: the backends would take `cache/0?password=Pw` for a user.
            ("redis://cache/0?password=Pw@7q", "redis://***"),
            ("redis://:x@cache/0?password=Pw@7q", "redis://***"),
            ("redis://:Pw7q@cache:port/0", "redis://***"),
            ("redis://:Pw7q@cache/zero", "redis://***"),
            ("http://:Pw7q@cache", "http://***"),
            ("redis://:cache@cache", "redis://***"),
        ];
        for (value, expected) in table {
            assert_eq!(shown(value), expected, "{value}");
        }
    }
}
