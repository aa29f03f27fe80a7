//! Run once, lose nothing, on real servers: PostgreSQL storage with a Redis scheduler and with a
//! PostgreSQL scheduler. Outages longer than the retry policy (the server killed and restarted),
//! a worker frozen past its lease with a second worker in its own OS process, and tasks whose run
//! was never scheduled.
#![cfg(all(feature = "postgres", feature = "redis"))]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bindu::postgres::PostgresStorage;
use bindu::settings::GuardSettings;
use bindu::testing::{Fault, Faulty};
use bindu::worker::{AgentInput, AgentOutput, Worker, WorkerHandle};
use bindu::{
    Action, ContextId, Message, OperationId, Retrying, Scheduler, SchedulerExt, Storage, TaskId,
    TaskOperation, TaskSendParams, TaskState,
};
use common::servers::{Pair, Queue, SHORT, connect_scheduler, worker_options};
use common::{TestAgent, shutdown_all, submit, wait_for_state};

const LIMIT: Duration = Duration::from_secs(90);
const NO_GUARDS: GuardSettings = GuardSettings { budget: None, breaker: None };

/// Each scenario twice, as `scenario::postgres_redis` and `scenario::postgres_postgres`: PostgreSQL
/// storage with a Redis and with a PostgreSQL scheduler.
macro_rules! on_both_queues {
    ($($scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres_redis() {
                super::$scenario(super::Queue::Redis).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres_postgres() {
                super::$scenario(super::Queue::Postgres).await;
            }
        }
    )+};
}

on_both_queues!(
    answers_survive_outages_longer_than_the_policy,
    the_same_operation_in_another_process_finds_the_claim_held,
    a_blocked_holder_is_not_taken_over_by_another_process,
    tasks_left_without_a_run_are_rescued
);

/// 1 and 2: PostgreSQL is killed right after the agent answered and restarted after an outage
/// far longer than the retry policy: the answer is held and stored, the task completes, and the
/// agent ran once.
async fn answers_survive_outages_longer_than_the_policy(queue: Queue) {
    let lease = Duration::from_secs(20);
    let pair = Arc::new(Pair::start(queue, lease, SHORT, NO_GUARDS).await);
    let outages = [Duration::from_secs(2), Duration::from_secs(8)];
    let next = Arc::new(AtomicUsize::new(0));
    let agent = {
        let (pair, next) = (Arc::clone(&pair), Arc::clone(&next));
        TestAgent::new(move |input: AgentInput| {
            let outage = outages[next.fetch_add(1, Ordering::SeqCst) % outages.len()];
            drop(pair.postgres_outage(outage));
            async move { Ok(AgentOutput::text(format!("answer to {}", input.history[0].text()))) }
        })
    };
    let workers = pair.spawn_workers(agent.clone(), 2, worker_options(2, lease));
    for (index, outage) in outages.iter().enumerate() {
        let task = submit(&*pair.storage, &*pair.scheduler, &format!("question {index}")).await;
        let done = wait_for_state(&*pair.storage, task.id, TaskState::Completed, LIMIT).await;
        assert_eq!(done.history.last().unwrap().text(), format!("answer to question {index}"));
        assert_eq!(agent.calls(task.id), 1, "{queue:?}: the agent ran once through a {outage:?} outage");
    }
    let stats: Vec<_> = workers.iter().map(|w| w.stats()).collect();
    println!("{queue:?}: {stats:?}");
    assert_eq!(stats.iter().map(|s| s.held_answers).sum::<u64>(), 2, "both answers were held");
    assert_eq!(stats.iter().map(|s| s.failed + s.takeovers).sum::<u64>(), 0);
    shutdown_all(workers, LIMIT).await;
}

/// Environment of the worker process (see `worker_process`).
const WORKER_PROCESS: &str = "BINDU_TEST_WORKER_PROCESS";

/// The agent both processes run: it records its start and end in `log` (one line each, with
/// the process id), then blocks its thread — a synchronous SDK call — for `block`.
fn blocking_agent(log: PathBuf, block: Duration) -> Arc<TestAgent> {
    TestAgent::new(move |input: AgentInput| {
        let record = |what: &str| {
            let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
            writeln!(file, "{what} {} {}", input.task.id, std::process::id()).unwrap();
        };
        record("start");
        std::thread::sleep(block);
        record("end");
        async { Ok(AgentOutput::text("slow but sure")) }
    })
}

/// The lease of the frozen-holder test: the holder blocks for three of them.
const SHORT_LEASE: Duration = Duration::from_secs(2);

/// A holder worker in this process, whose agent blocks its thread for three leases, and a second
/// worker in its own OS process on the pair's queue; both log each agent start to one file.
struct BlockedHolder {
    pair: Pair,
    dir: PathBuf,
    log: PathBuf,
    child: Child,
    worker: Option<WorkerHandle>,
    /// The queue the holder receives from.
    queue: Arc<dyn Scheduler>,
}

