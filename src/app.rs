//! [`App`]: backends chosen by configuration, wrapped in [`Retrying`], connected with retries;
//! their health, and the pruning of finished work in the background.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::health::{self, Health};
use crate::memory::{InMemoryScheduler, InMemoryStorage};
use crate::model::{ContextId, InputLimits, Message, Submission};
#[cfg(any(feature = "postgres", feature = "redis"))]
use crate::redact;
use crate::retention::Pruner;
use crate::retry::{Call, RetryPolicy, Retrying, execute_with_retry};
use crate::scheduler::Scheduler;
use crate::settings::{AppSettings, RetrySettings, SchedulerBackend, StorageBackend};
use crate::storage::Storage;
use crate::telemetry::{self, QueueLevels, QueueSampler};
use crate::worker::{Agent, Worker};

/// How often the queue's depth and oldest age are sampled into gauges (when metrics are on).
const QUEUE_SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// A connected storage and scheduler, each wrapped in [`Retrying`] with its role's policy, retry
/// budget and circuit breaker (`RETRY__*`), named after its backend in metrics and spans (see
/// [`telemetry`]); [`health`](App::health) for readiness probes; unless
/// `RETENTION_INTERVAL` is 0, a background task pruning finished work (`RETENTION_*`, see
/// [`retention`](crate::retention)), stopped by [`close`](Self::close). When a metrics recorder
/// is installed, `connect` describes the metrics to it and the scheduler's queue is sampled every
/// 5 s while the app lives.
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
    /// The backends without their decorators, for health checks: one round trip, no retries.
    bare: Backends,
    /// Shared by the clones; dropping the last one stops it too.
    pruner: Option<Arc<Pruner>>,
    /// Both backends on one PostgreSQL database: [`submit`](Self::submit) commits once.
    #[cfg(feature = "postgres")]
    pipeline: Option<crate::postgres::PostgresPipeline>,
}

/// A backend's two handles: itself, and in its decorator; and a PostgreSQL backend by its own
/// type, to combine with the other half ([`PostgresPipeline`](crate::postgres::PostgresPipeline)).
struct Connected<T: ?Sized> {
    bare: Arc<T>,
    decorated: Arc<T>,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    postgres: Half,
}

/// One half of a [`PostgresPipeline`](crate::postgres::PostgresPipeline), or none.
enum Half {
    None,
    #[cfg(feature = "postgres")]
    Storage(Arc<crate::postgres::PostgresStorage>),
    #[cfg(feature = "postgres")]
    Scheduler(Arc<crate::postgres::PostgresScheduler>),
}

/// Submits and schedules in one transaction when both halves are PostgreSQL: they then share
/// `DATABASE_URL`, so one database.
#[cfg(feature = "postgres")]
fn pipeline(storage: &Half, scheduler: &Half) -> Option<crate::postgres::PostgresPipeline> {
    match (storage, scheduler) {
        (Half::Storage(storage), Half::Scheduler(scheduler)) => {
            Some(crate::postgres::PostgresPipeline::new(Arc::clone(storage), Arc::clone(scheduler)))
        }
        _ => None,
    }
}

