//! Real PostgreSQL and Redis servers for the run-once tests: a backend pair whose servers the
//! test can kill and restart, and the worker options those tests use.
#![cfg(all(feature = "postgres", feature = "redis"))]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bindu::postgres::{
    PostgresOptions, PostgresPipeline, PostgresScheduler, PostgresSchedulerOptions, PostgresStorage,
};
use bindu::redis::{RedisScheduler, RedisSchedulerOptions};
use bindu::settings::GuardSettings;
use bindu::worker::{Agent, Finisher, RescueOptions, Worker, WorkerHandle, WorkerOptions};
use bindu::{RetryPolicy, Retrying, Scheduler, Storage};
use bindu_test_support::{PostgresServer, RedisServer, RedisServerOptions};

/// Which scheduler the pair uses; storage is always PostgreSQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queue {
    /// A Redis stream.
    Redis,
    /// The queue table in the same PostgreSQL.
    Postgres,
}

/// PostgreSQL storage with a Redis or PostgreSQL scheduler, on servers of their own.
pub struct Pair {
    pub queue: Queue,
    pub postgres: Arc<Mutex<PostgresServer>>,
    pub redis: Option<Arc<RedisServer>>,
    pub storage_options: PostgresOptions,
    pub redis_options: Option<RedisSchedulerOptions>,
    pub storage: Arc<dyn Storage>,
    pub scheduler: Arc<dyn Scheduler>,
    /// With the PostgreSQL queue, what `App` gives its workers: results and acknowledgements in
    /// one transaction.
    pub finisher: Option<Arc<dyn Finisher>>,
}

/// Retries well short of every outage these tests make.
pub const SHORT: RetryPolicy = RetryPolicy::new(3, Duration::from_millis(50), Duration::from_millis(200))
    .with_deadline(Some(Duration::from_secs(2)));

impl Pair {
    /// Fresh servers (Redis with `appendfsync always`, so nothing acknowledged is lost to a kill),
    /// and backends wrapped the way `App` wraps them, with `policy` and `guards`.
    pub async fn start(queue: Queue, lease: Duration, policy: RetryPolicy, guards: GuardSettings) -> Self {
        let postgres = tokio::task::spawn_blocking(PostgresServer::start).await.unwrap();
        let storage_options = postgres.options();
        let redis = match queue {
            Queue::Redis => Some(Arc::new(
                tokio::task::spawn_blocking(|| {
                    RedisServer::spawn(RedisServerOptions {
                        persistent: true,
                        ..RedisServerOptions::default()
                    })
                })
                .await
                .unwrap(),
            )),
            Queue::Postgres => None,
        };
        let redis_options = redis.as_ref().map(|redis| {
            let mut options = redis.quick_scheduler_options();
            // Redelivery only once a delivery has gone silent for as long as a claim lasts.
            options.min_idle = lease;
            options.max_deliveries = 5;
            options
        });
        let storage = Arc::new(PostgresStorage::connect_with(storage_options.clone()).await.unwrap());
        let (scheduler, finisher): (Box<dyn Scheduler>, Option<Arc<dyn Finisher>>) = match queue {
            Queue::Redis => {
                (connect_scheduler(queue, &storage_options, redis_options.as_ref(), lease).await, None)
            }
            Queue::Postgres => {
                let scheduler = Arc::new(postgres_scheduler(&storage_options, lease).await);
                let pipeline = PostgresPipeline::new(Arc::clone(&storage), Arc::clone(&scheduler));
                (Box::new(scheduler), Some(Arc::new(pipeline)))
            }
        };
        let storage: Arc<dyn Storage> = Arc::new(guards.apply(Retrying::with_policy(storage, policy)));
        let scheduler: Arc<dyn Scheduler> = Arc::new(guards.apply(Retrying::with_policy(scheduler, policy)));
        Self {
            queue,
            postgres: Arc::new(Mutex::new(postgres)),
            redis,
            storage_options,
            redis_options,
            storage,
            scheduler,
            finisher,
        }
    }

