//! [`Backoff`]: the jittered, growing wait of background loops (reconnecting receivers, a worker
//! reopening its streams, a result held across an outage).

use std::time::Duration;

/// Waits that double from `min` up to `max`, each drawn uniformly from `[min, that bound]`, so
/// that loops which lost the same server do not come back in lockstep.
///
/// Unlike [`RetryPolicy`](super::RetryPolicy) (Bindu's Tenacity schedule, bounded attempts) it
/// never gives up: it is for loops that must go on until they succeed or are stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait, and the least any wait is.
    pub min: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Backoff {
    /// Waits from `min` up to `max`.
    pub const fn new(min: Duration, max: Duration) -> Self {
        Self { min, max }
    }

    /// The wait after `failures` failures in a row (from 1; 0 is treated as 1): drawn from
    /// `[min, min × 2^(failures−1)]`, capped at `max`.
    pub fn wait(&self, failures: u32) -> Duration {
        let min = self.min.min(self.max);
        let bound = min.saturating_mul(1 << failures.saturating_sub(1).min(30)).min(self.max).max(min);
        min + (bound - min).mul_f64(fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_with_jitter_up_to_the_cap_and_honour_the_minimum() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        assert_eq!(backoff.wait(1), Duration::from_millis(100));
        assert_eq!(backoff.wait(0), Duration::from_millis(100));
        for failures in 1..40 {
            for _ in 0..100 {
                let wait = backoff.wait(failures);
                let bound = (backoff.min * (1 << (failures - 1).min(20))).min(backoff.max);
                assert!(wait >= backoff.min && wait <= bound, "{failures}: {wait:?}");
            }
        }
        let late: Vec<Duration> = (0..100).map(|_| backoff.wait(30)).collect();
        assert!(late.iter().any(|wait| *wait > backoff.max / 2), "jitter reaches up to the cap");
        assert!(late.iter().collect::<std::collections::HashSet<_>>().len() > 50, "jittered");
    }
}
