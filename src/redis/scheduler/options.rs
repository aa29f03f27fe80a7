//! [`RedisSchedulerOptions`]: the consumer group, delivery timing and limits of a
//! [`RedisScheduler`](super::RedisScheduler).

use std::fmt;
use std::time::Duration;

use crate::error::Result;
use crate::redis::RedisOptions;
use crate::redis::options::{check_millis, invalid};

/// How a [`RedisScheduler`](super::RedisScheduler) runs. Start from
/// [`RedisSchedulerOptions::from_url`] (or [`new`](Self::new) on shared [`RedisOptions`]) and
/// change what you need; `Debug` hides the password.
///
/// Timing: an operation whose receiver died is delivered again `min_idle` after its delivery,
/// give or take one `claim_interval`. Keep `min_idle` well above the worker's heartbeat (which
/// calls [`Delivery::keep_alive`](crate::Delivery::keep_alive)).
#[derive(Clone, PartialEq, Eq)]
pub struct RedisSchedulerOptions {
    /// Where the streams live (under `redis.prefix`), pool and timeouts.
    pub redis: RedisOptions,
    /// The consumer group all receivers of this prefix share.
    pub group: String,
    /// Base of the consumer names; each receiver appends a random suffix, so names are unique per
    /// receiver. Defaults to `<hostname>-<pid>`, which tells an operator whose entries are pending.
    pub consumer: String,
    /// How long one blocking read waits for new operations.
    pub block_time: Duration,
    /// How long a delivery may go unsettled (and without keep-alive) before another receiver may
    /// take it over; also the longest delay of a [release](crate::Delivery::release).
    pub min_idle: Duration,
    /// How often each receiver looks for deliveries idle longer than `min_idle`.
    pub claim_interval: Duration,
    /// Deliveries after which an unsettled operation is delivered once more flagged
    /// [`over_limit`](crate::Delivery::over_limit), then dead-lettered.
    pub max_deliveries: u32,
    /// How long an operation id is remembered, from its enqueue, to drop duplicate enqueues. An
    /// id enqueued again later is delivered again.
    pub dedup_ttl: Duration,
    /// Approximate cap (`XADD MAXLEN ~`) of each operation stream. Settled operations are
    /// deleted, so the streams only hold unfinished work and `None` (the default) loses nothing;
    /// a cap drops the oldest operations, delivered or not, once the backlog passes it.
    pub max_stream_len: Option<u64>,
    /// Approximate cap of the dead-letter stream (oldest dropped first); `None`: unbounded.
    pub max_dead_letters: Option<u64>,
    /// Consumers idle this long with nothing pending are removed from the group (each receiver
    /// has its own name, so they would otherwise pile up). A consumer with pending entries is
    /// never removed.
    pub forget_consumers_after: Duration,
    /// First wait before a receiver reconnects; grows (with jitter) on each failure.
    pub reconnect_min_delay: Duration,
    /// Longest wait between reconnection attempts.
    pub reconnect_max_delay: Duration,
}

impl RedisSchedulerOptions {
    /// The defaults for `url` (see [`RedisOptions::from_url`] and [`new`](Self::new)).
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) naming `REDIS_URL` if `url` is not a Redis URL.
    pub fn from_url(url: &str) -> Result<Self> {
        Ok(Self::new(RedisOptions::from_url(url)?))
    }

    /// The defaults on top of `redis`: group `workers`, 2 s blocking reads, redelivery after 30 s
    /// idle (swept every 5 s), 5 deliveries, a 24 h dedup window, no stream cap, 10 000 dead
    /// letters.
    pub fn new(redis: RedisOptions) -> Self {
        Self {
            redis,
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
            reconnect_min_delay: Duration::from_millis(100),
            reconnect_max_delay: Duration::from_secs(5),
        }
    }

    /// Checks that the options can work: names non-empty, durations and counts positive.
    pub fn validate(&self) -> Result<()> {
        self.redis.validate()?;
        if self.group.is_empty() || self.consumer.is_empty() {
            return Err(invalid("group and consumer names must be non-empty".into()));
        }
        check_millis(&[
            ("block_time", self.block_time),
            ("min_idle", self.min_idle),
            ("claim_interval", self.claim_interval),
            ("dedup_ttl", self.dedup_ttl),
            ("reconnect_min_delay", self.reconnect_min_delay),
            ("reconnect_max_delay", self.reconnect_max_delay),
        ])?;
        if self.reconnect_min_delay > self.reconnect_max_delay {
            return Err(invalid("reconnect_min_delay is above reconnect_max_delay".into()));
        }
        if self.max_deliveries == 0 {
            return Err(invalid("max_deliveries must be at least 1".into()));
        }
        if self.max_stream_len == Some(0) || self.max_dead_letters == Some(0) {
            return Err(invalid("stream caps must be at least 1 (use None for no cap)".into()));
        }
        Ok(())
    }
}

impl fmt::Debug for RedisSchedulerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSchedulerOptions")
            .field("redis", &self.redis)
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
    fn debug_hides_the_password() {
        let options = RedisSchedulerOptions::from_url("redis://default:hunter2@cache:6379/0").unwrap();
        let debug = format!("{options:?}");
        assert!(debug.contains("redis://default:***@cache:6379/0"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn defaults_are_valid_and_mistakes_are_named() {
        let options = RedisSchedulerOptions::from_url("redis://127.0.0.1/").unwrap();
        options.validate().unwrap();
        assert!(options.consumer.ends_with(&format!("-{}", std::process::id())));
        let cases = [
            (
                RedisSchedulerOptions { redis: options.redis.clone().with_prefix("a{b}"), ..options.clone() },
                "no braces",
            ),
            (
                RedisSchedulerOptions { block_time: Duration::from_micros(10), ..options.clone() },
                "block_time must be",
            ),
            (RedisSchedulerOptions { max_deliveries: 0, ..options.clone() }, "max_deliveries"),
            (RedisSchedulerOptions { max_stream_len: Some(0), ..options.clone() }, "stream caps"),
            (
                RedisSchedulerOptions { reconnect_min_delay: Duration::from_secs(60), ..options },
                "reconnect_min_delay",
            ),
        ];
        for (options, expected) in cases {
            let err = options.validate().unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
