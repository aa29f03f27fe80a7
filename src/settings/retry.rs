//! [`RetrySettings`]: the four retry policies, read from `RETRY__*` variables.

use std::time::Duration;

use super::{Env, Seconds};
use crate::error::{Error, Result};
use crate::retry::RetryPolicy;

/// The retry policies of the four roles, with Bindu's defaults.
///
/// Each value comes from `RETRY__<ROLE>_MAX_ATTEMPTS`, `RETRY__<ROLE>_MIN_WAIT` and
/// `RETRY__<ROLE>_MAX_WAIT` (waits in seconds, fractions allowed) with `<ROLE>` one of `WORKER`,
/// `STORAGE`, `SCHEDULER`, `API`. A malformed value is an error naming the variable and the
/// value; nothing falls back to a default silently. Limits: 1 to 100 attempts; waits 0 or from
/// 1 ms to 1 h, the minimum not above the maximum.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetrySettings {
    /// Around task execution in the worker: 3 attempts, 1–10 s.
    pub worker: RetryPolicy,
    /// Around storage operations: 5 attempts, 0.5–5 s.
    pub storage: RetryPolicy,
    /// Around scheduler operations: 3 attempts, 1–8 s.
    pub scheduler: RetryPolicy,
    /// Around calls to external services (webhooks): 4 attempts, 1–15 s.
    pub api: RetryPolicy,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            worker: RetryPolicy::WORKER,
            storage: RetryPolicy::STORAGE,
            scheduler: RetryPolicy::SCHEDULER,
            api: RetryPolicy::API,
        }
    }
}

impl RetrySettings {
    /// Calls in all at most: more would keep a caller waiting for hours.
    pub const MAX_ATTEMPTS: u32 = 100;
    /// The accepted waits: 0 (retry at once), or 1 ms to 1 h.
    pub const WAITS: Seconds =
        Seconds { min: Duration::from_millis(1), max: Duration::from_secs(3600), zero: true };

    /// The twelve variable names, in `.env.example` order.
    pub const VARIABLES: [&'static str; 12] = [
        "RETRY__WORKER_MAX_ATTEMPTS",
        "RETRY__WORKER_MIN_WAIT",
        "RETRY__WORKER_MAX_WAIT",
        "RETRY__STORAGE_MAX_ATTEMPTS",
        "RETRY__STORAGE_MIN_WAIT",
        "RETRY__STORAGE_MAX_WAIT",
        "RETRY__SCHEDULER_MAX_ATTEMPTS",
        "RETRY__SCHEDULER_MIN_WAIT",
        "RETRY__SCHEDULER_MAX_WAIT",
        "RETRY__API_MAX_ATTEMPTS",
        "RETRY__API_MIN_WAIT",
        "RETRY__API_MAX_WAIT",
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
        })
    }
}

fn read_policy(env: &Env<'_>, role: &str, default: RetryPolicy) -> Result<RetryPolicy> {
    let attempts_var = format!("RETRY__{role}_MAX_ATTEMPTS");
    let min_var = format!("RETRY__{role}_MIN_WAIT");
    let max_var = format!("RETRY__{role}_MAX_WAIT");
    let policy = default
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
        for (index, name) in RetrySettings::VARIABLES.iter().enumerate() {
            let value = ["7", "0.25", "30"][index % 3];
            let s = settings(&[(name, value)]).unwrap();
            let policy = [s.worker, s.storage, s.scheduler, s.api][index / 3];
            let read = [
                f64::from(policy.max_attempts),
                policy.min_wait.as_secs_f64(),
                policy.max_wait.as_secs_f64(),
            ][index % 3];
            assert_eq!(read, value.parse::<f64>().unwrap(), "{name}");
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
