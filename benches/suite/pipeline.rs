//! Section 7: tasks per second through the whole pipeline — `submit_task` + `run_task` from 8
//! producers, 2 workers × 16 slots claiming, a no-op agent, the result write and the
//! acknowledgement — for every storage + scheduler pair, with the round trips each task costs
//! (from the servers' own statistics), the servers' own limit in the same run (a raw single-row
//! `UPDATE` loop on PostgreSQL, a raw command loop on Redis, 32 clients each), and the latency
//! from `run_task` to the agent starting, one task at a time. PostgreSQL + PostgreSQL submits and
//! schedules in one transaction (`PostgresPipeline`, what `App::submit` picks for it), and is
//! measured the other way too (`-separate`: two calls), side by side.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bindu::memory::{InMemoryScheduler, InMemorySchedulerOptions};
use bindu::postgres::{
    PostgresOptions, PostgresPipeline, PostgresScheduler, PostgresSchedulerOptions, PostgresStorage,
};
use bindu::redis::{RedisScheduler, RedisStorage};
use bindu::settings::RetrySettings;
use bindu::worker::{
    Agent, AgentError, AgentInput, AgentOutput, Finisher, FnAgent, Worker, WorkerHandle, WorkerOptions,
};
use bindu::{
    ContextId, InMemoryStorage, Message, Retrying, Scheduler, SchedulerExt, Storage, TaskId, TaskSendParams,
};
use bindu_test_support::{PostgresServer, RedisServer};
use tokio::runtime::Runtime;

use crate::Mode;
use crate::postgres::DriverConfigForBench;
use crate::stats::{Row, Samples, Table, short};

const PRODUCERS: usize = 8;
const WORKERS: usize = 2;
const SLOTS: usize = 16;
const RAW_CLIENTS: usize = 32;

/// A storage or scheduler backend of the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Memory,
    Postgres,
    Redis,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Postgres => "PostgreSQL",
            Self::Redis => "Redis",
        }
    }
}

/// The servers of the run.
struct Servers {
    postgres: PostgresServer,
    redis: RedisServer,
}

/// What one pair's run measured.
struct Measured {
    tasks_per_second: f64,
    postgres_transactions_per_task: Option<f64>,
    /// Of those, the ones that wrote (took a transaction id).
    postgres_writes_per_task: Option<f64>,
    redis_commands_per_task: Option<f64>,
    /// Cores busy during the window: the servers' processes, and this one (producers, workers).
    server_cores: f64,
    client_cores: f64,
    latency: Samples,
}

/// CPU seconds used so far by the servers' processes (`postgres`, `redis-server`) and by this
/// process, from `/proc` (zero where it cannot be read). A process that exits meanwhile takes its
/// share along; the pools keep their connections, so the window's backends live through it.
fn cpu_seconds() -> (f64, f64) {
    // `/proc/PID/stat`: the command in parentheses, then fields from the third on; utime and
    // stime are the 14th and 15th, in ticks of USER_HZ (100 on Linux).
    let parse = |stat: &str| -> Option<(String, u64)> {
        let (head, rest) = stat.rsplit_once(')')?;
        let command = head.split_once('(')?.1.to_owned();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some((command, ticks))
    };
    let read = |path: std::path::PathBuf| std::fs::read_to_string(path).ok().and_then(|stat| parse(&stat));
    let mut servers = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let numeric = entry.file_name().to_str().is_some_and(|name| name.bytes().all(|b| b.is_ascii_digit()));
        if let Some((command, ticks)) = numeric.then(|| read(entry.path().join("stat"))).flatten()
            && (command == "postgres" || command == "redis-server")
        {
            servers += ticks;
        }
    }
    let own = read("/proc/self/stat".into()).map_or(0, |(_, ticks)| ticks);
    (servers as f64 / 100.0, own as f64 / 100.0)
}

