//! [`AppSettings`]: which backends an app uses, read from the environment.

use std::fmt;

use super::names::{check_prefix, check_schema};
use super::{Env, IpNetwork, RetentionSettings, RetrySettings, WorkerSettings, input};
use crate::error::{Error, Result};
use crate::model::InputLimits;
use crate::redact;

/// Where tasks are stored.
#[derive(Clone, PartialEq, Eq)]
pub enum StorageBackend {
    /// In process memory (the default).
    Memory,
    /// PostgreSQL at `url`, in `schema` when set.
    Postgres {
        /// `DATABASE_URL`.
        url: String,
        /// `DATABASE_SCHEMA`.
        schema: Option<String>,
    },
    /// Redis at `url`, keys under `prefix`.
    Redis {
        /// `REDIS_URL`.
        url: String,
        /// `REDIS_KEY_PREFIX`.
        prefix: String,
    },
}

/// How operations reach workers.
#[derive(Clone, PartialEq, Eq)]
pub enum SchedulerBackend {
    /// In process memory (the default).
    Memory,
    /// Redis at `url`, keys under `prefix`.
    Redis {
        /// `REDIS_URL`.
        url: String,
        /// `REDIS_KEY_PREFIX`.
        prefix: String,
    },
    /// A queue table in PostgreSQL at `url`, in `schema` when set.
    Postgres {
        /// `DATABASE_URL`.
        url: String,
        /// `DATABASE_SCHEMA`.
        schema: Option<String>,
    },
}

/// An app's configuration: its backends, retry policies and worker concurrency.
///
/// | variable | default | meaning |
/// |---|---|---|
/// | `STORAGE_TYPE` | `memory` | `memory`, `postgres` or `redis` |
/// | `DATABASE_URL` | — | PostgreSQL URL; required when storage or scheduler is `postgres` |
/// | `DATABASE_SCHEMA` | *(none)* | schema for this agent's tables, so agents can share a database: 1–63 lower-case letters, digits and `_`, not starting with a digit |
/// | `SCHEDULER_TYPE` | `memory` | `memory`, `redis` or `postgres` |
/// | `REDIS_URL` | — | Redis URL; required when storage or scheduler is `redis` |
/// | `REDIS_KEY_PREFIX` | `bindu` | namespace of this agent's keys, so agents can share a Redis: 1–64 bytes, no braces, whitespace or control characters |
/// | `WEBHOOK_ALLOWED_NETWORKS` | *(none)* | non-public ranges webhooks may reach, e.g. `10.0.0.0/8,fd00::/8` |
/// | `INPUT_MAX_MESSAGE_BYTES` | 1048576 (1 MiB) | one message or artifact as JSON (1024 – 64 MiB) |
/// | `INPUT_MAX_PARTS` | 256 | parts of one message or artifact (1 – 10 000) |
/// | `INPUT_MAX_METADATA_BYTES` | 65536 (64 KiB) | one metadata object as JSON (256 – 16 MiB) |
/// | `INPUT_MAX_DEPTH` | 32 | nesting of any JSON value (8 – 100) |
///
/// plus the `WORKER_*` variables of [`WorkerSettings`], the `RETENTION_*` variables of
/// [`RetentionSettings`] and the `RETRY__*` variables of [`RetrySettings`]. `Debug` hides
/// passwords ([`redact`](crate::redact)).
#[derive(Clone, PartialEq)]
pub struct AppSettings {
    /// Where tasks are stored.
    pub storage: StorageBackend,
    /// How operations reach workers.
    pub scheduler: SchedulerBackend,
    /// The retry policies.
    pub retry: RetrySettings,
    /// How workers run.
    pub worker: WorkerSettings,
    /// What is kept, and how often it is pruned.
    pub retention: RetentionSettings,
    /// Non-public address ranges webhooks may reach besides public addresses (none by default).
    pub webhook_allowed_networks: Vec<IpNetwork>,
    /// What storage accepts (`INPUT_*`), applied to whichever backend stores tasks.
    pub input: InputLimits,
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            storage: StorageBackend::Memory,
            scheduler: SchedulerBackend::Memory,
            retry: RetrySettings::default(),
            worker: WorkerSettings::default(),
            retention: RetentionSettings::default(),
            webhook_allowed_networks: Vec::new(),
            input: InputLimits::default(),
        }
    }
}

impl AppSettings {
    /// Every variable read here besides the `WORKER_*`, `RETENTION_*` and `RETRY__*` ones.
    pub const VARIABLES: [&'static str; 11] = [
        "STORAGE_TYPE",
        "DATABASE_URL",
        "DATABASE_SCHEMA",
        "SCHEDULER_TYPE",
        "REDIS_URL",
        "REDIS_KEY_PREFIX",
        "WEBHOOK_ALLOWED_NETWORKS",
        input::VARIABLES[0],
        input::VARIABLES[1],
        input::VARIABLES[2],
        input::VARIABLES[3],
    ];

