//! [`App`]: backends chosen by configuration, wrapped in [`Retrying`], connected with retries.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::memory::{InMemoryScheduler, InMemoryStorage};
use crate::redact;
use crate::retry::{Call, RetryPolicy, Retrying, execute_with_retry};
use crate::scheduler::Scheduler;
use crate::settings::{AppSettings, RetrySettings, SchedulerBackend, StorageBackend};
use crate::storage::Storage;
use crate::telemetry::{self, QueueLevels, QueueSampler};
use crate::worker::{Agent, Worker};

/// How often the queue's depth and age are sampled.
const QUEUE_SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// A connected storage and scheduler, each wrapped in [`Retrying`] with its role's policy, retry
/// budget and circuit breaker (`RETRY__*`), named after its backend in metrics and spans (see
/// [`telemetry`](crate::telemetry)). When a metrics recorder is installed, `connect` describes
/// the metrics to it and the scheduler's queue is sampled every 5 s while the app lives.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> bindu::Result<()> {
/// let app = bindu::App::connect(&bindu::AppSettings::default()).await?; // memory + memory
/// # app.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct App {
    /// The storage, `Retrying`-wrapped.
    pub storage: Arc<dyn Storage>,
    /// The scheduler, `Retrying`-wrapped.
    pub scheduler: Arc<dyn Scheduler>,
    /// The settings it was built from.
    pub settings: AppSettings,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl App {
    /// Reads [`AppSettings::from_env`] and connects.
    pub async fn from_env() -> Result<Self> {
        Self::connect(&AppSettings::from_env()?).await
    }

    /// Connects the configured backends. Each connection is a real round trip, retried under
    /// the storage or scheduler policy while it fails transiently (every attempt is logged);
    /// a permanent failure — malformed URL, bad credentials, unknown database — stops at once
    /// with an error naming the setting. If the scheduler cannot be had, the storage is closed.
    pub async fn connect(settings: &AppSettings) -> Result<Self> {
        telemetry::describe();
        // Boxed: the connect futures of every backend nest deeply, and a caller's `main` that
        // awaits this inline would inherit their depth (rustc's layout recursion limit).
        let storage = Box::pin(connect_storage(settings)).await?;
        let (scheduler, memory) = match Box::pin(connect_scheduler(settings)).await {
            Ok(scheduler) => scheduler,
            Err(err) => {
                if let Err(close) = storage.close().await {
                    tracing::warn!(error = %close, "could not close the storage after a failed start-up");
                }
                return Err(err);
            }
        };
        let retry = &settings.retry;
        let backends = [
            (storage_name(&settings.storage), "storage", &retry.storage_guards),
            (scheduler_name(&settings.scheduler), "scheduler", &retry.scheduler_guards),
        ];
        for (backend, role, guards) in backends {
            telemetry::start::decorator(backend, role, guards.budget.as_ref(), guards.breaker.is_some());
        }
        telemetry::start::scheduler(scheduler_name(&settings.scheduler));
        sample_queue(scheduler_name(&settings.scheduler), &scheduler, memory);
        Ok(Self { storage, scheduler, settings: settings.clone() })
    }

    /// A worker for `agent` on these backends, as the settings say: concurrency, lease, heartbeat,
    /// agent deadline, the worker policy, and rescue of tasks left without a run (on by default).
    pub fn worker(&self, agent: Arc<dyn Agent>) -> Worker {
        let options = self.settings.worker.options(self.settings.retry.worker);
        Worker::new(Arc::clone(&self.storage), Arc::clone(&self.scheduler), agent).with_options(options)
    }

    /// Closes the storage (the scheduler closes when dropped).
    pub async fn close(&self) {
        if let Err(err) = self.storage.close().await {
            tracing::warn!(error = %err, "could not close the storage");
        }
    }
}

async fn connect_storage(settings: &AppSettings) -> Result<Arc<dyn Storage>> {
    let retry = &settings.retry;
    match &settings.storage {
        StorageBackend::Memory => Ok(Arc::new(storage_decorator(InMemoryStorage::new(), "memory", retry))),
        StorageBackend::Postgres { url, schema } => postgres_storage(url, schema.as_deref(), retry).await,
        StorageBackend::Redis { url, prefix } => redis_storage(url, prefix, retry).await,
    }
}

