//! The metrics of calls through `Retrying`: outcome, retries, waits and latency per call, and the
//! state of its retry budget and circuit breaker.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ::metrics::{counter, gauge, histogram};

use super::names::{
    BREAKER_REJECTIONS, BREAKER_STATE, BUDGET_REJECTIONS, BUDGET_TOKENS, CALL_DURATION, CALL_RETRIES,
    CALL_RETRY_WAIT, CALLS,
};
use crate::error::{Error, GaveUp, Result};
use crate::retry::{CircuitBreaker, RetryBudget};

/// One call's measurements, made only while a recorder is installed: the clock is read when it
/// starts and ends, and the retry loop tallies its retries and waits here.
#[derive(Debug)]
pub(crate) struct Meter {
    backend: &'static str,
    role: &'static str,
    started: Instant,
    retries: AtomicU32,
    waited_ns: AtomicU64,
}

impl Meter {
    /// A meter for a call, or `None` (and nothing else done) when no recorder is installed.
    #[inline]
    pub(crate) fn start(backend: &'static str, role: &'static str) -> Option<Self> {
        super::enabled().then(|| Self {
            backend,
            role,
            started: Instant::now(),
            retries: AtomicU32::new(0),
            waited_ns: AtomicU64::new(0),
        })
    }

    /// A retry is about to wait `wait`.
    pub(crate) fn retrying(&self, wait: Duration) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        let wait = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
        self.waited_ns.fetch_add(wait, Ordering::Relaxed);
    }

    /// Records how the call of `operation` ended.
    pub(crate) fn finish<T>(&self, operation: &'static str, result: &Result<T>) {
        let (backend, role) = (self.backend, self.role);
        let retries = self.retries.load(Ordering::Relaxed);
        let outcome = match result {
            Ok(_) if retries == 0 => "ok",
            Ok(_) => "ok_after_retry",
            Err(Error::Exhausted { .. }) => "exhausted",
            Err(Error::CircuitOpen { .. }) => "circuit_open",
            Err(_) => "permanent",
        };
        let labels = [("backend", backend), ("role", role), ("operation", operation)];
        counter!(CALLS, &[labels[0], labels[1], labels[2], ("outcome", outcome)]).increment(1);
        histogram!(CALL_DURATION, &labels).record(self.started.elapsed().as_secs_f64());
        // Also by 0: the operation's series then exists before its first retry.
        counter!(CALL_RETRIES, &labels).increment(u64::from(retries));
        if retries > 0 {
            let waited = Duration::from_nanos(self.waited_ns.load(Ordering::Relaxed));
            histogram!(CALL_RETRY_WAIT, "backend" => backend, "role" => role).record(waited.as_secs_f64());
        }
        match result {
            Err(Error::Exhausted { cause: GaveUp::Budget, .. }) => {
                counter!(BUDGET_REJECTIONS, "backend" => backend, "role" => role).increment(1);
            }
            Err(Error::CircuitOpen { .. }) => {
                counter!(BREAKER_REJECTIONS, "backend" => backend, "role" => role).increment(1);
            }
            _ => {}
        }
    }

    /// The breaker may have changed state.
    pub(crate) fn breaker(&self, breaker: &CircuitBreaker) {
        breaker_state(self.backend, self.role, breaker);
    }

    /// The budget was drawn on or paid into.
    pub(crate) fn budget(&self, budget: &RetryBudget) {
        budget_tokens(self.backend, self.role, budget);
    }
}

fn breaker_state(backend: &'static str, role: &'static str, breaker: &CircuitBreaker) {
    gauge!(BREAKER_STATE, "backend" => backend, "role" => role).set(breaker.state_code());
}

fn budget_tokens(backend: &'static str, role: &'static str, budget: &RetryBudget) {
    gauge!(BUDGET_TOKENS, "backend" => backend, "role" => role).set(budget.available());
}
