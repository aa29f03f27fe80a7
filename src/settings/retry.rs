//! [`RetrySettings`]: the four retry policies, read from `RETRY__*` variables.

use std::time::Duration;

use super::{Env, Seconds};
use crate::error::{Error, Result};
use crate::retry::{BreakerOptions, BudgetOptions, RetryPolicy, Retrying};

/// The retry policies of the four roles, with Bindu's defaults, and the retry budget and
/// circuit breaker of the storage and scheduler decorators.
///
/// Each policy comes from `RETRY__<ROLE>_MAX_ATTEMPTS`, `_MIN_WAIT`, `_MAX_WAIT` and `_DEADLINE`
/// (seconds, fractions allowed; a deadline of 0 turns it off) with `<ROLE>` one of `WORKER`,
/// `STORAGE`, `SCHEDULER`, `API`. The storage and scheduler decorators also read
/// `RETRY__<ROLE>_BUDGET_RATIO` (0 turns the budget off), `_BREAKER_FAILURE_RATIO` (0 turns the
/// breaker off), `_BREAKER_WINDOW` and `_BREAKER_PROBE_INTERVAL`. A malformed or out-of-bounds
/// value is an error naming the variable and the value; nothing falls back to a default
/// silently. Limits: 1 to 100 attempts; waits and deadlines 0 or from 1 ms to 1 h, the minimum
/// wait not above the maximum; budget ratio 0–10; failure ratio 0–1; window 2–100 000 calls;
/// probe interval 10 ms – 10 min.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetrySettings {
    /// Around each worker step: 3 attempts, 1–10 s, 30 s deadline.
    pub worker: RetryPolicy,
    /// Around storage operations: 5 attempts, 0.5–5 s, 20 s deadline.
    pub storage: RetryPolicy,
    /// Around scheduler operations: 3 attempts, 1–8 s, 20 s deadline.
    pub scheduler: RetryPolicy,
    /// Around calls to external services (webhooks): 4 attempts, 1–15 s, 60 s deadline.
    pub api: RetryPolicy,
    /// The storage decorator's retry budget and circuit breaker.
    pub storage_guards: GuardSettings,
    /// The scheduler decorator's retry budget and circuit breaker.
    pub scheduler_guards: GuardSettings,
}

/// A decorator's retry budget and circuit breaker; `None` when turned off.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GuardSettings {
    /// The retry budget (default: 20 % of successes, 100 banked, a floor of 1/s).
    pub budget: Option<BudgetOptions>,
    /// The circuit breaker (default: windows of 20 calls, open at half failing, probe every 1 s).
    pub breaker: Option<BreakerOptions>,
}

impl Default for GuardSettings {
    fn default() -> Self {
        Self { budget: Some(BudgetOptions::default()), breaker: Some(BreakerOptions::default()) }
    }
}

impl GuardSettings {
    /// `retrying` with these guards.
    pub fn apply<S>(&self, mut retrying: Retrying<S>) -> Retrying<S> {
        if let Some(budget) = self.budget {
            retrying = retrying.with_budget(budget);
        }
        if let Some(breaker) = self.breaker {
            retrying = retrying.with_breaker(breaker);
        }
        retrying
    }
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            worker: RetryPolicy::WORKER,
            storage: RetryPolicy::STORAGE,
            scheduler: RetryPolicy::SCHEDULER,
            api: RetryPolicy::API,
            storage_guards: GuardSettings::default(),
            scheduler_guards: GuardSettings::default(),
        }
    }
}

impl RetrySettings {
    /// Calls in all at most: more would keep a caller waiting for hours.
    pub const MAX_ATTEMPTS: u32 = 100;
    /// The accepted waits and deadlines: 0 (none), or 1 ms to 1 h.
    pub const WAITS: Seconds =
        Seconds { min: Duration::from_millis(1), max: Duration::from_secs(3600), zero: true };

    /// Every variable read, in `.env.example` order.
    pub const VARIABLES: [&'static str; 24] = [
        "RETRY__WORKER_MAX_ATTEMPTS",
        "RETRY__WORKER_MIN_WAIT",
        "RETRY__WORKER_MAX_WAIT",
        "RETRY__WORKER_DEADLINE",
        "RETRY__STORAGE_MAX_ATTEMPTS",
        "RETRY__STORAGE_MIN_WAIT",
        "RETRY__STORAGE_MAX_WAIT",
        "RETRY__STORAGE_DEADLINE",
        "RETRY__STORAGE_BUDGET_RATIO",
        "RETRY__STORAGE_BREAKER_FAILURE_RATIO",
        "RETRY__STORAGE_BREAKER_WINDOW",
        "RETRY__STORAGE_BREAKER_PROBE_INTERVAL",
        "RETRY__SCHEDULER_MAX_ATTEMPTS",
        "RETRY__SCHEDULER_MIN_WAIT",
        "RETRY__SCHEDULER_MAX_WAIT",
        "RETRY__SCHEDULER_DEADLINE",
        "RETRY__SCHEDULER_BUDGET_RATIO",
        "RETRY__SCHEDULER_BREAKER_FAILURE_RATIO",
        "RETRY__SCHEDULER_BREAKER_WINDOW",
        "RETRY__SCHEDULER_BREAKER_PROBE_INTERVAL",
        "RETRY__API_MAX_ATTEMPTS",
        "RETRY__API_MIN_WAIT",
        "RETRY__API_MAX_WAIT",
        "RETRY__API_DEADLINE",
    ];