/// The scheduler, and a handle on it when it is the in-memory one (for [`sample_queue`]).
async fn connect_scheduler(
    settings: &AppSettings,
) -> Result<(Arc<dyn Scheduler>, Option<InMemoryScheduler>)> {
    let retry = &settings.retry;
    match &settings.scheduler {
        SchedulerBackend::Memory => {
            let memory = InMemoryScheduler::new();
            Ok((Arc::new(scheduler_decorator(memory.clone(), "memory", retry)), Some(memory)))
        }
        SchedulerBackend::Redis { url, prefix } => Ok((redis_scheduler(url, prefix, retry).await?, None)),
        SchedulerBackend::Postgres { url, schema } => {
            Ok((postgres_scheduler(url, schema.as_deref(), retry).await?, None))
        }
    }
}

/// The storage's `backend` label.
const fn storage_name(backend: &StorageBackend) -> &'static str {
    match backend {
        StorageBackend::Memory => "memory",
        StorageBackend::Postgres { .. } => "postgres",
        StorageBackend::Redis { .. } => "redis",
    }
}

/// The scheduler's `backend` label.
const fn scheduler_name(backend: &SchedulerBackend) -> &'static str {
    match backend {
        SchedulerBackend::Memory => "memory",
        SchedulerBackend::Redis { .. } => "redis",
        SchedulerBackend::Postgres { .. } => "postgres",
    }
}

/// Samples the queue's levels into the queue gauges while `scheduler` (the app's) lives. The
/// levels come from what the backend tells: the in-memory scheduler's count of operations
/// waiting (which tells neither lanes nor ages apart, so all are reported as runs, with no age);
/// the other backends are not sampled.
fn sample_queue(backend: &'static str, scheduler: &Arc<dyn Scheduler>, memory: Option<InMemoryScheduler>) {
    let Some(memory) = memory else { return };
    let alive = Arc::downgrade(scheduler);
    QueueSampler::spawn(backend, QUEUE_SAMPLE_EVERY, move || {
        alive.upgrade()?;
        let memory = memory.clone();
        Some(async move {
            Ok(QueueLevels { waiting_runs: memory.pending() as u64, ..QueueLevels::default() })
        })
    })
    .detach();
}

#[cfg(feature = "postgres")]
async fn postgres_storage(
    url: &str,
    schema: Option<&str>,
    retry: &RetrySettings,
) -> Result<Arc<dyn Storage>> {
    use crate::postgres::{PostgresOptions, PostgresStorage};
    let mut options = PostgresOptions::from_url(url).map_err(|err| named("DATABASE_URL", url, err))?;
    options.schema = schema.map(str::to_owned);
    let storage =
        start_up("storage", "DATABASE_URL", url, &retry.storage, Call::idempotent("connect_storage"), || {
            PostgresStorage::connect_with(options.clone())
        })
        .await?;
    Ok(Arc::new(storage_decorator(storage, "postgres", retry)))
}

#[cfg(feature = "postgres")]
async fn postgres_scheduler(
    url: &str,
    schema: Option<&str>,
    retry: &RetrySettings,
) -> Result<Arc<dyn Scheduler>> {
    use crate::postgres::{PostgresScheduler, PostgresSchedulerOptions};
    let mut options =
        PostgresSchedulerOptions::from_url(url).map_err(|err| named("DATABASE_URL", url, err))?;
    options.postgres.schema = schema.map(str::to_owned);
    let scheduler = start_up(
        "scheduler",
        "DATABASE_URL",
        url,
        &retry.scheduler,
        Call::idempotent("connect_scheduler"),
        || PostgresScheduler::connect_with(options.clone()),
    )
    .await?;
    Ok(Arc::new(scheduler_decorator(scheduler, "postgres", retry)))
}

#[cfg(not(feature = "postgres"))]
async fn postgres_scheduler(_: &str, _: Option<&str>, _: &RetrySettings) -> Result<Arc<dyn Scheduler>> {
    Err(Error::config("SCHEDULER_TYPE", "postgres needs bindu built with the `postgres` feature"))
}

