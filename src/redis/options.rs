//! [`RedisOptions`]: where the scheduler's Redis is, how its keys are named, and its timing.

use std::fmt;
use std::time::Duration;

use redis::IntoConnectionInfo;

use crate::error::{Error, Result};
use crate::redact;

/// Configuration of a [`RedisScheduler`](super::RedisScheduler). Start from
/// [`RedisOptions::from_url`] and change what you need; `Debug` hides the password.
///
/// Timing: an operation whose receiver died is delivered again `min_idle` after its delivery,
/// give or take one `claim_interval`. Keep `min_idle` well above the worker's heartbeat (which
/// calls [`Delivery::keep_alive`](crate::Delivery::keep_alive)).
#[derive(Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// `redis://[user:password@]host[:port][/db]`, `rediss://…` or `unix://…`.
    pub url: String,
    /// Namespace of every key (`REDIS_KEY_PREFIX`): agents with different prefixes never see
    /// each other's operations. No `{` or `}` (the keys use it as a Redis Cluster hash tag).
    pub prefix: String,
    /// The consumer group all receivers of this prefix share.
    pub group: String,
    /// Base of the consumer names; each receiver appends a random suffix, so names are unique per
    /// receiver. Defaults to `<hostname>-<pid>`, which tells an operator whose entries are pending.
    pub consumer: String,
    /// How long one blocking read waits for new operations.
    pub block_time: Duration,
    /// How long a delivery may go unacknowledged (and without keep-alive) before another receiver
    /// may take it over.
    pub min_idle: Duration,
    /// How often each receiver looks for deliveries idle longer than `min_idle`.
    pub claim_interval: Duration,
    /// Deliveries after which an unacknowledged operation is dead-lettered instead.
    pub max_deliveries: u32,
    /// How long an operation id is remembered, from its enqueue, to drop duplicate enqueues. An
    /// id enqueued again later is delivered again.
    pub dedup_ttl: Duration,
    /// Approximate cap (`XADD MAXLEN ~`) of the operation stream. Acknowledged operations are
    /// deleted, so the stream only holds unfinished work and `None` (the default) loses nothing;
    /// a cap drops the oldest operations, delivered or not, once the backlog passes it.
    pub max_stream_len: Option<u64>,
    /// Approximate cap of the dead-letter stream (oldest dropped first); `None`: unbounded.
    pub max_dead_letters: Option<u64>,
    /// Consumers idle this long with nothing pending are removed from the group (each receiver
    /// has its own name, so they would otherwise pile up). A consumer with pending entries is
    /// never removed.
    pub forget_consumers_after: Duration,
    /// Pooled connections for enqueues, acknowledgements and keep-alives.
    pub pool_size: usize,
    /// Connecting (TCP and handshake) may take this long.
    pub connect_timeout: Duration,
    /// One command may take this long (a blocking read: `block_time` more).
    pub response_timeout: Duration,
    /// Waiting for a free pooled connection may take this long.
    pub pool_wait_timeout: Duration,
    /// First wait before a receiver reconnects; doubles (with jitter) on each failure.
    pub reconnect_min_delay: Duration,
    /// Longest wait between reconnection attempts.
    pub reconnect_max_delay: Duration,
}

impl RedisOptions {
    /// The defaults for `url`: prefix `bindu`, group `workers`, 2 s blocking reads, redelivery
    /// after 30 s idle (swept every 5 s), 5 deliveries, a 24 h dedup window, no stream cap,
    /// 10 000 dead letters, 10 pooled connections.
    ///
    /// # Errors
    /// [`Error::Config`] naming `REDIS_URL` if `url` is not a Redis URL (the message hides the
    /// password).
    pub fn from_url(url: &str) -> Result<Self> {
        if let Err(err) = url.into_connection_info() {
            return Err(Error::config(
                "REDIS_URL",
                format!("{:?} is not a usable Redis URL: {err}", redact::url(url)),
            ));
        }
        Ok(Self {
            url: url.to_owned(),
            prefix: "bindu".to_owned(),
            group: "workers".to_owned(),
            consumer: default_consumer(),
            block_time: Duration::from_secs(2),
            min_idle: Duration::from_secs(30),
            claim_interval: Duration::from_secs(5),
            max_deliveries: 5,
            dedup_ttl: Duration::from_secs(24 * 60 * 60),
            max_stream_len: None,
            max_dead_letters: Some(10_000),
            forget_consumers_after: Duration::from_secs(60 * 60),
            pool_size: 10,
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(3),
            pool_wait_timeout: Duration::from_secs(3),
            reconnect_min_delay: Duration::from_millis(100),
            reconnect_max_delay: Duration::from_secs(5),
        })
    }

