//! [`RetryPolicy`]: how many calls, and how long to wait between them.

use std::time::Duration;

use crate::error::{Error, Result};

/// How an operation is retried.
///
/// The wait after failed attempt *n* (counting from 1) follows Bindu's Tenacity setup:
/// `base = clamp(1 s × 2^(n−1), min_wait, max_wait)`; with jitter the wait is drawn uniformly from
/// `[min_wait, base]`, without it is `base`. Every wait therefore lies in `[min_wait, max_wait]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Total calls, the first included (Tenacity's `stop_after_attempt`); at least 1.
    pub max_attempts: u32,
    /// Shortest wait between calls.
    pub min_wait: Duration,
    /// Longest wait between calls.
    pub max_wait: Duration,
    /// Whether waits are randomised (spreads out clients that failed together).
    pub jitter: bool,
    /// The most time one call may spend retrying, from its first failure (waits and later
    /// attempts; an attempt still running at the deadline is cut short). Nested layers share
    /// the shortest. `None`: only the attempts bound it.
    pub deadline: Option<Duration>,
}

impl RetryPolicy {
    /// Bindu's worker policy: 3 attempts, 1–10 s; a 30 s deadline.
    pub const WORKER: Self = Self::new(3, Duration::from_secs(1), Duration::from_secs(10))
        .with_deadline(Some(Duration::from_secs(30)));
    /// Bindu's storage policy: 5 attempts, 0.5–5 s; a 20 s deadline.
    pub const STORAGE: Self = Self::new(5, Duration::from_millis(500), Duration::from_secs(5))
        .with_deadline(Some(Duration::from_secs(20)));
    /// Bindu's scheduler policy: 3 attempts, 1–8 s; a 20 s deadline.
    pub const SCHEDULER: Self = Self::new(3, Duration::from_secs(1), Duration::from_secs(8))
        .with_deadline(Some(Duration::from_secs(20)));
    /// Bindu's policy for calls to external services: 4 attempts, 1–15 s; a 60 s deadline.
    pub const API: Self = Self::new(4, Duration::from_secs(1), Duration::from_secs(15))
        .with_deadline(Some(Duration::from_secs(60)));

    /// A jittered policy without a deadline.
    pub const fn new(max_attempts: u32, min_wait: Duration, max_wait: Duration) -> Self {
        Self { max_attempts, min_wait, max_wait, jitter: true, deadline: None }
    }

    /// The same policy with `deadline` (`None`: none).
    pub const fn with_deadline(mut self, deadline: Option<Duration>) -> Self {
        self.deadline = deadline;
        self
    }

    /// A policy that calls once and never retries.
    pub const fn never() -> Self {
        Self::new(1, Duration::ZERO, Duration::ZERO)
    }

    /// The same policy with jitter on or off.
    pub const fn with_jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// The same policy with `max_attempts` calls in all.
    pub const fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// The same policy waiting between `min_wait` and `max_wait`.
    pub const fn with_waits(mut self, min_wait: Duration, max_wait: Duration) -> Self {
        self.min_wait = min_wait;
        self.max_wait = max_wait;
        self
    }

    /// Checks the invariants (at least one attempt, `min_wait <= max_wait`).
    pub fn validate(&self) -> Result<()> {
        if self.max_attempts == 0 {
            return Err(Error::Invalid {
                what: "retry policy",
                reason: "max_attempts must be at least 1".into(),
            });
        }
        if self.deadline.is_some_and(|deadline| deadline.is_zero()) {
            return Err(Error::Invalid {
                what: "retry policy",
                reason: "a deadline must be above zero (None for no deadline)".into(),
            });
        }
        if self.min_wait > self.max_wait {
            return Err(Error::Invalid {
                what: "retry policy",
                reason: format!("min_wait {:?} is above max_wait {:?}", self.min_wait, self.max_wait),
            });
        }
        Ok(())
    }

    /// The wait after failed attempt `attempt` (1-based) before jitter.
    pub fn base_wait(&self, attempt: u32) -> Duration {
        let exponential = Duration::from_secs(1).saturating_mul(1u32 << attempt.saturating_sub(1).min(31));
        exponential.clamp(self.min_wait, self.max_wait.max(self.min_wait))
    }

    /// The waits between calls, one fewer than `max_attempts`. Building it allocates nothing and
    /// reads no clock; randomness is drawn only when a wait is actually needed.
    pub(crate) fn waits(&self) -> Waits {
        Waits { policy: *self, failed: 0 }
    }
}

/// The iterator of waits that backon drives.
#[derive(Debug)]
pub(crate) struct Waits {
    policy: RetryPolicy,
    failed: u32,
}

impl Iterator for Waits {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.failed += 1;
        if self.failed >= self.policy.max_attempts {
            return None;
        }
        let base = self.policy.base_wait(self.failed);
        if !self.policy.jitter || base <= self.policy.min_wait {
            return Some(base);
        }
        let spread = (base - self.policy.min_wait).as_secs_f64();
        Some(self.policy.min_wait + Duration::from_secs_f64(spread * fastrand::f64()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(waits: impl Iterator<Item = Duration>) -> Vec<f64> {
        waits.map(|d| d.as_secs_f64()).collect()
    }

    #[test]
    fn waits_follow_bindus_schedule() {
        // Tenacity, no jitter: storage waits 1, 2, 4, 5.
        assert_eq!(secs(RetryPolicy::STORAGE.with_jitter(false).waits()), [1.0, 2.0, 4.0, 5.0]);
        assert_eq!(secs(RetryPolicy::WORKER.with_jitter(false).waits()), [1.0, 2.0]);
        assert_eq!(
            secs(
                RetryPolicy::new(3, Duration::from_millis(100), Duration::from_secs(1))
                    .with_jitter(false)
                    .waits()
            ),
            [1.0, 1.0]
        );
        assert!(RetryPolicy::never().waits().next().is_none());
    }

    #[test]
    fn jittered_waits_stay_within_bounds() {
        let policy = RetryPolicy::API;
        for _ in 0..1000 {
            let waits: Vec<_> = policy.waits().collect();
            assert_eq!(waits.len(), 3);
            assert_eq!(waits[0], Duration::from_secs(1), "first wait is min_wait when min_wait = 1 s");
            for (n, wait) in waits.iter().enumerate() {
                assert!(*wait >= policy.min_wait && *wait <= policy.base_wait(n as u32 + 1), "{wait:?}");
            }
        }
    }

    #[test]
    fn huge_attempt_numbers_saturate_at_max_wait() {
        assert_eq!(RetryPolicy::API.base_wait(200), Duration::from_secs(15));
    }

    #[test]
    fn validation_names_the_problem() {
        assert!(RetryPolicy::WORKER.validate().is_ok());
        let err = RetryPolicy::WORKER.with_max_attempts(0).validate().unwrap_err();
        assert!(err.to_string().contains("max_attempts must be at least 1"));
        let err = RetryPolicy::WORKER
            .with_waits(Duration::from_secs(5), Duration::from_secs(1))
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("above max_wait"));
    }
}
