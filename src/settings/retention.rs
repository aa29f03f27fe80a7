//! [`RetentionSettings`]: how long finished work is kept, read from `RETENTION_*` variables.

use std::time::Duration;

use super::{Env, Seconds};
use crate::error::Result;

/// What [`App`](crate::App) keeps and prunes, with their limits.
///
/// | variable | default | limits | meaning |
/// |---|---|---|---|
/// | `RETENTION_OPERATIONS` | 86 400 | 60 s – 30 days | how long an acknowledged operation is remembered, so that a late enqueue of its id is still a duplicate (Redis: the dedup keys' lifetime) |
/// | `RETENTION_TASKS` | 0 (forever) | 0 or 60 s – 3 650 days | how long a completed, failed, canceled or rejected task is kept, with its records |
/// | `RETENTION_INTERVAL` | 300 | 0 (off) or 1–86 400 s | how often `App` prunes by itself |
/// | `RETENTION_BATCH` | 1000 | 1–100 000 | rows deleted per statement; a round goes on while batches come back full, at most 100 of them |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionSettings {
    /// `RETENTION_OPERATIONS`.
    pub operations: Duration,
    /// `RETENTION_TASKS`; `None` keeps terminal tasks forever.
    pub tasks: Option<Duration>,
    /// `RETENTION_INTERVAL`; `None` when `App` does not prune by itself (`bindu-admin prune`
    /// still does).
    pub interval: Option<Duration>,
    /// `RETENTION_BATCH`.
    pub batch: usize,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            operations: Duration::from_secs(86_400),
            tasks: None,
            interval: Some(Duration::from_secs(300)),
            batch: 1000,
        }
    }
}

const DAY: Duration = Duration::from_secs(86_400);

impl RetentionSettings {
    /// The variables read here.
    pub const VARIABLES: [&'static str; 4] =
        ["RETENTION_OPERATIONS", "RETENTION_TASKS", "RETENTION_INTERVAL", "RETENTION_BATCH"];

    /// Reads from any source of values; errors name the variable.
    pub fn from(env: &Env<'_>) -> Result<Self> {
        let defaults = Self::default();
        let operations = env.seconds(
            "RETENTION_OPERATIONS",
            defaults.operations,
            Seconds { min: Duration::from_secs(60), max: DAY * 30, zero: false },
        )?;
        let tasks = env.seconds(
            "RETENTION_TASKS",
            Duration::ZERO,
            Seconds { min: Duration::from_secs(60), max: DAY * 3650, zero: true },
        )?;
        let interval = env.seconds(
            "RETENTION_INTERVAL",
            defaults.interval.unwrap_or_default(),
            Seconds { min: Duration::from_secs(1), max: DAY, zero: true },
        )?;
        Ok(Self {
            operations,
            tasks: (!tasks.is_zero()).then_some(tasks),
            interval: (!interval.is_zero()).then_some(interval),
            batch: env.count("RETENTION_BATCH", 1000, 1, 100_000)? as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<RetentionSettings> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        RetentionSettings::from(&Env::from_lookup(move |name| map.get(name).cloned()))
    }

    #[test]
    fn defaults_and_switches() {
        assert_eq!(settings(&[]).unwrap(), RetentionSettings::default());
        let s = settings(&[("RETENTION_TASKS", "604800"), ("RETENTION_INTERVAL", "0")]).unwrap();
        assert_eq!((s.tasks, s.interval), (Some(Duration::from_secs(604_800)), None));
    }

    #[test]
    fn out_of_bounds_values_name_the_variable() {
        let cases = [
            (("RETENTION_OPERATIONS", "0"), "RETENTION_OPERATIONS: expected a number of seconds from 60"),
            (("RETENTION_TASKS", "10"), "RETENTION_TASKS: expected 0 or a number of seconds from 60"),
            (("RETENTION_INTERVAL", "-1"), "RETENTION_INTERVAL: expected 0 or a number of seconds from 1"),
            (("RETENTION_BATCH", "0"), "RETENTION_BATCH: expected a whole number from 1 to 100000"),
        ];
        for ((name, value), expected) in cases {
            let err = settings(&[(name, value)]).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{name}={value}: {err}");
        }
    }
}
