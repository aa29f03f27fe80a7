//! [`CircuitBreaker`]: stop calling a backend that keeps failing, fail at once meanwhile, and
//! find out it is back with a cheap probe rather than a user's call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, Result};

/// A circuit breaker for one backend instance, shared by every clone of the
/// [`Retrying`](super::Retrying) it is given to.
///
/// - **Closed**: calls go through. Outcomes are counted over windows of `window` calls; a window
///   whose share of unavailable failures (transient or uncertain; not-found and other permanent
///   answers count as successes: the backend answered) reaches `failure_ratio` opens the circuit.
/// - **Open**: calls fail at once with [`Error::CircuitOpen`] (transient, never retried here) for
///   `open_for`.
/// - **Half-open**: the next call probes the backend with a cheap round trip (`SELECT 1`,
///   `PING`); while it does, other calls fail at once. A probe that succeeds closes the circuit
///   and the call goes on; one that fails opens it again.
///
/// A call on a closed circuit costs an atomic load and an atomic add; the clock is read only when
/// the circuit changes state or is open.
#[derive(Debug)]
pub struct CircuitBreaker {
    options: BreakerOptions,
    /// `CLOSED`, `PROBING`, or when the circuit stops being open (nanoseconds since `epoch`, + 2).
    state: AtomicU64,
    /// This window's calls (high half) and unavailable failures (low half).
    window: AtomicU64,
    epoch: Instant,
}

/// How a [`CircuitBreaker`] decides.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerOptions {
    /// Calls per window.
    pub window: u32,
    /// Share of a window's calls that failed unavailable at which the circuit opens.
    pub failure_ratio: f64,
    /// How long the circuit stays open before a probe: the probe interval.
    pub open_for: Duration,
}

impl Default for BreakerOptions {
    /// Windows of 20 calls; open at half of them failing; probe after 1 s.
    fn default() -> Self {
        Self { window: 20, failure_ratio: 0.5, open_for: Duration::from_secs(1) }
    }
}

impl BreakerOptions {
    /// Checks the options, naming what is wrong.
    pub fn validate(&self) -> Result<()> {
        let ok = (1..=1_000_000).contains(&self.window)
            && self.failure_ratio > 0.0
            && self.failure_ratio <= 1.0
            && !self.open_for.is_zero();
        if ok {
            Ok(())
        } else {
            Err(Error::Invalid {
                what: "circuit breaker",
                reason: format!(
                    "window must be 1 to 1000000, failure_ratio in (0, 1], open_for above zero: {self:?}"
                ),
            })
        }
    }
}

const CLOSED: u64 = 0;
const PROBING: u64 = 1;
const CALL: u64 = 1 << 32;

/// What a call may do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Go ahead.
    Call,
    /// Probe first: this caller turned the circuit half-open.
    Probe,
}

impl CircuitBreaker {
    /// A closed circuit.
    pub fn new(options: BreakerOptions) -> Self {
        Self { options, state: AtomicU64::new(CLOSED), window: AtomicU64::new(0), epoch: Instant::now() }
    }

    /// The options in force.
    pub fn options(&self) -> &BreakerOptions {
        &self.options
    }

    /// Whether the circuit is closed now.
    pub fn is_closed(&self) -> bool {
        self.state.load(Ordering::Relaxed) == CLOSED
    }

    /// The state as its gauge shows it: 0 closed, 1 open, 2 half-open (a probe is out).
    pub(crate) fn state_code(&self) -> f64 {
        match self.state.load(Ordering::Relaxed) {
            CLOSED => 0.0,
            PROBING => 2.0,
            _ => 1.0,
        }
    }

    /// May a call go ahead? [`Error::CircuitOpen`] while open or probing.
    pub(crate) fn admit(&self, what: &'static str) -> Result<Admission> {
        let state = self.state.load(Ordering::Relaxed);
        if state == CLOSED {
            return Ok(Admission::Call);
        }
        let now = self.now();
        if state == PROBING || now < state {
            let retry_in = Duration::from_nanos(state.saturating_sub(now).max(1));
            return Err(Error::CircuitOpen { what, retry_in: retry_in.min(self.options.open_for) });
        }
        match self.state.compare_exchange(state, PROBING, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => Ok(Admission::Probe),
            Err(_) => Err(Error::CircuitOpen { what, retry_in: self.options.open_for }),
        }
    }

    /// The probe's outcome: closes the circuit, or opens it for another `open_for`.
    pub(crate) fn probed(&self, ok: bool) {
        if ok {
            self.window.store(0, Ordering::Relaxed);
            self.state.store(CLOSED, Ordering::Release);
        } else {
            self.open();
        }
    }

    /// One call's outcome: `unavailable` for a transient or uncertain failure.
    pub(crate) fn record(&self, unavailable: bool) {
        let seen = self.window.fetch_add(CALL + u64::from(unavailable), Ordering::Relaxed)
            + CALL
            + u64::from(unavailable);
        let (calls, failures) = (seen >> 32, seen & 0xffff_ffff);
        if calls < u64::from(self.options.window) {
            return;
        }
        // The window is full: whoever resets it decides.
        if self.window.compare_exchange(seen, 0, Ordering::Relaxed, Ordering::Relaxed).is_ok()
            && failures as f64 >= self.options.failure_ratio * calls as f64
            && self.state.load(Ordering::Relaxed) == CLOSED
        {
            tracing::warn!(
                failures,
                calls,
                open_for_ms = self.options.open_for.as_millis() as u64,
                "circuit opened: the backend keeps failing"
            );
            self.open();
        }
    }

    fn open(&self) {
        let until =
            self.now().saturating_add(u64::try_from(self.options.open_for.as_nanos()).unwrap_or(u64::MAX));
        self.state.store(until.max(PROBING + 1), Ordering::Release);
    }

    /// Nanoseconds since `epoch`, shifted past the two special states.
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 2) + 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(BreakerOptions {
            window: 4,
            failure_ratio: 0.5,
            open_for: Duration::from_secs(1),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn closed_open_half_open_closed() {
        let breaker = breaker();
        for unavailable in [true, false, true, false] {
            assert_eq!(breaker.admit("storage").unwrap(), Admission::Call);
            breaker.record(unavailable);
        }
        assert!(!breaker.is_closed(), "half of a window failed");
        let err = breaker.admit("storage").unwrap_err();
        assert!(matches!(err, Error::CircuitOpen { what: "storage", .. }), "{err}");
        assert!(err.is_unavailable() && err.to_string().contains("circuit is open"), "{err}");
        tokio::time::advance(Duration::from_millis(999)).await;
        assert!(breaker.admit("storage").is_err(), "still open");
        tokio::time::advance(Duration::from_millis(2)).await;
        assert_eq!(breaker.admit("storage").unwrap(), Admission::Probe);
        assert!(breaker.admit("storage").is_err(), "others fail at once while one probes");
        breaker.probed(true);
        assert!(breaker.is_closed());
        assert_eq!(breaker.admit("storage").unwrap(), Admission::Call);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_opens_again_and_healthy_windows_stay_closed() {
        let breaker = breaker();
        for _ in 0..4 {
            breaker.record(true);
        }
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(breaker.admit("storage").unwrap(), Admission::Probe);
        breaker.probed(false);
        assert!(breaker.admit("storage").is_err(), "open for another interval");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(breaker.admit("storage").unwrap(), Admission::Probe);
        breaker.probed(true);
        for _ in 0..100 {
            breaker.record(false);
            breaker.record(true);
            breaker.record(false);
            breaker.record(false);
        }
        assert!(breaker.is_closed(), "a quarter failing stays under the ratio");
    }
}