#[derive(Clone)]
struct Backends {
    storage: Arc<dyn Storage>,
    scheduler: Arc<dyn Scheduler>,
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
        let scheduler = match Box::pin(connect_scheduler(settings)).await {
            Ok(scheduler) => scheduler,
            Err(err) => {
                if let Err(close) = storage.decorated.close().await {
                    tracing::warn!(error = %close, "could not close the storage after a failed start-up");
                }
                return Err(err);
            }
        };
        let retry = &settings.retry;
        let (storage_name, scheduler_name) =
            (storage_name(&settings.storage), scheduler_name(&settings.scheduler));
        for (backend, role, guards) in [
            (storage_name, "storage", &retry.storage_guards),
            (scheduler_name, "scheduler", &retry.scheduler_guards),
        ] {
            telemetry::start::decorator(backend, role, guards.budget.as_ref(), guards.breaker.is_some());
        }
        telemetry::start::scheduler(scheduler_name);
        sample_queue(scheduler_name, &scheduler.decorated, &scheduler.bare);
        let pruner = Pruner::spawn(
            Arc::clone(&storage.decorated),
            Arc::clone(&scheduler.decorated),
            settings.retention,
        )
        .map(Arc::new);
        Ok(Self {
            #[cfg(feature = "postgres")]
            pipeline: pipeline(&storage.postgres, &scheduler.postgres),
            storage: storage.decorated,
            scheduler: scheduler.decorated,
            settings: settings.clone(),
            bare: Backends { storage: storage.bare, scheduler: scheduler.bare },
            pruner,
        })
    }

    /// An app on backends built by hand (decorated or not, as they come): no pruning runs, and
    /// [`health`](Self::health) checks these very backends.
    pub fn with_backends(
        storage: Arc<dyn Storage>,
        scheduler: Arc<dyn Scheduler>,
        settings: AppSettings,
    ) -> Self {
        let bare = Backends { storage: Arc::clone(&storage), scheduler: Arc::clone(&scheduler) };
        Self {
            storage,
            scheduler,
            settings,
            bare,
            pruner: None,
            #[cfg(feature = "postgres")]
            pipeline: None,
        }
    }

    /// Accepts `message` for the task it names ([`Storage::submit_task`]) and schedules the run
    /// it calls for ([`Submission::run_for`]): a new or continued task's, or a resend's while the
    /// task still waits for it. Safe to call again with the same message: nothing runs twice.
    ///
    /// When both backends are PostgreSQL (one database), the submit and the run commit in one
    /// transaction ([`PostgresPipeline`](crate::postgres::PostgresPipeline)), retried as one
    /// under the storage policy; otherwise each goes through its own `Retrying`. A failure after
    /// the submit leaves the task waiting: calling again (a client's resend) schedules it, and
    /// the worker's rescue of waiting tasks would too.
    pub async fn submit(
        &self,
        context_id: ContextId,
        message: &Message,
        owner: Option<&str>,
    ) -> Result<Submission> {
        #[cfg(feature = "postgres")]
        if let Some(pipeline) = &self.pipeline {
            let call = Call::idempotent("submit_and_schedule");
            return execute_with_retry(&self.settings.retry.storage, call, || {
                pipeline.submit(context_id, message, owner)
            })
            .await;
        }
        let submission = self.storage.submit_task(context_id, message, owner).await?;
        if let Some(run) = submission.run_for(message) {
            self.scheduler.enqueue(&run).await?;
        }
        Ok(submission)
    }

    /// One real round trip to each backend — without retries, each bounded by
    /// [`CHECK_TIMEOUT`](crate::health::CHECK_TIMEOUT) — with its latency, and the queue's depth,
    /// oldest waiting age and dead letters. [`Health::is_healthy`] is the readiness answer.
    pub async fn health(&self) -> Health {
        let (storage, scheduler) = health::targets(&self.settings);
        health::check((&*self.bare.storage, storage), (&*self.bare.scheduler, scheduler)).await
    }

    /// A worker for `agent` on these backends, as the settings say: concurrency, lease, heartbeat,
    /// agent deadline, the worker policy, and rescue of tasks left without a run (on by default).
    /// When both backends are PostgreSQL, it stores each run's result and acknowledges the run in
    /// one transaction ([`Worker::with_finisher`]).
    pub fn worker(&self, agent: Arc<dyn Agent>) -> Worker {
        let options = self.settings.worker.options(self.settings.retry.worker);
        let worker =
            Worker::new(Arc::clone(&self.storage), Arc::clone(&self.scheduler), agent).with_options(options);
        #[cfg(feature = "postgres")]
        if let Some(pipeline) = &self.pipeline {
            return worker.with_finisher(Arc::new(pipeline.clone()));
        }
        worker
    }

    /// Stops the background pruning and closes the storage (the scheduler closes when dropped).
    pub async fn close(&self) {
        if let Some(pruner) = &self.pruner {
            pruner.stop().await;
        }
        if let Err(err) = self.storage.close().await {
            tracing::warn!(error = %err, "could not close the storage");
        }
    }
}

async fn connect_storage(settings: &AppSettings) -> Result<Connected<dyn Storage>> {
    let (retry, limits) = (&settings.retry, settings.input);
    match &settings.storage {
        StorageBackend::Memory => {
            Ok(storage_decorator(Arc::new(InMemoryStorage::with_limits(limits)), "memory", retry))
        }
        StorageBackend::Postgres { url, schema } => {
            postgres_storage(url, schema.as_deref(), limits, retry).await
        }
        StorageBackend::Redis { url, prefix } => redis_storage(url, prefix, limits, retry).await,
    }
}

