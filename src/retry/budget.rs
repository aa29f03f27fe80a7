//! [`RetryBudget`]: retries of one backend draw from a bucket that successes refill, so that a
//! fleet of callers cannot multiply the load on a backend that is already failing.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, Result};

/// A token bucket for retries (the scheme of Finagle's retry budgets and gRPC's retry
/// throttling). Every success deposits `ratio` of a token, every retry takes one; with less than
/// one token left a retryable failure is returned at once. The bucket holds at most `capacity`
/// tokens, and refills by itself at `floor_per_second` (up to `floor` tokens), so a quiet process
/// can still retry now and then.
///
/// So during an outage each logical call costs about one backend call (plus what the bucket
/// held), instead of `max_attempts`. Shared by every clone of the [`Retrying`](super::Retrying)
/// it is given to. A success costs one atomic add; the clock is read on the retry path only.
#[derive(Debug)]
pub struct RetryBudget {
    options: BudgetOptions,
    /// What one success deposits, in thousandths of a token.
    per_success: i64,
    /// Thousandths of a token; may run past the capacity (it is capped when read).
    balance: AtomicI64,
    /// When the floor last refilled the bucket: nanoseconds since `epoch`.
    refilled: AtomicU64,
    epoch: Instant,
}

/// How a [`RetryBudget`] fills and drains.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetOptions {
    /// Tokens a success deposits: retries may add at most this fraction to the calls that
    /// succeed.
    pub ratio: f64,
    /// Tokens the bucket holds at most (and starts with).
    pub capacity: u32,
    /// Tokens the floor refills up to.
    pub floor: u32,
    /// Tokens per second the floor refills.
    pub floor_per_second: f64,
}

impl Default for BudgetOptions {
    /// Retries may add 20 % to successful calls; at most 100 retries banked; a floor of 1 retry
    /// per second, up to 10.
    fn default() -> Self {
        Self { ratio: 0.2, capacity: 100, floor: 10, floor_per_second: 1.0 }
    }
}

impl BudgetOptions {
    /// Checks the options, naming what is wrong.
    pub fn validate(&self) -> Result<()> {
        let ok = self.ratio.is_finite()
            && (0.0..=1000.0).contains(&self.ratio)
            && self.floor_per_second.is_finite()
            && self.floor_per_second >= 0.0
            && self.floor <= self.capacity;
        if ok {
            Ok(())
        } else {
            Err(Error::Invalid {
                what: "retry budget",
                reason: format!(
                    "ratio and floor_per_second must be finite and not negative, floor at most capacity: {self:?}"
                ),
            })
        }
    }
}

const MILLI: i64 = 1000;

impl RetryBudget {
    /// A full bucket.
    pub fn new(options: BudgetOptions) -> Self {
        Self {
            options,
            per_success: (options.ratio * MILLI as f64) as i64,
            balance: AtomicI64::new(i64::from(options.capacity) * MILLI),
            refilled: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// The options in force.
    pub fn options(&self) -> &BudgetOptions {
        &self.options
    }

    /// A call succeeded.
    pub(crate) fn deposit(&self) {
        self.balance.fetch_add(self.per_success, Ordering::Relaxed);
    }

    /// Takes a token for one retry; `false` when the bucket is empty.
    pub(crate) fn withdraw(&self) -> bool {
        let capacity = i64::from(self.options.capacity) * MILLI;
        self.refill(capacity);
        let mut balance = self.balance.load(Ordering::Relaxed);
        loop {
            let available = balance.min(capacity);
            if available < MILLI {
                return false;
            }
            match self.balance.compare_exchange_weak(
                balance,
                available - MILLI,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => balance = now,
            }
        }
    }

    /// Tokens available now (whole and fractional), for metrics and tests.
    pub fn available(&self) -> f64 {
        let capacity = i64::from(self.options.capacity) * MILLI;
        self.balance.load(Ordering::Relaxed).min(capacity) as f64 / MILLI as f64
    }

    /// Adds what the floor earned since the last refill, up to `floor` tokens.
    fn refill(&self, capacity: i64) {
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let last = self.refilled.load(Ordering::Relaxed);
        let earned = (Duration::from_nanos(now.saturating_sub(last)).as_secs_f64()
            * self.options.floor_per_second
            * MILLI as f64) as i64;
        if earned < MILLI / 10
            || self.refilled.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err()
        {
            return;
        }
        let floor = (i64::from(self.options.floor) * MILLI).min(capacity);
        let _ = self.balance.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |balance| {
            let balance = balance.min(capacity);
            (balance < floor).then(|| (balance + earned).min(floor))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn retries_drain_the_bucket_successes_and_the_floor_refill_it() {
        let budget =
            RetryBudget::new(BudgetOptions { ratio: 0.5, capacity: 4, floor: 2, floor_per_second: 1.0 });
        for _ in 0..4 {
            assert!(budget.withdraw());
        }
        assert!(!budget.withdraw(), "empty after capacity retries");
        budget.deposit();
        assert!(!budget.withdraw(), "half a token is not enough");
        budget.deposit();
        assert!(budget.withdraw(), "two successes at 0.5 pay for one retry");
        assert!(!budget.withdraw());
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert!(budget.withdraw(), "the floor refilled 1.5 tokens");
        assert!(!budget.withdraw());
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(budget.withdraw() && budget.withdraw(), "the floor refilled up to its level, 2 tokens");
        assert!(!budget.withdraw(), "and no further");
        for _ in 0..100 {
            budget.deposit();
        }
        assert_eq!(budget.available(), 4.0, "capped at the capacity");
    }

    #[test]
    fn options_validate() {
        BudgetOptions::default().validate().unwrap();
        assert!(BudgetOptions { ratio: f64::NAN, ..BudgetOptions::default() }.validate().is_err());
        assert!(BudgetOptions { floor: 200, ..BudgetOptions::default() }.validate().is_err());
    }
}