    /// Reads the process environment and `.env`.
    pub fn from_env() -> Result<Self> {
        Self::from(&Env::process()?)
    }

    /// Reads from any source of values. Errors name the variable and what was wrong.
    pub fn from(env: &Env<'_>) -> Result<Self> {
        let storage = match choice(env, "STORAGE_TYPE", &["memory", "postgres", "redis"])?.as_str() {
            "postgres" => StorageBackend::Postgres {
                url: url(env, "DATABASE_URL", "STORAGE_TYPE=postgres", POSTGRES_SCHEMES)?,
                schema: schema(env)?,
            },
            "redis" => {
                StorageBackend::Redis { url: redis_url(env, "STORAGE_TYPE=redis")?, prefix: prefix(env)? }
            }
            _ => StorageBackend::Memory,
        };
        let scheduler = match choice(env, "SCHEDULER_TYPE", &["memory", "redis", "postgres"])?.as_str() {
            "redis" => {
                SchedulerBackend::Redis { url: redis_url(env, "SCHEDULER_TYPE=redis")?, prefix: prefix(env)? }
            }
            "postgres" => SchedulerBackend::Postgres {
                url: url(env, "DATABASE_URL", "SCHEDULER_TYPE=postgres", POSTGRES_SCHEMES)?,
                schema: schema(env)?,
            },
            _ => SchedulerBackend::Memory,
        };
        let allowed = env.get("WEBHOOK_ALLOWED_NETWORKS").unwrap_or_default();
        let webhook_allowed_networks = IpNetwork::parse_list(&allowed)
            .map_err(|err| Error::config("WEBHOOK_ALLOWED_NETWORKS", err.to_string()))?;
        Ok(Self {
            storage,
            scheduler,
            retry: RetrySettings::from(env)?,
            worker: WorkerSettings::from(env)?,
            retention: RetentionSettings::from(env)?,
            webhook_allowed_networks,
            input: input::limits(env)?,
        })
    }
}

const POSTGRES_SCHEMES: &[&str] = &["postgres://", "postgresql://"];

fn redis_url(env: &Env<'_>, because: &str) -> Result<String> {
    url(env, "REDIS_URL", because, &["redis://", "rediss://", "unix://", "redis+unix://"])
}

fn choice(env: &Env<'_>, name: &str, allowed: &[&str]) -> Result<String> {
    let value = env.get(name).map(|v| v.trim().to_ascii_lowercase()).unwrap_or_else(|| allowed[0].to_owned());
    if allowed.contains(&value.as_str()) {
        Ok(value)
    } else {
        Err(Error::config(
            name,
            format!("expected one of {}, got {:?}", allowed.join(", "), env.get(name).unwrap_or_default()),
        ))
    }
}

fn url(env: &Env<'_>, name: &str, because: &str, schemes: &[&str]) -> Result<String> {
    let value = env.get(name).map(|v| v.trim().to_owned()).unwrap_or_default();
    if value.is_empty() {
        return Err(Error::config(name, format!("is required with {because}")));
    }
    if !schemes.iter().any(|scheme| value.to_ascii_lowercase().starts_with(scheme)) {
        return Err(Error::config(
            name,
            format!(
                "expected a URL starting with {}, got {:?}",
                schemes.join(" or "),
                redact::hidden(&value)
            ),
        ));
    }
    Ok(value)
}

fn non_empty(env: &Env<'_>, name: &str) -> Result<Option<String>> {
    match env.get(name).map(|v| v.trim().to_owned()) {
        Some(value) if value.is_empty() => Err(Error::config(name, "is empty; unset it or give a value")),
        other => Ok(other),
    }
}

/// `REDIS_KEY_PREFIX`, checked here so that a bad one is not reported as `REDIS_URL` later.
fn prefix(env: &Env<'_>) -> Result<String> {
    let prefix = non_empty(env, "REDIS_KEY_PREFIX")?.unwrap_or_else(|| "bindu".to_owned());
    check_prefix(&prefix).map_err(|reason| Error::config("REDIS_KEY_PREFIX", reason))?;
    Ok(prefix)
}

/// `DATABASE_SCHEMA`, checked here so that a bad one is not reported as `DATABASE_URL` later.
fn schema(env: &Env<'_>) -> Result<Option<String>> {
    let schema = non_empty(env, "DATABASE_SCHEMA")?;
    if let Some(schema) = &schema {
        check_schema(schema).map_err(|reason| Error::config("DATABASE_SCHEMA", reason))?;
    }
    Ok(schema)
}

impl fmt::Debug for StorageBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("Memory"),
            Self::Postgres { url, schema } => f
                .debug_struct("Postgres")
                .field("url", &redact::postgres(url))
                .field("schema", schema)
                .finish(),
            Self::Redis { url, prefix } => {
                f.debug_struct("Redis").field("url", &redact::redis(url)).field("prefix", prefix).finish()
            }
        }
    }
}