    /// Reads the process environment and `.env`.
    pub fn from_env() -> Result<Self> {
        Self::from(&Env::process()?)
    }

    /// Reads from any source of values.
    pub fn from(env: &Env<'_>) -> Result<Self> {
        let defaults = Self::default();
        Ok(Self {
            worker: read_policy(env, "WORKER", defaults.worker)?,
            storage: read_policy(env, "STORAGE", defaults.storage)?,
            scheduler: read_policy(env, "SCHEDULER", defaults.scheduler)?,
            api: read_policy(env, "API", defaults.api)?,
            storage_guards: read_guards(env, "STORAGE")?,
            scheduler_guards: read_guards(env, "SCHEDULER")?,
        })
    }
}

fn read_guards(env: &Env<'_>, role: &str) -> Result<GuardSettings> {
    let (budget, breaker) = (BudgetOptions::default(), BreakerOptions::default());
    let ratio = fraction(env, &format!("RETRY__{role}_BUDGET_RATIO"), budget.ratio, 10.0)?;
    let failure_ratio =
        fraction(env, &format!("RETRY__{role}_BREAKER_FAILURE_RATIO"), breaker.failure_ratio, 1.0)?;
    let window = env.count(&format!("RETRY__{role}_BREAKER_WINDOW"), breaker.window, 2, 100_000)?;
    let open_for = env.seconds(
        &format!("RETRY__{role}_BREAKER_PROBE_INTERVAL"),
        breaker.open_for,
        Seconds { min: Duration::from_millis(10), max: Duration::from_secs(600), zero: false },
    )?;
    Ok(GuardSettings {
        budget: (ratio > 0.0).then_some(BudgetOptions { ratio, ..budget }),
        breaker: (failure_ratio > 0.0).then_some(BreakerOptions { window, failure_ratio, open_for }),
    })
}

/// A number from 0 to `max`.
fn fraction(env: &Env<'_>, name: &str, default: f64, max: f64) -> Result<f64> {
    let expected = format!("a number from 0 to {max}");
    let value = env.parse::<f64>(name, default, &expected)?;
    if !(0.0..=max).contains(&value) {
        let raw = env.get(name).unwrap_or_default();
        return Err(Error::config(name, format!("expected {expected}, got {raw:?}")));
    }
    Ok(value)
}

