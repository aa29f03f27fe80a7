//! [`Health`]: what a readiness probe and an operator need to know, from one real round trip to
//! each backend ([`App::health`](crate::App::health)).

use std::future::Future;
use std::time::{Duration, Instant};

use crate::model::QueueStats;
use crate::redact;
use crate::scheduler::Scheduler;
use crate::settings::{AppSettings, SchedulerBackend, StorageBackend};
use crate::storage::Storage;

/// How long each check may take before its backend counts as unreachable.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// One backend's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendHealth {
    /// `storage` or `scheduler`.
    pub role: &'static str,
    /// `memory`, `postgres` or `redis`.
    pub kind: &'static str,
    /// Where it is: its URL without the password, or `in process`.
    pub target: String,
    /// How long the check took.
    pub latency: Duration,
    /// Why it failed, free of secrets; `None` when it answered.
    pub error: Option<String>,
}

impl BackendHealth {
    /// Whether it answered.
    pub fn is_up(&self) -> bool {
        self.error.is_none()
    }
}

/// The backends' answers and the queue's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// The storage: one `ping`.
    pub storage: BackendHealth,
    /// The scheduler: one `ping`, then its [`stats`](crate::Scheduler::stats).
    pub scheduler: BackendHealth,
    /// The queue, when the scheduler answered: depth per lane, in flight, the oldest waiting
    /// operation's age, dead letters.
    pub queue: Option<QueueStats>,
}

impl Health {
    /// Whether every backend answered: ready to serve.
    pub fn is_healthy(&self) -> bool {
        self.storage.is_up() && self.scheduler.is_up()
    }
}

/// Where a backend is, for [`BackendHealth`]: its kind and target.
#[derive(Clone, Debug)]
pub struct Target {
    /// `memory`, `postgres` or `redis`.
    pub kind: &'static str,
    /// Its URL without the password, or `in process`.
    pub target: String,
}

/// The storage's and the scheduler's kind and place, as `settings` configure them.
pub fn targets(settings: &AppSettings) -> (Target, Target) {
    let here = || "in process".to_owned();
    let storage = match &settings.storage {
        StorageBackend::Memory => Target { kind: "memory", target: here() },
        StorageBackend::Postgres { url, .. } => Target { kind: "postgres", target: redact::postgres(url) },
        StorageBackend::Redis { url, .. } => Target { kind: "redis", target: redact::redis(url) },
    };
    let scheduler = match &settings.scheduler {
        SchedulerBackend::Memory => Target { kind: "memory", target: here() },
        SchedulerBackend::Postgres { url, .. } => Target { kind: "postgres", target: redact::postgres(url) },
        SchedulerBackend::Redis { url, .. } => Target { kind: "redis", target: redact::redis(url) },
    };
    (storage, scheduler)
}

/// Checks `storage` and `scheduler` concurrently, each call bounded by [`CHECK_TIMEOUT`]. Give
/// it the backends themselves, not their [`Retrying`](crate::Retrying) decorators: a probe wants
/// one round trip, not a retry policy.
pub async fn check(storage: (&dyn Storage, Target), scheduler: (&dyn Scheduler, Target)) -> Health {
    let (storage, (scheduler, queue)) = tokio::join!(timed("storage", storage.1, storage.0.ping()), async {
        let (backend, target) = scheduler;
        let mut health = timed("scheduler", target, backend.ping()).await;
        if !health.is_up() {
            return (health, None);
        }
        let started = Instant::now();
        match bounded(backend.stats()).await {
            Ok(stats) => (health, Some(stats)),
            Err(err) => {
                health.latency += started.elapsed();
                health.error = Some(format!("stats: {err}"));
                (health, None)
            }
        }
    });
    Health { storage, scheduler, queue }
}

async fn timed(
    role: &'static str,
    target: Target,
    call: impl Future<Output = crate::Result<()>>,
) -> BackendHealth {
    let started = Instant::now();
    let error = bounded(call).await.err();
    BackendHealth { role, kind: target.kind, target: target.target, latency: started.elapsed(), error }
}

async fn bounded<T>(call: impl Future<Output = crate::Result<T>>) -> Result<T, String> {
    match tokio::time::timeout(CHECK_TIMEOUT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
    }
}