impl fmt::Debug for SchedulerBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("Memory"),
            Self::Redis { url, prefix } => {
                f.debug_struct("Redis").field("url", &redact::redis(url)).field("prefix", prefix).finish()
            }
            Self::Postgres { url, schema } => f
                .debug_struct("Postgres")
                .field("url", &redact::postgres(url))
                .field("schema", schema)
                .finish(),
        }
    }
}

impl fmt::Debug for AppSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppSettings")
            .field("storage", &self.storage)
            .field("scheduler", &self.scheduler)
            .field("retry", &self.retry)
            .field("worker", &self.worker)
            .field("retention", &self.retention)
            .field("webhook_allowed_networks", &self.webhook_allowed_networks)
            .field("input", &self.input)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<AppSettings> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        AppSettings::from(&Env::from_lookup(move |name| map.get(name).cloned()))
    }

    #[test]
    fn memory_by_default() {
        assert_eq!(settings(&[]).unwrap(), AppSettings::default());
    }

    #[test]
    fn postgres_and_redis_with_their_urls() {
        let s = settings(&[
            ("STORAGE_TYPE", "Postgres"),
            ("DATABASE_URL", "postgres://u:pw@db/app"),
            ("DATABASE_SCHEMA", "agent_1"),
            ("SCHEDULER_TYPE", "redis"),
            ("REDIS_URL", "redis://:pw@cache:6379/0"),
            ("REDIS_KEY_PREFIX", "agent-1"),
            ("WORKER_CONCURRENCY", "8"),
        ])
        .unwrap();
        assert_eq!(
            s.storage,
            StorageBackend::Postgres { url: "postgres://u:pw@db/app".into(), schema: Some("agent_1".into()) }
        );
        assert_eq!(
            s.scheduler,
            SchedulerBackend::Redis { url: "redis://:pw@cache:6379/0".into(), prefix: "agent-1".into() }
        );
        assert_eq!(s.worker.concurrency, 8);
        let debug = format!("{s:?}");
        assert!(!debug.contains("pw"), "{debug}");
    }

    const LONG_PREFIX: &str = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

    #[test]
    fn errors_name_the_setting() {
        assert_eq!(LONG_PREFIX.len(), 65);
        let cases: [(&[(&str, &str)], &str); 11] = [
            (
                &[("STORAGE_TYPE", "mongo")],
                "STORAGE_TYPE: expected one of memory, postgres, redis, got \"mongo\"",
            ),
            (&[("STORAGE_TYPE", "postgres")], "DATABASE_URL: is required with STORAGE_TYPE=postgres"),
            (
                &[("STORAGE_TYPE", "postgres"), ("DATABASE_URL", "mysql://u:pw@h/db")],
                "DATABASE_URL: expected a URL starting with postgres:// or postgresql://, got \"mysql://***\"",
            ),
            (
                &[("SCHEDULER_TYPE", "kafka")],
                "SCHEDULER_TYPE: expected one of memory, redis, postgres, got \"kafka\"",
            ),
            (&[("SCHEDULER_TYPE", "redis")], "REDIS_URL: is required with SCHEDULER_TYPE=redis"),
            (
                &[("SCHEDULER_TYPE", "redis"), ("REDIS_URL", "redis://h"), ("REDIS_KEY_PREFIX", " ")],
                "REDIS_KEY_PREFIX: is empty",
            ),
            (
                &[("STORAGE_TYPE", "redis"), ("REDIS_URL", "redis://:pw@h"), ("REDIS_KEY_PREFIX", "a{b}")],
                "REDIS_KEY_PREFIX: \"a{b}\": no braces",
            ),
            (
                &[("SCHEDULER_TYPE", "redis"), ("REDIS_URL", "redis://h"), ("REDIS_KEY_PREFIX", LONG_PREFIX)],
                "REDIS_KEY_PREFIX: \"xxxx",
            ),
            (
                &[
                    ("STORAGE_TYPE", "postgres"),
                    ("DATABASE_URL", "postgres://u:pw@h/db"),
                    ("DATABASE_SCHEMA", "Agent-7"),
                ],
                "DATABASE_SCHEMA: \"Agent-7\": use 1–63 lower-case letters",
            ),
            (&[("INPUT_MAX_DEPTH", "7")], "INPUT_MAX_DEPTH: expected a whole number from 8 to 100"),
            (
                &[("WORKER_CONCURRENCY", "0")],
                "WORKER_CONCURRENCY: expected a whole number from 1 to 10000, got \"0\"",
            ),
        ];
        for (vars, expected) in cases {
            let err = settings(vars).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{vars:?}: {err}");
            assert!(!err.contains("pw@"), "{err}");
        }
    }
}