fn read_policy(env: &Env<'_>, role: &str, default: RetryPolicy) -> Result<RetryPolicy> {
    let attempts_var = format!("RETRY__{role}_MAX_ATTEMPTS");
    let min_var = format!("RETRY__{role}_MIN_WAIT");
    let max_var = format!("RETRY__{role}_MAX_WAIT");
    let deadline_var = format!("RETRY__{role}_DEADLINE");
    let deadline = env.seconds(&deadline_var, default.deadline.unwrap_or_default(), RetrySettings::WAITS)?;
    let policy = default
        .with_deadline((!deadline.is_zero()).then_some(deadline))
        .with_max_attempts(env.count(&attempts_var, default.max_attempts, 1, RetrySettings::MAX_ATTEMPTS)?)
        .with_waits(
            env.seconds(&min_var, default.min_wait, RetrySettings::WAITS)?,
            env.seconds(&max_var, default.max_wait, RetrySettings::WAITS)?,
        );
    if policy.min_wait > policy.max_wait {
        return Err(Error::config(
            format!("{min_var}/{max_var}"),
            format!(
                "the minimum wait ({} s) is above the maximum wait ({} s)",
                policy.min_wait.as_secs_f64(),
                policy.max_wait.as_secs_f64()
            ),
        ));
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<RetrySettings> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        RetrySettings::from(&Env::from_lookup(move |name| map.get(name).cloned()))
    }

    #[test]
    fn defaults_are_bindus() {
        let s = settings(&[]).unwrap();
        assert_eq!(
            (s.worker.max_attempts, s.worker.min_wait, s.worker.max_wait),
            (3, Duration::from_secs(1), Duration::from_secs(10))
        );
        assert_eq!(
            (s.storage.max_attempts, s.storage.min_wait, s.storage.max_wait),
            (5, Duration::from_millis(500), Duration::from_secs(5))
        );
        assert_eq!(
            (s.scheduler.max_attempts, s.scheduler.min_wait, s.scheduler.max_wait),
            (3, Duration::from_secs(1), Duration::from_secs(8))
        );
        assert_eq!(
            (s.api.max_attempts, s.api.min_wait, s.api.max_wait),
            (4, Duration::from_secs(1), Duration::from_secs(15))
        );
    }

    #[test]
    fn every_variable_is_read() {
        for name in RetrySettings::VARIABLES {
            let value = match name.rsplit('_').next().unwrap() {
                "ATTEMPTS" => "7",
                "WINDOW" => "40",
                "RATIO" => "0.25",
                _ => "3.5",
            };
            let s = settings(&[(name, value)]).unwrap();
            assert_ne!(s, RetrySettings::default(), "{name} changed nothing");
        }
        let s =
            settings(&[("RETRY__STORAGE_DEADLINE", "0"), ("RETRY__SCHEDULER_BUDGET_RATIO", "0")]).unwrap();
        assert_eq!(s.storage.deadline, None, "0 turns the deadline off");
        assert_eq!(s.scheduler_guards.budget, None, "0 turns the budget off");
        let s = settings(&[("RETRY__STORAGE_BREAKER_FAILURE_RATIO", "0")]).unwrap();
        assert_eq!(s.storage_guards.breaker, None, "0 turns the breaker off");
        let s = settings(&[("RETRY__SCHEDULER_BREAKER_PROBE_INTERVAL", "0.5")]).unwrap();
        assert_eq!(s.scheduler_guards.breaker.unwrap().open_for, Duration::from_millis(500));
        for (name, value) in [
            ("RETRY__STORAGE_BUDGET_RATIO", "-1"),
            ("RETRY__STORAGE_BREAKER_FAILURE_RATIO", "1.5"),
            ("RETRY__STORAGE_BREAKER_WINDOW", "1"),
            ("RETRY__API_DEADLINE", "1e9"),
        ] {
            let err = settings(&[(name, value)]).unwrap_err().to_string();
            assert!(err.starts_with(name), "{err}");
        }
    }

    #[test]
    fn max_wait_alone_is_read() {
        let s = settings(&[("RETRY__API_MAX_WAIT", "30")]).unwrap();
        assert_eq!(s.api.max_wait, Duration::from_secs(30));
        let s = settings(&[("RETRY__STORAGE_MAX_WAIT", "0.5")]).unwrap();
        assert_eq!(s.storage.max_wait, Duration::from_millis(500));
    }

    #[test]
    fn zero_waits_are_configurable() {
        let s = settings(&[("RETRY__WORKER_MIN_WAIT", "0"), ("RETRY__WORKER_MAX_WAIT", "0")]).unwrap();
        assert_eq!((s.worker.min_wait, s.worker.max_wait), (Duration::ZERO, Duration::ZERO));
    }

    #[test]
    fn malformed_values_name_the_variable_and_value() {
        let cases = [
            ("RETRY__WORKER_MAX_ATTEMPTS", "three", "expected a whole number from 1 to 100, got \"three\""),
            ("RETRY__STORAGE_MAX_ATTEMPTS", "0", "expected a whole number from 1 to 100, got \"0\""),
            ("RETRY__API_MAX_ATTEMPTS", "1000000000", "got \"1000000000\""),
            (
                "RETRY__API_MAX_WAIT",
                "1e9",
                "expected 0 or a number of seconds from 0.001 to 3600, got \"1e9\"",
            ),
            ("RETRY__WORKER_MIN_WAIT", "1e-12", "got \"1e-12\""),
            ("RETRY__SCHEDULER_MAX_ATTEMPTS", "-1", "got \"-1\""),
            ("RETRY__API_MAX_ATTEMPTS", "2.5", "got \"2.5\""),
            ("RETRY__API_MAX_ATTEMPTS", "", "got \"\""),
            (
                "RETRY__WORKER_MIN_WAIT",
                "-0.5",
                "expected 0 or a number of seconds from 0.001 to 3600, got \"-0.5\"",
            ),
            ("RETRY__STORAGE_MIN_WAIT", "NaN", "got \"NaN\""),
            ("RETRY__SCHEDULER_MAX_WAIT", "inf", "got \"inf\""),
            ("RETRY__API_MIN_WAIT", "1s", "got \"1s\""),
        ];
        for (name, value, expected) in cases {
            let err = settings(&[(name, value)]).unwrap_err().to_string();
            assert!(err.starts_with(name), "{err}");
            assert!(err.contains(expected), "{name}={value}: {err}");
        }
    }

    #[test]
    fn min_above_max_names_both_variables() {
        let err = settings(&[("RETRY__WORKER_MIN_WAIT", "20")]).unwrap_err().to_string();
        assert_eq!(
            err,
            "RETRY__WORKER_MIN_WAIT/RETRY__WORKER_MAX_WAIT: the minimum wait (20 s) is above the maximum wait (10 s)"
        );
    }

    #[test]
    fn whitespace_around_values_is_ignored() {
        assert_eq!(settings(&[("RETRY__WORKER_MAX_ATTEMPTS", " 4 ")]).unwrap().worker.max_attempts, 4);
    }
}