async fn storage(kind: Kind, servers: &Servers) -> Arc<dyn Storage> {
    let retry = RetrySettings::default();
    match kind {
        Kind::Memory => {
            Arc::new(retry.storage_guards.apply(Retrying::with_policy(InMemoryStorage::new(), retry.storage)))
        }
        Kind::Postgres => {
            let mut options = servers.postgres.options();
            options.pool_size = 32;
            let storage = PostgresStorage::connect_with(options).await.unwrap();
            Arc::new(retry.storage_guards.apply(Retrying::with_policy(storage, retry.storage)))
        }
        Kind::Redis => {
            let mut options = servers.redis.quick_options();
            options.pool_size = 32;
            let storage = RedisStorage::connect_with(options).await.unwrap();
            Arc::new(retry.storage_guards.apply(Retrying::with_policy(storage, retry.storage)))
        }
    }
}

async fn scheduler(kind: Kind, servers: &Servers) -> Arc<dyn Scheduler> {
    let retry = RetrySettings::default();
    let wrap = |scheduler: Box<dyn Scheduler>| -> Arc<dyn Scheduler> {
        Arc::new(retry.scheduler_guards.apply(Retrying::with_policy(scheduler, retry.scheduler)))
    };
    match kind {
        Kind::Memory => wrap(Box::new(InMemoryScheduler::with_options(InMemorySchedulerOptions {
            capacity: 1024,
            ..InMemorySchedulerOptions::default()
        }))),
        Kind::Postgres => {
            let mut options = PostgresSchedulerOptions::new(servers.postgres.options());
            options.postgres.pool_size = 32;
            wrap(Box::new(PostgresScheduler::connect_with(options).await.unwrap()))
        }
        Kind::Redis => {
            let mut options = servers.redis.quick_scheduler_options();
            options.min_idle = Duration::from_secs(30);
            options.redis.pool_size = 32;
            wrap(Box::new(RedisScheduler::connect_with(options).await.unwrap()))
        }
    }
}

/// When each task's agent started, recorded in the latency phase only (so that the throughput
/// phase measures the pipeline, not this map), with a wake-up for the one waiting.
#[derive(Default)]
struct Starts {
    recording: AtomicBool,
    at: Mutex<HashMap<TaskId, Instant>>,
    recorded: tokio::sync::Notify,
}

type Started = Arc<Starts>;

fn agent(started: Started) -> Arc<dyn Agent> {
    Arc::new(FnAgent::new(move |input: AgentInput| {
        if started.recording.load(Ordering::Relaxed) {
            started.at.lock().unwrap().entry(input.task.id).or_insert_with(Instant::now);
            started.recorded.notify_one();
        }
        std::future::ready(Ok::<_, AgentError>(AgentOutput::text("ok")))
    }))
}

fn workers(backends: &Backends, started: &Started) -> Vec<WorkerHandle> {
    (0..WORKERS)
        .map(|_| {
            let worker =
                Worker::new(backends.storage.clone(), backends.scheduler.clone(), agent(started.clone()))
                    .with_options(worker_options());
            match &backends.finisher {
                Some(finisher) => worker.with_finisher(Arc::clone(finisher)),
                None => worker,
            }
            .spawn()
        })
        .collect()
}

fn worker_options() -> WorkerOptions {
    // A no-op async agent never blocks its thread.
    WorkerOptions { concurrency: SLOTS, agent_may_block: false, ..WorkerOptions::default() }
}

/// A pair's backends as the workers and producers use them.
struct Backends {
    storage: Arc<dyn Storage>,
    scheduler: Arc<dyn Scheduler>,
    /// How producers hand tasks to the pipeline.
    producer: Producer,
    /// What stores a result and acknowledges its run in one transaction, if anything.
    finisher: Option<Arc<dyn Finisher>>,
}