impl BlockedHolder {
    /// With `own_queue`, the holder receives from a queue of its own instead of the pair's.
    async fn start(queue: Queue, own_queue: bool) -> Self {
        let pair = Pair::start(queue, SHORT_LEASE, SHORT, NO_GUARDS).await;
        let dir = tempdir();
        let log = dir.join("agent.log");
        let child = spawn_worker_process(&pair, &log);
        let queue = match own_queue {
            true => pair.other_queue(SHORT_LEASE, SHORT).await,
            false => pair.scheduler.clone(),
        };
        let agent = blocking_agent(log.clone(), SHORT_LEASE * 3);
        let worker = pair.worker(&queue, agent, worker_options(1, SHORT_LEASE)).spawn();
        Self { pair, dir, log, child, worker: Some(worker), queue }
    }

    /// Waits for `task` to complete with the agent's answer, gives a stray run time to be
    /// delivered and settled (released while held, then skipped), stops both workers, and returns
    /// the agent log.
    async fn finish(&mut self, task: TaskId) -> String {
        let done = wait_for_state(&*self.pair.storage, task, TaskState::Completed, LIMIT).await;
        assert_eq!(done.history.last().unwrap().text(), "slow but sure");
        tokio::time::sleep(SHORT_LEASE * 2).await;
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(worker) = self.worker.take() {
            worker.shutdown(LIMIT).await;
        }
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for BlockedHolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// 3: a worker whose agent blocks its thread for three leases, and a second worker in its own OS
/// process on the same queue (and a stray second run of the task besides): the blocked holder's
/// heartbeat keeps its delivery and its claim, nobody runs the agent alongside, its answer is
/// stored, the agent ran once.
async fn a_blocked_holder_is_not_taken_over_by_another_process(queue: Queue) {
    let mut holder = BlockedHolder::start(queue, false).await;
    let (storage, scheduler) = (holder.pair.storage.clone(), holder.pair.scheduler.clone());
    let task = submit(&*storage, &*scheduler, "block").await;
    wait_for_state(&*storage, task.id, TaskState::Working, LIMIT).await;
    // A second run of the task — a stray or a rescue — reaches one of the two processes while the
    // first run blocks; its lease must keep it away.
    tokio::time::sleep(SHORT_LEASE).await;
    let params = TaskSendParams::new(task.id, task.context_id, None);
    scheduler.enqueue(&TaskOperation::new(OperationId::new(), Action::Run(params))).await.unwrap();
    let lines = holder.finish(task.id).await;
    let starts = lines.lines().filter(|line| line.starts_with("start")).count();
    println!("{queue:?}: agent log:\n{lines}");
    assert_eq!(starts, 1, "{queue:?}: the agent ran once, in one process");
}

/// 3, the takeover itself: the holder runs the task from a queue of its own, and the *same
/// operation* reaches a worker in another process — as a redelivery would — while the holder's
/// agent blocks its thread for three leases. That worker finds the claim live (the heartbeat
/// renews it from its own task), releases the operation until the holder is done, and never runs
/// the agent.
async fn the_same_operation_in_another_process_finds_the_claim_held(queue: Queue) {
    let mut holder = BlockedHolder::start(queue, true).await;
    let storage = holder.pair.storage.clone();
    let task = submit(&*storage, &*holder.queue, "block").await;
    let working = wait_for_state(&*storage, task.id, TaskState::Working, LIMIT).await;
    let run =
        TaskOperation::run(TaskSendParams::new(task.id, task.context_id, Some(task.history[0].clone())));
    assert_eq!(
        working.metadata.get(bindu::RUN_KEY).and_then(|v| v.as_str()),
        Some(run.id.to_string().as_str())
    );
    tokio::time::sleep(SHORT_LEASE).await;
    holder.pair.scheduler.enqueue(&run).await.unwrap();
    let lines = holder.finish(task.id).await;
    let starts: Vec<&str> = lines.lines().filter(|line| line.starts_with("start")).collect();
    assert_eq!(starts.len(), 1, "{queue:?}: the agent ran once:\n{lines}");
    assert!(starts[0].ends_with(&std::process::id().to_string()), "{queue:?}: in the holder's process");
    let other = std::fs::read_to_string(holder.dir.join("agent.log.stats")).unwrap_or_else(|err| {
        let output = std::fs::read_to_string(holder.dir.join("agent.out")).unwrap_or_default();
        panic!("{queue:?}: the other process left no stats ({err}); its output:\n{output}")
    });
    println!("{queue:?}: the other process: {other}");
    assert!(other.contains("agent_runs: 0"), "{other}");
    assert!(!other.contains("released: 0,"), "the other process found the claim held and released: {other}");
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bindu-run-once-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// This test binary again, running only `worker_process`, on `pair`'s servers.
fn spawn_worker_process(pair: &Pair, log: &Path) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["worker_process", "--exact", "--nocapture", "--test-threads=1"])
        .env(WORKER_PROCESS, "1")
        .env("BINDU_TEST_LOG", log)
        .env("BINDU_TEST_DATABASE_URL", &pair.storage_options.url)
        .env("BINDU_TEST_DATABASE_SCHEMA", pair.storage_options.schema.as_deref().unwrap_or("public"));
    if let Some(options) = &pair.redis_options {
        command
            .env("BINDU_TEST_REDIS_URL", &options.redis.url)
            .env("BINDU_TEST_REDIS_PREFIX", &options.redis.prefix);
    }
    // Its output goes to a file beside the log, for the failure message.
    let output = std::fs::File::create(log.with_extension("out")).unwrap();
    command.stdout(output.try_clone().unwrap()).stderr(output);
    command.spawn().expect("start the worker process")
}

/// The second worker, in its own process: does nothing unless started by
/// `spawn_worker_process`; then runs a worker on the servers it is given until it is killed.
#[test]
fn worker_process() {
    if std::env::var_os(WORKER_PROCESS).is_none() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    runtime.block_on(async {
        let env = |name: &str| std::env::var(name).unwrap();
        let storage_options = bindu::postgres::PostgresOptions::from_url(&env("BINDU_TEST_DATABASE_URL"))
            .unwrap()
            .in_schema(env("BINDU_TEST_DATABASE_SCHEMA"));
        let (queue, redis_options) = match std::env::var("BINDU_TEST_REDIS_URL") {
            Ok(url) => {
                let mut options = bindu_test_support::RedisServer::quick_scheduler_options_for(&url);
                options.redis.prefix = env("BINDU_TEST_REDIS_PREFIX");
                options.min_idle = SHORT_LEASE;
                options.max_deliveries = 5;
                (Queue::Redis, Some(options))
            }
            Err(_) => (Queue::Postgres, None),
        };
        let storage = PostgresStorage::connect_with(storage_options.clone()).await.unwrap();
        let storage: Arc<dyn Storage> = Arc::new(Retrying::with_policy(storage, SHORT));
        let scheduler = connect_scheduler(queue, &storage_options, redis_options.as_ref(), SHORT_LEASE).await;
        let scheduler: Arc<dyn Scheduler> = Arc::new(Retrying::with_policy(scheduler, SHORT));
        let agent = blocking_agent(PathBuf::from(env("BINDU_TEST_LOG")), SHORT_LEASE * 3);
        let worker =
            Worker::new(storage, scheduler, agent).with_options(worker_options(1, SHORT_LEASE)).spawn();
        // What this process did, for the parent to read.
        let stats = PathBuf::from(format!("{}.stats", env("BINDU_TEST_LOG")));
        loop {
            std::fs::write(&stats, format!("{:?}", worker.stats())).unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

/// 7: tasks accepted while the scheduler cannot take their run — Redis killed for a while, or
/// the PostgreSQL queue refusing — are rescued: every accepted task completes, once.
async fn tasks_left_without_a_run_are_rescued(queue: Queue) {
    let lease = Duration::from_secs(20);
    let pair = Pair::start(queue, lease, SHORT, NO_GUARDS).await;
    // With the PostgreSQL queue, storage and queue share the server: its enqueues fail on their
    // own through a faulty view, as when the server dies between the submit and the enqueue.
    let refusing = Arc::new(Faulty::new(Arc::clone(&pair.scheduler)));
    let client_scheduler: Arc<dyn Scheduler> = Arc::clone(&refusing) as Arc<dyn Scheduler>;
    let agent = TestAgent::echo();
    let workers = pair.spawn_workers(agent.clone(), 2, worker_options(4, lease));
    let (mut accepted, mut orphans) = (Vec::new(), 0);
    for i in 0..80 {
        if i == 20 {
            match queue {
                Queue::Redis => drop(pair.redis_outage(Duration::from_secs(3))),
                Queue::Postgres => {
                    refusing.script(bindu::Call::ENQUEUE, [Fault::Before(bindu::Transience::Transient); 20])
                }
            }
        }
        let message = Message::user_text(format!("task {i}")).for_task(TaskId::new());
        let Ok(submitted) = pair.storage.submit_task(ContextId::new(), &message, None).await else {
            continue;
        };
        accepted.push(submitted.task.id);
        let params = TaskSendParams::new(submitted.task.id, submitted.task.context_id, Some(message));
        if client_scheduler.run_task(&params).await.is_err() {
            orphans += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(orphans > 0, "{queue:?}: some runs could not be scheduled");
    for task in &accepted {
        wait_for_state(&*pair.storage, *task, TaskState::Completed, LIMIT).await;
        assert_eq!(agent.calls(*task), 1);
    }
    let rescued: u64 = workers.iter().map(|w| w.stats().rescued).sum();
    println!("{queue:?}: accepted {}, orphaned {orphans}, rescued {rescued}", accepted.len());
    assert!(rescued >= orphans as u64, "{queue:?}: rescued {rescued} of {orphans}");
    shutdown_all(workers, LIMIT).await;
}