#[cfg(not(feature = "postgres"))]
async fn postgres_storage(_: &str, _: Option<&str>, _: &RetrySettings) -> Result<Arc<dyn Storage>> {
    Err(Error::config("STORAGE_TYPE", "postgres needs bindu built with the `postgres` feature"))
}

#[cfg(feature = "redis")]
async fn redis_scheduler(url: &str, prefix: &str, retry: &RetrySettings) -> Result<Arc<dyn Scheduler>> {
    use crate::redis::{RedisScheduler, RedisSchedulerOptions};
    let mut options = RedisSchedulerOptions::from_url(url).map_err(|err| named("REDIS_URL", url, err))?;
    options.redis.prefix = prefix.to_owned();
    let scheduler = start_up(
        "scheduler",
        "REDIS_URL",
        url,
        &retry.scheduler,
        Call::idempotent("connect_scheduler"),
        || RedisScheduler::connect_with(options.clone()),
    )
    .await?;
    Ok(Arc::new(scheduler_decorator(scheduler, "redis", retry)))
}

#[cfg(feature = "redis")]
async fn redis_storage(url: &str, prefix: &str, retry: &RetrySettings) -> Result<Arc<dyn Storage>> {
    use crate::redis::{RedisOptions, RedisStorage};
    let mut options = RedisOptions::from_url(url).map_err(|err| named("REDIS_URL", url, err))?;
    options.prefix = prefix.to_owned();
    let storage =
        start_up("storage", "REDIS_URL", url, &retry.storage, Call::idempotent("connect_storage"), || {
            RedisStorage::connect_with(options.clone())
        })
        .await?;
    Ok(Arc::new(storage_decorator(storage, "redis", retry)))
}

#[cfg(not(feature = "redis"))]
async fn redis_storage(_: &str, _: &str, _: &RetrySettings) -> Result<Arc<dyn Storage>> {
    Err(Error::config("STORAGE_TYPE", "redis needs bindu built with the `redis` feature"))
}

#[cfg(not(feature = "redis"))]
async fn redis_scheduler(_: &str, _: &str, _: &RetrySettings) -> Result<Arc<dyn Scheduler>> {
    Err(Error::config("SCHEDULER_TYPE", "redis needs bindu built with the `redis` feature"))
}

/// A storage backend in its decorator, named `backend`: the storage policy, budget and breaker
/// of `retry`.
fn storage_decorator<S: Storage>(storage: S, backend: &'static str, retry: &RetrySettings) -> Retrying<S> {
    retry.storage_guards.apply(Retrying::with_policy(storage, retry.storage).named(backend))
}

/// A scheduler backend in its decorator, named `backend`: the scheduler policy, budget and
/// breaker of `retry`.
fn scheduler_decorator<S: Scheduler>(
    scheduler: S,
    backend: &'static str,
    retry: &RetrySettings,
) -> Retrying<S> {
    retry.scheduler_guards.apply(Retrying::with_policy(scheduler, retry.scheduler).named(backend))
}

/// Connects under `policy`, logging each attempt; the final error names `setting`.
#[cfg_attr(not(any(feature = "postgres", feature = "redis")), allow(dead_code))]
async fn start_up<T, F, Fut>(
    role: &str,
    setting: &'static str,
    url: &str,
    policy: &RetryPolicy,
    call: Call,
    mut connect: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let shown = redact::url(url);
    let mut attempt = 0u32;
    let connected = execute_with_retry(policy, call, || {
        attempt += 1;
        tracing::info!(role, url = %shown, attempt, max_attempts = policy.max_attempts, "connecting");
        connect()
    })
    .await;
    match connected {
        Ok(backend) => {
            tracing::info!(role, url = %shown, attempt, "connected");
            Ok(backend)
        }
        Err(err) => Err(named(setting, url, err)),
    }
}

/// Names the setting in a start-up error (a configuration error already names one).
fn named(setting: &'static str, url: &str, err: Error) -> Error {
    match err {
        Error::Config { .. } => err,
        other => Error::config(setting, format!("cannot connect to {}: {other}", redact::url(url))),
    }
}