/// The pair's backends. With `together`, both are PostgreSQL in one schema, wired as `App` wires
/// them: producers go through a `PostgresPipeline` on the very same backends, and the workers
/// store each result and acknowledge its run through it.
async fn backends(kind: (Kind, Kind), together: bool, servers: &Servers) -> Backends {
    if !together {
        let (storage, scheduler) = (storage(kind.0, servers).await, scheduler(kind.1, servers).await);
        let producer = Producer::Separate(storage.clone(), scheduler.clone());
        return Backends { storage, scheduler, producer, finisher: None };
    }
    assert_eq!(kind, (Kind::Postgres, Kind::Postgres), "one transaction needs one database");
    let mut options = servers.postgres.options();
    options.pool_size = 32;
    let storage = Arc::new(PostgresStorage::connect_with(options.clone()).await.unwrap());
    let scheduler =
        Arc::new(PostgresScheduler::connect_with(PostgresSchedulerOptions::new(options)).await.unwrap());
    let retry = RetrySettings::default();
    let decorated_storage: Arc<dyn Storage> =
        Arc::new(retry.storage_guards.apply(Retrying::with_policy(Arc::clone(&storage), retry.storage)));
    let decorated_scheduler: Arc<dyn Scheduler> = Arc::new(
        retry.scheduler_guards.apply(Retrying::with_policy(Arc::clone(&scheduler), retry.scheduler)),
    );
    let pipeline = PostgresPipeline::new(storage, scheduler);
    Backends {
        storage: decorated_storage,
        scheduler: decorated_scheduler,
        producer: Producer::Together(pipeline.clone()),
        finisher: Some(Arc::new(pipeline)),
    }
}

/// How producers hand tasks to the pipeline.
#[derive(Clone)]
enum Producer {
    /// `submit_task`, then `run_task`: a transaction each on PostgreSQL.
    Separate(Arc<dyn Storage>, Arc<dyn Scheduler>),
    /// Both in one transaction, as `App::submit` does when both backends are PostgreSQL.
    Together(PostgresPipeline),
}

impl Producer {
    /// Submits a task and schedules its run; returns it and when its run was scheduled.
    async fn submit(&self) -> (TaskId, Instant) {
        let message = Message::user_text("a task for the pipeline").for_task(TaskId::new());
        match self {
            Self::Separate(storage, scheduler) => {
                let task = storage.submit_task(ContextId::new(), &message, None).await.unwrap().task;
                let params = TaskSendParams::new(task.id, task.context_id, Some(message));
                let scheduled = Instant::now();
                scheduler.run_task(&params).await.unwrap();
                (task.id, scheduled)
            }
            Self::Together(pipeline) => {
                let scheduled = Instant::now();
                let task = pipeline.submit(ContextId::new(), &message, None).await.unwrap().task;
                (task.id, scheduled)
            }
        }
    }
}

/// Commits of the PostgreSQL server so far (its own statistics, flushed first), and the next
/// transaction id: only transactions that write take one, so its advance counts them.
async fn postgres_commits(options: &PostgresOptions) -> (u64, u64) {
    let (client, connection) =
        options.driver_config_for_bench().connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute("SELECT pg_stat_force_next_flush()").await.ok();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let row = client
        .query_one(
            "SELECT (SELECT sum(xact_commit) FROM pg_stat_database)::bigint,
                    pg_snapshot_xmax(pg_current_snapshot())::text::bigint",
            &[],
        )
        .await
        .unwrap();
    (row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64)
}

/// Commands the Redis server processed so far.
async fn redis_commands(url: &str) -> u64 {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO").arg("stats").query_async(&mut connection).await.unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("total_commands_processed:"))
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or(0)
}

