//! [`RedisOptions`]: where a Redis is, how keys are named, and how long to wait for it — shared
//! by [`RedisStorage`](super::RedisStorage) and [`RedisScheduler`](super::RedisScheduler).

use std::fmt;
use std::time::Duration;

use deadpool_redis::redis::ConnectionInfo;

use crate::error::{Error, Result};
use crate::model::InputLimits;
use crate::redact;
use crate::settings::names::check_prefix;

/// Where a Redis backend connects and how long it waits. Start from [`RedisOptions::from_url`] and
/// change what you need; `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// `redis://[user:password@]host[:port][/db]`, `rediss://…` or `unix://…`. The password may
    /// be percent-encoded or not: one holding `/`, `?`, `#` or `@` works either way.
    pub url: String,
    /// Namespace of every key (`REDIS_KEY_PREFIX`): agents with different prefixes never see
    /// each other's data. No `{` or `}` (the keys use it as a Redis Cluster hash tag).
    pub prefix: String,
    /// Pooled connections at most.
    pub pool_size: usize,
    /// Connecting (TCP and handshake) may take this long.
    pub connect_timeout: Duration,
    /// One command may take this long.
    pub response_timeout: Duration,
    /// Waiting for a free pooled connection may take this long.
    pub pool_wait_timeout: Duration,
    /// What the storage accepts (the same rule on every backend).
    pub limits: InputLimits,
}

impl RedisOptions {
    /// The defaults for `url`: prefix `bindu`, 10 pooled connections, 2 s to connect, 3 s per
    /// command and per pool wait.
    ///
    /// # Errors
    /// [`Error::Config`] naming `REDIS_URL` if `url` is not a Redis URL (the message hides the
    /// password).
    pub fn from_url(url: &str) -> Result<Self> {
        let options = Self {
            url: url.to_owned(),
            prefix: "bindu".to_owned(),
            pool_size: 10,
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(3),
            pool_wait_timeout: Duration::from_secs(3),
            limits: InputLimits::default(),
        };
        options.connection_info()?;
        Ok(options)
    }

    /// The same options under `prefix`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Checks that the options can work: a usable prefix (1 to 64 bytes, no braces, whitespace
    /// or control characters), a pool, non-zero timeouts.
    pub fn validate(&self) -> Result<()> {
        check_prefix(&self.prefix).map_err(|reason| invalid(format!("prefix {reason}")))?;
        if self.pool_size == 0 {
            return Err(invalid("pool_size must be at least 1".into()));
        }
        check_millis(&[
            ("connect_timeout", self.connect_timeout),
            ("response_timeout", self.response_timeout),
            ("pool_wait_timeout", self.pool_wait_timeout),
        ])
    }

    /// The URL as the backends read it, with its password replaced by `***` (see
    /// [`redact::redis`]), for logs and errors.
    pub fn redacted_url(&self) -> String {
        redact::redis(&self.url)
    }

    /// What the redis crate connects with. A password pasted unescaped is escaped first, so that
    /// its `/`, `?`, `#` or `@` is not read as the end of the host.
    pub(crate) fn connection_info(&self) -> Result<ConnectionInfo> {
        super::url::connection_info(&self.url).map_err(|err| {
            // The redis crate's parse errors do not quote the URL; ours shows it redacted.
            Error::config("REDIS_URL", format!("{:?} is not a usable Redis URL: {err}", self.redacted_url()))
        })
    }
}

/// `Error::Invalid` about the Redis options.
pub(crate) fn invalid(reason: String) -> Error {
    Error::Invalid { what: "redis options", reason }
}

/// Fails naming the first duration under 1 ms: Redis counts them in whole milliseconds, and 0
/// would mean "forever" or "no wait".
pub(crate) fn check_millis(durations: &[(&str, Duration)]) -> Result<()> {
    match durations.iter().find(|(_, value)| value.as_millis() == 0) {
        Some((name, _)) => Err(invalid(format!("{name} must be at least 1 ms"))),
        None => Ok(()),
    }
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &self.redacted_url())
            .field("prefix", &self.prefix)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("pool_wait_timeout", &self.pool_wait_timeout)
            .field("limits", &self.limits)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_errors_hide_the_password() {
        let options = RedisOptions::from_url("redis://default:hunter2@cache:6379/0").unwrap();
        let debug = format!("{options:?}");
        assert!(debug.contains("redis://default:***@cache:6379/0"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
        let err = RedisOptions::from_url("redis://:hunter2@cache:notaport/0").unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(text.starts_with("REDIS_URL: \"redis://***\" is not a usable"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn a_url_that_does_not_parse_is_not_quoted() {
        let err = RedisOptions::from_url("redis://:se/cr?et#x@cache:port/0").unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("se/cr") && !text.contains("cr?et") && !text.contains("et#x"), "{text}");
    }

    #[test]
    fn defaults_are_valid_and_mistakes_are_named() {
        let options = RedisOptions::from_url("redis://127.0.0.1/").unwrap();
        options.validate().unwrap();
        let cases = [
            (options.clone().with_prefix("a{b}"), "no braces"),
            (options.clone().with_prefix("a b"), "no whitespace"),
            (RedisOptions { pool_size: 0, ..options.clone() }, "pool_size"),
            (
                RedisOptions { response_timeout: Duration::from_micros(10), ..options },
                "response_timeout must be",
            ),
        ];
        for (options, expected) in cases {
            let err = options.validate().unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