async fn connect_scheduler(settings: &AppSettings) -> Result<Connected<dyn Scheduler>> {
    match &settings.scheduler {
        SchedulerBackend::Memory => {
            Ok(scheduler_decorator(Arc::new(InMemoryScheduler::new()), "memory", &settings.retry))
        }
        SchedulerBackend::Redis { url, prefix } => redis_scheduler(url, prefix, settings).await,
        SchedulerBackend::Postgres { url, schema } => {
            postgres_scheduler(url, schema.as_deref(), &settings.retry).await
        }
    }
}

#[cfg(feature = "postgres")]
async fn postgres_storage(
    url: &str,
    schema: Option<&str>,
    limits: InputLimits,
    retry: &RetrySettings,
) -> Result<Connected<dyn Storage>> {
    use crate::postgres::{PostgresOptions, PostgresStorage};
    let shown = redact::postgres(url);
    let mut options = PostgresOptions::from_url(url).map_err(|err| named("DATABASE_URL", &shown, err))?;
    options.schema = schema.map(str::to_owned);
    options.limits = limits;
    check_schema(schema)?;
    let storage = start_up(
        "storage",
        "DATABASE_URL",
        &shown,
        &retry.storage,
        Call::idempotent("connect_storage"),
        || PostgresStorage::connect_with(options.clone()),
    )
    .await?;
    let storage = Arc::new(storage);
    Ok(Connected {
        postgres: Half::Storage(Arc::clone(&storage)),
        ..storage_decorator(storage, "postgres", retry)
    })
}

#[cfg(feature = "postgres")]
async fn postgres_scheduler(
    url: &str,
    schema: Option<&str>,
    retry: &RetrySettings,
) -> Result<Connected<dyn Scheduler>> {
    use crate::postgres::{PostgresScheduler, PostgresSchedulerOptions};
    let shown = redact::postgres(url);
    let mut options =
        PostgresSchedulerOptions::from_url(url).map_err(|err| named("DATABASE_URL", &shown, err))?;
    options.postgres.schema = schema.map(str::to_owned);
    check_schema(schema)?;
    let scheduler = start_up(
        "scheduler",
        "DATABASE_URL",
        &shown,
        &retry.scheduler,
        Call::idempotent("connect_scheduler"),
        || PostgresScheduler::connect_with(options.clone()),
    )
    .await?;
    let scheduler = Arc::new(scheduler);
    Ok(Connected {
        postgres: Half::Scheduler(Arc::clone(&scheduler)),
        ..scheduler_decorator(scheduler, "postgres", retry)
    })
}

/// A bad schema is the schema's fault, not the URL's.
#[cfg(feature = "postgres")]
fn check_schema(schema: Option<&str>) -> Result<()> {
    let check = |schema| crate::settings::names::check_schema(schema);
    schema.map_or(Ok(()), check).map_err(|reason| Error::config("DATABASE_SCHEMA", reason))
}

#[cfg(not(feature = "postgres"))]
async fn postgres_scheduler(_: &str, _: Option<&str>, _: &RetrySettings) -> Result<Connected<dyn Scheduler>> {
    Err(Error::config("SCHEDULER_TYPE", "postgres needs bindu built with the `postgres` feature"))
}

#[cfg(not(feature = "postgres"))]
async fn postgres_storage(
    _: &str,
    _: Option<&str>,
    _: InputLimits,
    _: &RetrySettings,
) -> Result<Connected<dyn Storage>> {
    Err(Error::config("STORAGE_TYPE", "postgres needs bindu built with the `postgres` feature"))
}

#[cfg(feature = "redis")]
async fn redis_scheduler(
    url: &str,
    prefix: &str,
    settings: &AppSettings,
) -> Result<Connected<dyn Scheduler>> {
    use crate::redis::{RedisScheduler, RedisSchedulerOptions};
    let retry = &settings.retry;
    let shown = redact::redis(url);
    let mut options = RedisSchedulerOptions::from_url(url).map_err(|err| named("REDIS_URL", &shown, err))?;
    options.redis.prefix = prefix.to_owned();
    check_prefix(prefix)?;
    // Redis forgets acknowledged operations by letting their dedup keys expire.
    options.dedup_ttl = settings.retention.operations;
    let scheduler = start_up(
        "scheduler",
        "REDIS_URL",
        &shown,
        &retry.scheduler,
        Call::idempotent("connect_scheduler"),
        || RedisScheduler::connect_with(options.clone()),
    )
    .await?;
    Ok(scheduler_decorator(Arc::new(scheduler), "redis", retry))
}

