//! [`WorkerSettings`]: how the workers of an app run, read from `WORKER_*` variables.

use std::time::Duration;

use super::{Env, Seconds};
use crate::error::{Error, Result};
use crate::retry::RetryPolicy;
use crate::worker::{RescueOptions, WorkerOptions};

/// The worker's settings, with their limits.
///
/// | variable | default | limits | meaning |
/// |---|---|---|---|
/// | `WORKER_CONCURRENCY` | 4 | 1–10 000 | agent runs at once per process |
/// | `WORKER_LEASE` | 30 | 1–86 400 s | how long a claim lasts unless renewed; another run takes a task over only after it |
/// | `WORKER_HEARTBEAT` | 5 | 0.05 s – half the lease | how often a running task's claim is renewed and its delivery kept alive |
/// | `WORKER_AGENT_TIMEOUT` | 0 (none) | 0 or 0.001–604 800 s | deadline of one agent call; past it the task fails with reason `timeout` |
/// | `WORKER_RESCUE_AFTER` | 60 | 0 (off) or 1–86 400 s | re-schedule tasks left without a run this long |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerSettings {
    /// `WORKER_CONCURRENCY`.
    pub concurrency: usize,
    /// `WORKER_LEASE`.
    pub lease: Duration,
    /// `WORKER_HEARTBEAT`.
    pub heartbeat: Duration,
    /// `WORKER_AGENT_TIMEOUT`; `None` for no deadline.
    pub agent_timeout: Option<Duration>,
    /// `WORKER_RESCUE_AFTER`; `None` when rescue is off.
    pub rescue_after: Option<Duration>,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            concurrency: 4,
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(5),
            agent_timeout: None,
            rescue_after: Some(RescueOptions::default().after),
        }
    }
}

const DAY: Duration = Duration::from_secs(86_400);

impl WorkerSettings {
    /// The variables read here.
    pub const VARIABLES: [&'static str; 5] = [
        "WORKER_CONCURRENCY",
        "WORKER_LEASE",
        "WORKER_HEARTBEAT",
        "WORKER_AGENT_TIMEOUT",
        "WORKER_RESCUE_AFTER",
    ];

    /// Reads from any source of values; errors name the variable.
    pub fn from(env: &Env<'_>) -> Result<Self> {
        let defaults = Self::default();
        let lease = env.seconds(
            "WORKER_LEASE",
            defaults.lease,
            Seconds { min: Duration::from_secs(1), max: DAY, zero: false },
        )?;
        let heartbeat = env.seconds(
            "WORKER_HEARTBEAT",
            defaults.heartbeat.min(lease / 2),
            Seconds { min: Duration::from_millis(50), max: DAY, zero: false },
        )?;
        if heartbeat > lease / 2 {
            return Err(Error::config(
                "WORKER_HEARTBEAT",
                format!(
                    "the heartbeat ({} s) must be at most half of WORKER_LEASE ({} s)",
                    heartbeat.as_secs_f64(),
                    lease.as_secs_f64()
                ),
            ));
        }
        let agent_timeout = env.seconds(
            "WORKER_AGENT_TIMEOUT",
            Duration::ZERO,
            Seconds { min: Duration::from_millis(1), max: DAY * 7, zero: true },
        )?;
        let rescue_after = env.seconds(
            "WORKER_RESCUE_AFTER",
            defaults.rescue_after.unwrap_or_default(),
            Seconds { min: Duration::from_secs(1), max: DAY, zero: true },
        )?;
        Ok(Self {
            concurrency: env.count("WORKER_CONCURRENCY", 4, 1, 10_000)? as usize,
            lease,
            heartbeat,
            agent_timeout: (!agent_timeout.is_zero()).then_some(agent_timeout),
            rescue_after: (!rescue_after.is_zero()).then_some(rescue_after),
        })
    }

    /// The worker options these settings give, with `retry` as the worker policy.
    pub fn options(&self, retry: RetryPolicy) -> WorkerOptions {
        WorkerOptions {
            concurrency: self.concurrency,
            retry,
            lease: self.lease,
            heartbeat: self.heartbeat,
            agent_timeout: self.agent_timeout,
            rescue: self.rescue_after.map(|after| RescueOptions {
                after,
                every: (after / 4).clamp(Duration::from_millis(100), Duration::from_secs(15)),
                ..RescueOptions::default()
            }),
            ..WorkerOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<WorkerSettings> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        WorkerSettings::from(&Env::from_lookup(move |name| map.get(name).cloned()))
    }

    #[test]
    fn defaults_and_switches() {
        assert_eq!(settings(&[]).unwrap(), WorkerSettings::default());
        let s = settings(&[("WORKER_AGENT_TIMEOUT", "2.5"), ("WORKER_RESCUE_AFTER", "0")]).unwrap();
        assert_eq!((s.agent_timeout, s.rescue_after), (Some(Duration::from_millis(2500)), None));
        let options = settings(&[]).unwrap().options(RetryPolicy::WORKER);
        options.validate().unwrap();
        assert_eq!(options.rescue.unwrap().after, Duration::from_secs(60));
    }

    #[test]
    fn out_of_bounds_values_name_the_variable() {
        let cases = [
            (
                ("WORKER_CONCURRENCY", "100000000"),
                "WORKER_CONCURRENCY: expected a whole number from 1 to 10000",
            ),
            (("WORKER_LEASE", "0"), "WORKER_LEASE: expected a number of seconds from 1 to 86400"),
            (("WORKER_HEARTBEAT", "20"), "WORKER_HEARTBEAT: the heartbeat (20 s) must be at most half"),
            (("WORKER_AGENT_TIMEOUT", "-1"), "WORKER_AGENT_TIMEOUT: expected 0 or a number of seconds"),
            (("WORKER_RESCUE_AFTER", "0.5"), "WORKER_RESCUE_AFTER: expected 0 or a number of seconds from 1"),
        ];
        for ((name, value), expected) in cases {
            let err = settings(&[(name, value)]).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{name}={value}: {err}");
        }
    }
}