    /// A worker on the pair's storage and `queue`, wired as `App` wires it.
    pub fn worker(
        &self,
        queue: &Arc<dyn Scheduler>,
        agent: Arc<dyn Agent>,
        options: WorkerOptions,
    ) -> Worker {
        let worker = Worker::new(Arc::clone(&self.storage), Arc::clone(queue), agent).with_options(options);
        match &self.finisher {
            Some(finisher) => worker.with_finisher(Arc::clone(finisher)),
            None => worker,
        }
    }

    /// `count` workers on the pair's backends running `agent`, wired as `App` wires them.
    pub fn spawn_workers(
        &self,
        agent: Arc<dyn Agent>,
        count: usize,
        options: WorkerOptions,
    ) -> Vec<WorkerHandle> {
        (0..count).map(|_| self.worker(&self.scheduler, Arc::clone(&agent), options).spawn()).collect()
    }

    /// A second queue of the pair's kind on the same servers (another Redis prefix, another
    /// PostgreSQL schema), empty, with the same lease.
    pub async fn other_queue(&self, lease: Duration, policy: RetryPolicy) -> Arc<dyn Scheduler> {
        let storage_options = self.postgres.lock().unwrap().options();
        let redis_options = self.redis.as_ref().map(|redis| {
            let mut options = redis.quick_scheduler_options();
            options.min_idle = lease;
            options
        });
        let scheduler = connect_scheduler(self.queue, &storage_options, redis_options.as_ref(), lease).await;
        Arc::new(Retrying::with_policy(scheduler, policy))
    }

    /// Kills PostgreSQL now and starts it again after `outage`, in the background.
    pub fn postgres_outage(&self, outage: Duration) -> tokio::task::JoinHandle<()> {
        let postgres = Arc::clone(&self.postgres);
        postgres.lock().unwrap().kill();
        tokio::task::spawn_blocking(move || {
            std::thread::sleep(outage);
            postgres.lock().unwrap().restart();
        })
    }

    /// Kills Redis now and starts it again after `outage`, in the background.
    pub fn redis_outage(&self, outage: Duration) -> tokio::task::JoinHandle<()> {
        let redis = Arc::clone(self.redis.as_ref().expect("a Redis pair"));
        redis.kill();
        tokio::task::spawn_blocking(move || {
            std::thread::sleep(outage);
            redis.restart();
        })
    }
}

/// The scheduler of `queue`, leasing deliveries for `lease`.
pub async fn connect_scheduler(
    queue: Queue,
    storage_options: &PostgresOptions,
    redis_options: Option<&RedisSchedulerOptions>,
    lease: Duration,
) -> Box<dyn Scheduler> {
    match queue {
        Queue::Redis => Box::new(RedisScheduler::connect_with(redis_options.unwrap().clone()).await.unwrap()),
        Queue::Postgres => Box::new(postgres_scheduler(storage_options, lease).await),
    }
}

async fn postgres_scheduler(storage_options: &PostgresOptions, lease: Duration) -> PostgresScheduler {
    let mut options = PostgresSchedulerOptions::new(storage_options.clone());
    options.lease = lease;
    options.poll_interval = Duration::from_millis(200);
    PostgresScheduler::connect_with(options).await.unwrap()
}

/// Worker options for the real-server tests: claims leased for `lease`, quick heartbeats,
/// releases and rescues.
pub fn worker_options(concurrency: usize, lease: Duration) -> WorkerOptions {
    WorkerOptions {
        concurrency,
        retry: RetryPolicy::new(3, Duration::from_millis(50), Duration::from_millis(200)),
        lease,
        heartbeat: (lease / 10).max(Duration::from_millis(100)),
        release_delay: Duration::from_millis(500),
        hold_max_wait: Duration::from_millis(500),
        rescue: Some(RescueOptions {
            after: Duration::from_secs(3),
            every: Duration::from_millis(500),
            batch: 100,
        }),
        ..WorkerOptions::default()
    }
}