async fn measure(kind: (Kind, Kind), together: bool, servers: &Servers, window: Duration) -> Measured {
    let backends = backends(kind, together, servers).await;
    let producer = backends.producer.clone();
    let started: Started = Arc::default();
    let workers = workers(&backends, &started);
    let stop = Arc::new(AtomicBool::new(false));
    let submitted = Arc::new(AtomicU64::new(0));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|_| {
            let (producer, stop, submitted) = (producer.clone(), stop.clone(), submitted.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    producer.submit().await;
                    submitted.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let completed = || workers.iter().map(|w| w.stats().completed).sum::<u64>();
    // Warm up, then count what completes in the window.
    tokio::time::sleep(window / 4).await;
    let (done_before, cpu_before, begun) = (completed(), cpu_seconds(), Instant::now());
    tokio::time::sleep(window).await;
    let (done, elapsed) = (completed() - done_before, begun.elapsed());
    let cpu_after = cpu_seconds();
    let cores = |before: f64, after: f64| (after - before) / elapsed.as_secs_f64();
    // A pipeline that runs nothing is a broken benchmark, not a slow one: say so at once rather
    // than wait out every latency sample.
    assert!(done > 0, "{kind:?}: no task completed in {window:?}");
    stop.store(true, Ordering::Relaxed);
    for producer in producers {
        producer.await.unwrap();
    }
    // Low load: one task at a time, run_task to agent start.
    tokio::time::sleep(Duration::from_millis(500)).await;
    started.recording.store(true, Ordering::Relaxed);
    let mut latency = Samples::default();
    for _ in 0..if window < Duration::from_secs(1) { 10 } else { 200 } {
        let (task, scheduled) = producer.submit().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(at) = started.at.lock().unwrap().get(&task) {
                latency.push(at.saturating_duration_since(scheduled).as_secs_f64() * 1e3);
                break;
            }
            if tokio::time::timeout_at(deadline, started.recorded.notified()).await.is_err() {
                break;
            }
        }
    }
    for worker in workers {
        worker.shutdown(Duration::from_secs(5)).await;
    }
    drop((backends, producer));
    let batch = if window < Duration::from_secs(1) { 64 } else { 1024 };
    let (commits_per_task, writes_per_task, commands_per_task) =
        round_trips(kind, together, servers, batch).await;
    let uses = |k: Kind| kind.0 == k || kind.1 == k;
    Measured {
        tasks_per_second: done as f64 / elapsed.as_secs_f64(),
        postgres_transactions_per_task: uses(Kind::Postgres).then_some(commits_per_task),
        postgres_writes_per_task: uses(Kind::Postgres).then_some(writes_per_task),
        redis_commands_per_task: uses(Kind::Redis).then_some(commands_per_task),
        server_cores: cores(cpu_before.0, cpu_after.0),
        client_cores: cores(cpu_before.1, cpu_after.1),
        latency,
    }
}

/// PostgreSQL commits (all, and those that wrote) and Redis commands per task, from the servers'
/// own statistics, over a fixed
/// batch run by a pipeline of its own. PostgreSQL publishes a busy backend's commits up to seconds
/// late but always when the backend exits, so each count is taken after the pipeline's
/// connections closed; what connecting and starting cost (migration checks, a worker's first
/// reads) is measured by a pipeline that runs nothing, and taken out.
async fn round_trips(kind: (Kind, Kind), together: bool, servers: &Servers, batch: u64) -> (f64, f64, f64) {
    let postgres_options = servers.postgres.options();
    let snapshot = || async {
        // The closed connections' backends flush their statistics as they exit.
        tokio::time::sleep(Duration::from_millis(300)).await;
        (postgres_commits(&postgres_options).await, redis_commands(servers.redis.url()).await)
    };
    let pipeline = |tasks: u64| async move {
        let backends = backends(kind, together, servers).await;
        let producer = backends.producer.clone();
        let workers = workers(&backends, &Arc::default());
        let producers: Vec<_> = (0..PRODUCERS as u64)
            .map(|i| {
                let producer = producer.clone();
                let share = tasks / PRODUCERS as u64 + u64::from(i < tasks % PRODUCERS as u64);
                tokio::spawn(async move {
                    for _ in 0..share {
                        producer.submit().await;
                    }
                })
            })
            .collect();
        for producer in producers {
            producer.await.unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while workers.iter().map(|w| w.stats().completed).sum::<u64>() < tasks && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for worker in workers {
            worker.shutdown(Duration::from_secs(5)).await;
        }
    };
    let start = snapshot().await;
    pipeline(0).await;
    let started = snapshot().await;
    pipeline(batch).await;
    let end = snapshot().await;
    let per_task = |start: u64, started: u64, end: u64| {
        let overhead = started.saturating_sub(start);
        end.saturating_sub(started).saturating_sub(overhead) as f64 / batch as f64
    };
    let ((start_commits, start_xid), (started_commits, started_xid), (end_commits, end_xid)) =
        (start.0, started.0, end.0);
    (
        per_task(start_commits, started_commits, end_commits),
        per_task(start_xid, started_xid, end_xid),
        per_task(start.1, started.1, end.1),
    )
}

/// Single-row `UPDATE` transactions per second from `RAW_CLIENTS` connections.
async fn postgres_limit(options: &PostgresOptions, window: Duration) -> f64 {
    let config = options.driver_config_for_bench();
    let (setup, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    setup
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS public.bench_limit (id int PRIMARY KEY, n bigint NOT NULL);
             INSERT INTO public.bench_limit SELECT g, 0 FROM generate_series(1, 64) g ON CONFLICT DO NOTHING",
        )
        .await
        .unwrap();
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for id in 0..RAW_CLIENTS as i32 {
        let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        let (count, stop) = (count.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let update =
                client.prepare("UPDATE public.bench_limit SET n = n + 1 WHERE id = $1").await.unwrap();
            while !stop.load(Ordering::Relaxed) {
                client.execute(&update, &[&(id + 1)]).await.unwrap();
                count.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    loop_rate(window, &count, &stop, clients).await
}

/// What the raw clients counted per second over `window`, after which they are stopped.
async fn loop_rate(
    window: Duration,
    count: &AtomicU64,
    stop: &AtomicBool,
    clients: Vec<tokio::task::JoinHandle<()>>,
) -> f64 {
    let begun = Instant::now();
    tokio::time::sleep(window).await;
    let rate = count.load(Ordering::Relaxed) as f64 / begun.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    rate
}

/// Commands per second from `RAW_CLIENTS` connections, one at a time each.
async fn redis_limit(url: &str, window: Duration) -> f64 {
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for id in 0..RAW_CLIENTS {
        let mut connection =
            redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
        let (count, stop) = (count.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let key = format!("bench-limit-{id}");
            while !stop.load(Ordering::Relaxed) {
                let _: i64 = redis::cmd("INCR").arg(&key).query_async(&mut connection).await.unwrap();
                count.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    loop_rate(window, &count, &stop, clients).await
}

pub fn run(mode: Mode, table: &mut Table) {
    let runtime: Runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let window = if mode == Mode::Quick { Duration::from_millis(500) } else { Duration::from_secs(8) };
    let durable =
        Servers { postgres: PostgresServer::start_durable(), redis: RedisServer::spawn(Default::default()) };
    let test = Servers { postgres: PostgresServer::start(), redis: RedisServer::spawn(Default::default()) };
    runtime.block_on(async {
        // BINDU_BENCH_PAIR=memory+memory (say) measures that pair only, without the limits, e.g.
        // under a profiler.
        let only = std::env::var("BINDU_BENCH_PAIR").ok();
        let (postgres_limit_durable, postgres_limit_test, redis_limit) = if only.is_some() {
            (f64::NAN, f64::NAN, f64::NAN)
        } else {
            (
                postgres_limit(&durable.postgres.options(), window).await,
                postgres_limit(&test.postgres.options(), window).await,
                redis_limit(durable.redis.url(), window).await,
            )
        };
        for (servers, what, limit) in [
            (&durable, "PostgreSQL fsync on", postgres_limit_durable),
            (&test, "PostgreSQL test settings (fsync off)", postgres_limit_test),
        ] {
            table.add(Row {
                section: "7 pipeline",
                name: format!("limit: single-row UPDATE transactions, {RAW_CLIENTS} clients, {what}"),
                baseline: "—".into(),
                measured: format!("{} tx/s", short(limit)),
                comparison: "the database's own limit".into(),
                spread: "one run".into(),
                target: "reported".into(),
                verdict: "—".into(),
            });
            let _ = servers;
        }
        table.add(Row {
            section: "7 pipeline",
            name: format!("limit: raw INCR commands, {RAW_CLIENTS} clients, Redis"),
            baseline: "—".into(),
            measured: format!("{} commands/s", short(redis_limit)),
            comparison: "the server's own limit".into(),
            spread: "one run".into(),
            target: "reported".into(),
            verdict: "—".into(),
        });
        let kinds = [Kind::Memory, Kind::Postgres, Kind::Redis];
        // PostgreSQL + PostgreSQL submits and schedules in one transaction, as `App::submit`
        // does; one more row measures it the other way (two calls) side by side.
        let mut pairs: Vec<(Kind, Kind, &Servers, &str, bool)> = Vec::new();
        for storage in kinds {
            for queue in kinds {
                let together = (storage, queue) == (Kind::Postgres, Kind::Postgres);
                pairs.push((storage, queue, &durable, "fsync on", together));
            }
        }
        pairs.push((Kind::Postgres, Kind::Postgres, &durable, "fsync on", false));
        pairs.push((Kind::Postgres, Kind::Postgres, &test, "test settings", true));
        pairs.push((Kind::Postgres, Kind::Redis, &test, "test settings", false));
        for (storage, queue, servers, settings, together) in pairs {
            let mut name = format!("{}+{}", storage.name(), queue.name()).to_lowercase();
            if !together && (storage, queue) == (Kind::Postgres, Kind::Postgres) {
                name.push_str("-separate");
            }
            if only.as_deref().is_some_and(|only| only.to_lowercase() != name) {
                continue;
            }
            let measured = measure((storage, queue), together, servers, window).await;
            let uses_postgres = storage == Kind::Postgres || queue == Kind::Postgres;
            let mut cost = Vec::new();
            if let (Some(tx), Some(writes)) =
                (measured.postgres_transactions_per_task, measured.postgres_writes_per_task)
            {
                cost.push(format!("{tx:.1} PostgreSQL tx/task ({writes:.1} writing)"));
            }
            if let Some(commands) = measured.redis_commands_per_task {
                cost.push(format!("{commands:.1} Redis commands/task"));
            }
            cost.push(format!(
                "CPU: servers {:.2} + client {:.2} cores",
                measured.server_cores, measured.client_cores
            ));
            // With one transaction there is no run_task of its own: from the submit that
            // schedules the run, its own commit included.
            let latency = format!(
                "{} → agent p50 {} ms, p99 {} ms",
                if together { "submit" } else { "run_task" },
                short(measured.latency.median()),
                short(quantile(&measured.latency, 0.99))
            );
            let (target, met) = target(
                storage,
                queue,
                &measured,
                if settings == "fsync on" { postgres_limit_durable } else { postgres_limit_test },
            );
            table.add(Row {
                section: "7 pipeline",
                name: format!(
                    "{} + {}{}{}",
                    storage.name(),
                    queue.name(),
                    if uses_postgres { format!(" ({settings})") } else { String::new() },
                    match (together, storage == queue && uses_postgres) {
                        (true, _) => ", as App wires it: submit + run, result + ack in one transaction each",
                        (false, true) => ", submit_task then run_task",
                        (false, false) => "",
                    }
                ),
                baseline: if cost.is_empty() { "—".into() } else { cost.join(", ") },
                measured: format!("{} tasks/s", short(measured.tasks_per_second)),
                comparison: latency,
                spread: measured.latency.spread("ms latency"),
                target,
                verdict: met,
            });
        }
    });
}

fn quantile(samples: &Samples, q: f64) -> f64 {
    let mut values = samples.0.clone();
    values.sort_by(f64::total_cmp);
    values.get(((values.len().max(1) - 1) as f64 * q).round() as usize).copied().unwrap_or(f64::NAN)
}

/// The target for a pair, and whether it was met.
fn target(storage: Kind, queue: Kind, measured: &Measured, postgres_limit: f64) -> (String, String) {
    let rate = measured.tasks_per_second;
    let verdict = |ok: bool| if ok { "met".to_owned() } else { "MISSED".to_owned() };
    match (storage, queue) {
        (Kind::Memory, Kind::Memory) => ("≥ 150,000 tasks/s".into(), verdict(rate >= 150_000.0)),
        (Kind::Redis, Kind::Redis) => ("≥ 10,000 tasks/s".into(), verdict(rate >= 10_000.0)),
        (Kind::Postgres, Kind::Redis) => ("≥ 2,000 tasks/s".into(), verdict(rate >= 2_000.0)),
        (Kind::Postgres, Kind::Postgres) => {
            let tx = measured.postgres_transactions_per_task.unwrap_or(f64::INFINITY);
            (
                "≤ 3 tx/task, ≥ 2,000 tasks/s and ≥ 20 % of the limit".into(),
                verdict(tx <= 3.0 && rate >= 2_000.0 && rate >= 0.2 * postgres_limit),
            )
        }
        _ => ("reported".into(), "—".into()),
    }
}