    /// The same options under `prefix`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Checks that the options can work: names non-empty, durations and counts positive.
    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Err(Error::Invalid { what: "redis options", reason });
        if self.prefix.is_empty() || self.prefix.contains(['{', '}']) {
            return invalid(format!("prefix {:?} must be non-empty and free of braces", self.prefix));
        }
        if self.group.is_empty() || self.consumer.is_empty() {
            return invalid("group and consumer names must be non-empty".into());
        }
        let durations = [
            ("block_time", self.block_time),
            ("min_idle", self.min_idle),
            ("claim_interval", self.claim_interval),
            ("dedup_ttl", self.dedup_ttl),
            ("connect_timeout", self.connect_timeout),
            ("response_timeout", self.response_timeout),
            ("pool_wait_timeout", self.pool_wait_timeout),
            ("reconnect_min_delay", self.reconnect_min_delay),
            ("reconnect_max_delay", self.reconnect_max_delay),
        ];
        // Redis counts these in whole milliseconds, and 0 would mean "forever" or "no wait".
        if let Some((name, _)) = durations.iter().find(|(_, value)| value.as_millis() == 0) {
            return invalid(format!("{name} must be at least 1 ms"));
        }
        if self.reconnect_min_delay > self.reconnect_max_delay {
            return invalid("reconnect_min_delay is above reconnect_max_delay".into());
        }
        if self.max_deliveries == 0 || self.pool_size == 0 {
            return invalid("max_deliveries and pool_size must be at least 1".into());
        }
        if self.max_stream_len == Some(0) || self.max_dead_letters == Some(0) {
            return invalid("stream caps must be at least 1 (use None for no cap)".into());
        }
        Ok(())
    }

    /// The URL with its password replaced by `***`, for logs and errors.
    pub fn redacted_url(&self) -> String {
        redact::url(&self.url)
    }
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &self.redacted_url())
            .field("prefix", &self.prefix)
            .field("group", &self.group)
            .field("consumer", &self.consumer)
            .field("block_time", &self.block_time)
            .field("min_idle", &self.min_idle)
            .field("claim_interval", &self.claim_interval)
            .field("max_deliveries", &self.max_deliveries)
            .field("dedup_ttl", &self.dedup_ttl)
            .field("max_stream_len", &self.max_stream_len)
            .field("max_dead_letters", &self.max_dead_letters)
            .field("forget_consumers_after", &self.forget_consumers_after)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("pool_wait_timeout", &self.pool_wait_timeout)
            .field("reconnect_min_delay", &self.reconnect_min_delay)
            .field("reconnect_max_delay", &self.reconnect_max_delay)
            .finish()
    }
}

/// `<hostname>-<pid>`: enough for an operator to find the process behind a pending entry.
fn default_consumer() -> String {
    let host = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    format!("{host}-{}", std::process::id())
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
        assert!(text.starts_with("REDIS_URL: \"redis://:***@cache:notaport/0\" is not a usable"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn defaults_are_valid_and_mistakes_are_named() {
        let options = RedisOptions::from_url("redis://127.0.0.1/").unwrap();
        options.validate().unwrap();
        assert!(options.consumer.ends_with(&format!("-{}", std::process::id())));
        let cases = [
            (options.clone().with_prefix("a{b}"), "free of braces"),
            (RedisOptions { block_time: Duration::from_micros(10), ..options.clone() }, "block_time must be"),
            (RedisOptions { max_deliveries: 0, ..options.clone() }, "max_deliveries"),
            (RedisOptions { max_stream_len: Some(0), ..options.clone() }, "stream caps"),
            (RedisOptions { reconnect_min_delay: Duration::from_secs(60), ..options }, "reconnect_min_delay"),
        ];
        for (options, expected) in cases {
            let err = options.validate().unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