#[cfg(feature = "redis")]
async fn redis_storage(
    url: &str,
    prefix: &str,
    limits: InputLimits,
    retry: &RetrySettings,
) -> Result<Connected<dyn Storage>> {
    use crate::redis::{RedisOptions, RedisStorage};
    let shown = redact::redis(url);
    let mut options = RedisOptions::from_url(url).map_err(|err| named("REDIS_URL", &shown, err))?;
    options.prefix = prefix.to_owned();
    options.limits = limits;
    check_prefix(prefix)?;
    let storage =
        start_up("storage", "REDIS_URL", &shown, &retry.storage, Call::idempotent("connect_storage"), || {
            RedisStorage::connect_with(options.clone())
        })
        .await?;
    Ok(storage_decorator(Arc::new(storage), "redis", retry))
}

/// A bad prefix is the prefix's fault, not the URL's.
#[cfg(feature = "redis")]
fn check_prefix(prefix: &str) -> Result<()> {
    crate::settings::names::check_prefix(prefix).map_err(|reason| Error::config("REDIS_KEY_PREFIX", reason))
}

#[cfg(not(feature = "redis"))]
async fn redis_storage(
    _: &str,
    _: &str,
    _: InputLimits,
    _: &RetrySettings,
) -> Result<Connected<dyn Storage>> {
    Err(Error::config("STORAGE_TYPE", "redis needs bindu built with the `redis` feature"))
}

#[cfg(not(feature = "redis"))]
async fn redis_scheduler(_: &str, _: &str, _: &AppSettings) -> Result<Connected<dyn Scheduler>> {
    Err(Error::config("SCHEDULER_TYPE", "redis needs bindu built with the `redis` feature"))
}

/// A storage backend, and the same in its decorator, named `backend`: the storage policy, budget
/// and breaker of `retry`.
fn storage_decorator<S: Storage + 'static>(
    bare: Arc<S>,
    backend: &'static str,
    retry: &RetrySettings,
) -> Connected<dyn Storage> {
    let decorated =
        retry.storage_guards.apply(Retrying::with_policy(Arc::clone(&bare), retry.storage).named(backend));
    Connected { bare, decorated: Arc::new(decorated), postgres: Half::None }
}

/// A scheduler backend, and the same in its decorator, named `backend`: the scheduler policy,
/// budget and breaker of `retry`.
fn scheduler_decorator<S: Scheduler + 'static>(
    bare: Arc<S>,
    backend: &'static str,
    retry: &RetrySettings,
) -> Connected<dyn Scheduler> {
    let decorated = retry
        .scheduler_guards
        .apply(Retrying::with_policy(Arc::clone(&bare), retry.scheduler).named(backend));
    Connected { bare, decorated: Arc::new(decorated), postgres: Half::None }
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

/// Samples the queue's depth per lane and its oldest waiting age into gauges every
/// `QUEUE_SAMPLE_EVERY`, from the bare scheduler's [`stats`](Scheduler::stats) (one round trip,
/// no retries), for as long as `alive` — the app's scheduler — lives.
fn sample_queue(backend: &'static str, alive: &Arc<dyn Scheduler>, bare: &Arc<dyn Scheduler>) {
    let (alive, bare) = (Arc::downgrade(alive), Arc::clone(bare));
    QueueSampler::spawn(backend, QUEUE_SAMPLE_EVERY, move || {
        alive.upgrade()?;
        let bare = Arc::clone(&bare);
        Some(async move {
            let stats = bare.stats().await?;
            Ok(QueueLevels {
                waiting_runs: stats.waiting_runs,
                waiting_control: stats.waiting_control,
                oldest_waiting_age: stats.oldest_waiting_age,
            })
        })
    })
    .detach();
}

/// Connects under `policy`, logging each attempt with `shown` (the redacted URL); the final
/// error names `setting`.
#[cfg_attr(not(any(feature = "postgres", feature = "redis")), allow(dead_code))]
async fn start_up<T, F, Fut>(
    role: &str,
    setting: &'static str,
    shown: &str,
    policy: &RetryPolicy,
    call: Call,
    mut connect: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
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
        Err(err) => Err(named(setting, shown, err)),
    }
}

/// Names the setting in a start-up error (a configuration error already names one); `shown` is
/// the redacted URL.
#[cfg_attr(not(any(feature = "postgres", feature = "redis")), allow(dead_code))]
fn named(setting: &'static str, shown: &str, err: Error) -> Error {
    match err {
        Error::Config { .. } => err,
        other => Error::config(setting, format!("cannot connect to {shown}: {other}")),
    }
}
