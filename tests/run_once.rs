//! Run once, lose nothing, on the in-memory backends with scripted faults: outages longer than
//! the retry policy, runs held by a live worker, operations delivered too often, control
//! operations behind busy run slots, tasks whose run was never scheduled.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bindu::testing::Faulty;
use bindu::worker::{AgentInput, AgentOutput, FAILURE_KEY, RescueOptions, Worker, WorkerOptions};
use bindu::{
    Action, InMemoryScheduler, InMemoryStorage, OperationId, Page, RetryPolicy, Retrying, Scheduler,
    SchedulerExt, Storage, TaskIdParams, TaskOperation, TaskSendParams, TaskState,
};
use common::{TestAgent, fast_options, shutdown_all, spawn_workers, submit, wait_for_state, wait_until};
use futures_util::StreamExt;

const LIMIT: Duration = Duration::from_secs(30);
/// Far shorter than every outage below: the retry window these tests outlast.
const SHORT: RetryPolicy = RetryPolicy::new(3, Duration::from_millis(10), Duration::from_millis(30));

type FaultyStorage = Arc<Faulty<InMemoryStorage>>;
type FaultyScheduler = Arc<Faulty<InMemoryScheduler>>;

/// Faulty backends, and the `Retrying` views a client and a worker use.
fn backends() -> (FaultyStorage, FaultyScheduler, Arc<dyn Storage>, Arc<dyn Scheduler>) {
    let storage = Arc::new(Faulty::new(InMemoryStorage::new()));
    let scheduler = Arc::new(Faulty::new(InMemoryScheduler::new()));
    let retrying_storage: Arc<dyn Storage> = Arc::new(Retrying::with_policy(Arc::clone(&storage), SHORT));
    let retrying_scheduler: Arc<dyn Scheduler> =
        Arc::new(Retrying::with_policy(Arc::clone(&scheduler), SHORT));
    (storage, scheduler, retrying_storage, retrying_scheduler)
}

/// Takes `storage` down for `outage`, from now.
fn outage<S: Send + Sync + 'static>(backend: &Arc<Faulty<S>>, outage: Duration) {
    backend.set_down(true);
    let backend = Arc::clone(backend);
    tokio::spawn(async move {
        tokio::time::sleep(outage).await;
        backend.set_down(false);
    });
}

fn options(concurrency: usize) -> WorkerOptions {
    WorkerOptions { lease: Duration::from_secs(5), ..fast_options(concurrency) }
}

/// 1 and 2: storage goes down right after the agent answered, for longer than the retry policy
/// (and, the last time, for most of the lease): the answer is held and stored once storage is
/// back, and the agent runs once per task.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_answer_is_held_across_an_outage_longer_than_the_policy_and_the_agent_runs_once() {
    let (faulty, _, storage, scheduler) = backends();
    let outages = [Duration::from_millis(500), Duration::from_millis(1500), Duration::from_millis(3500)];
    let next = Arc::new(AtomicUsize::new(0));
    let agent = {
        let (faulty, next) = (Arc::clone(&faulty), Arc::clone(&next));
        TestAgent::new(move |input: AgentInput| {
            let down_for = outages[next.fetch_add(1, Ordering::SeqCst) % outages.len()];
            outage(&faulty, down_for);
            async move { Ok(AgentOutput::text(format!("answer to {}", input.history[0].text()))) }
        })
    };
    let workers = spawn_workers(&storage, &scheduler, &agent, 2, options(2));
    for (index, down_for) in outages.iter().enumerate() {
        let task = submit(&*storage, &*scheduler, &format!("question {index}")).await;
        let done = wait_for_state(faulty.inner(), task.id, TaskState::Completed, LIMIT).await;
        assert_eq!(
            done.history.last().unwrap().text(),
            format!("answer to question {index}"),
            "{down_for:?}"
        );
        assert_eq!(agent.calls(task.id), 1, "the agent ran once through a {down_for:?} outage");
    }
    let stats: Vec<_> = workers.iter().map(|w| w.stats()).collect();
    assert_eq!(stats.iter().map(|s| s.held_answers).sum::<u64>(), 3, "{stats:?}");
    assert_eq!(stats.iter().map(|s| s.failed + s.takeovers).sum::<u64>(), 0, "{stats:?}");
    shutdown_all(workers, LIMIT).await;
}

/// 3: an agent that blocks its thread for longer than the lease keeps its claim — the heartbeat
/// runs on its own task — so a second worker that receives a second run of the same task finds
/// it held, releases it, and never runs the agent alongside.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_live_holder_blocking_its_thread_past_the_lease_is_not_taken_over() {
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let scheduler: Arc<dyn Scheduler> = Arc::new(InMemoryScheduler::new());
    let running = Arc::new(AtomicUsize::new(0));
    let most_at_once = Arc::new(AtomicUsize::new(0));
    let agent = {
        let (running, most_at_once) = (Arc::clone(&running), Arc::clone(&most_at_once));
        TestAgent::new(move |_input: AgentInput| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most_at_once.fetch_max(now, Ordering::SeqCst);
            // A synchronous SDK call: blocks this thread for three leases.
            std::thread::sleep(Duration::from_secs(3));
            running.fetch_sub(1, Ordering::SeqCst);
            async { Ok(AgentOutput::text("slow but sure")) }
        })
    };
    let quick =
        WorkerOptions { lease: Duration::from_secs(1), heartbeat: Duration::from_millis(100), ..options(1) };
    let first = Worker::new(storage.clone(), scheduler.clone(), agent.clone()).with_options(quick).spawn();
    let task = submit(&*storage, &*scheduler, "block").await;
    wait_until("the agent runs", LIMIT, || async { running.load(Ordering::SeqCst) == 1 }).await;
    let second = Worker::new(storage.clone(), scheduler.clone(), agent.clone()).with_options(quick).spawn();
    // Another run of the same task (a rescue, a stray redelivery) reaches the second worker.
    let params = TaskSendParams::new(task.id, task.context_id, None);
    scheduler.enqueue(&TaskOperation::new(OperationId::new(), Action::Run(params))).await.unwrap();
    let done = wait_for_state(&*storage, task.id, TaskState::Completed, LIMIT).await;
    assert_eq!(done.history.last().unwrap().text(), "slow but sure");
    wait_until("the second run is settled", LIMIT, || async {
        second.stats().acknowledged + first.stats().acknowledged >= 2
    })
    .await;
    assert_eq!(agent.calls(task.id), 1, "never run alongside, never run again");
    assert_eq!(most_at_once.load(Ordering::SeqCst), 1);
    let (first, second) = (first.shutdown(LIMIT), second.shutdown(LIMIT));
    let _ = tokio::join!(first, second);
}

/// 5: a storage outage releases runs and cancels again and again without counting deliveries,
/// so nothing is dead-lettered and everything is applied once storage is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_releases_work_without_dead_lettering_it() {
    let (faulty, faulty_scheduler, storage, scheduler) = backends();
    let agent = TestAgent::echo();
    let run = submit(&*storage, &*scheduler, "run me").await;
    let to_cancel = submit(&*storage, &*scheduler, "cancel me").await;
    // The cancel goes first in its lane; the run behind it is claimed only after the outage.
    scheduler.cancel_task(&TaskIdParams::new(to_cancel.id)).await.unwrap();
    outage(&faulty, Duration::from_secs(2));
    let worker =
        Worker::new(storage.clone(), scheduler.clone(), agent.clone()).with_options(options(2)).spawn();
    wait_until("many releases", LIMIT, || async { worker.stats().released >= 12 }).await;
    wait_for_state(faulty.inner(), run.id, TaskState::Completed, LIMIT).await;
    // Canceled, or completed if its run was claimed before the cancel was applied: either way
    // applied, never dropped.
    wait_until("the cancel is applied", LIMIT, || async {
        let task = faulty.inner().load_task(to_cancel.id, None).await.unwrap().unwrap();
        matches!(task.status.state, TaskState::Canceled | TaskState::Completed)
    })
    .await;
    let dead = faulty_scheduler.inner().dead_letters(Page::ALL).await.unwrap();
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(agent.calls(run.id), 1);
    let stats = worker.stats();
    assert!(stats.released > u64::from(bindu::memory::InMemorySchedulerOptions::default().max_deliveries));
    assert_eq!(stats.failed, 0);
    worker.shutdown(LIMIT).await;
}

/// Receives the operation for `task` and drops it, `times` times: a worker that crashes each time.
async fn crash_on(scheduler: &dyn Scheduler, task: bindu::TaskId, times: u32) {
    let mut stream = scheduler.receive_task_operations().await.unwrap();
    for _ in 0..times {
        let delivery = tokio::time::timeout(LIMIT, stream.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(delivery.operation().action.task_id(), task);
        drop(delivery);
    }
}

/// 5: a run delivered too often (its workers crashed each time) is dead-lettered, and its task
/// fails with a reason the client can read; a cancel delivered too often is still applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_is_dead_lettered_and_reported_and_a_poison_cancel_is_still_applied() {
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let memory = InMemoryScheduler::new();
    let scheduler: Arc<dyn Scheduler> = Arc::new(memory.clone());
    let limit = bindu::memory::InMemorySchedulerOptions::default().max_deliveries;
    let agent = TestAgent::echo();

    let poison = submit(&*storage, &*scheduler, "poison").await;
    crash_on(&*scheduler, poison.id, limit).await;
    let worker =
        Worker::new(storage.clone(), scheduler.clone(), agent.clone()).with_options(options(1)).spawn();
    let failed = wait_for_state(&*storage, poison.id, TaskState::Failed, LIMIT).await;
    assert_eq!(failed.metadata.get(FAILURE_KEY).and_then(|v| v.as_str()), Some("dead_lettered"));
    let text = failed.history.last().unwrap().text();
    assert!(
        text.starts_with("Task execution failed: its run was delivered 5 times without finishing"),
        "{text}"
    );
    let dead_letters = || async { memory.dead_letters(Page::ALL).await.unwrap() };
    wait_until("the run is dead-lettered", LIMIT, || async { dead_letters().await.len() == 1 }).await;
    assert_eq!(dead_letters().await[0].task_id, Some(poison.id));
    assert_eq!(agent.calls(poison.id), 0, "a poison run is not attempted again");
    worker.shutdown(LIMIT).await;

    let task = storage
        .submit_task(
            bindu::ContextId::new(),
            &bindu::Message::user_text("x").for_task(bindu::TaskId::new()),
            None,
        )
        .await
        .unwrap()
        .task;
    scheduler.cancel_task(&TaskIdParams::new(task.id)).await.unwrap();
    crash_on(&*scheduler, task.id, limit).await;
    let worker =
        Worker::new(storage.clone(), scheduler.clone(), agent.clone()).with_options(options(1)).spawn();
    wait_for_state(&*storage, task.id, TaskState::Canceled, LIMIT).await;
    wait_until("the cancel is acknowledged", LIMIT, || async { worker.stats().acknowledged == 1 }).await;
    assert_eq!(dead_letters().await.len(), 1, "the applied cancel is not a dead letter");
    worker.shutdown(LIMIT).await;
}

/// 6: with every run slot busy and the run intake full, a cancel is still read and applied, and
/// interrupts the running agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_is_read_while_every_slot_and_the_intake_are_full() {
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let scheduler: Arc<dyn Scheduler> = Arc::new(InMemoryScheduler::new());
    let agent = TestAgent::new(|_input: AgentInput| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(AgentOutput::text("never"))
    });
    let worker =
        Worker::new(storage.clone(), scheduler.clone(), agent.clone()).with_options(options(1)).spawn();
    let mut tasks = Vec::new();
    for i in 0..4 {
        tasks.push(submit(&*storage, &*scheduler, &format!("long {i}")).await);
    }
    wait_until("one run executes", LIMIT, || async { agent.total_calls() == 1 }).await;
    let running = tasks.iter().find(|t| agent.calls(t.id) == 1).unwrap().id;
    let started = tokio::time::Instant::now();
    scheduler.cancel_task(&TaskIdParams::new(running)).await.unwrap();
    wait_for_state(&*storage, running, TaskState::Canceled, Duration::from_secs(5)).await;
    println!("cancel with every slot busy applied in {:?}", started.elapsed());
    wait_until("the next run starts in the freed slot", LIMIT, || async { agent.total_calls() == 2 }).await;
    worker.shutdown(Duration::from_millis(100)).await;
}

/// 7: tasks accepted while the scheduler (then the storage) is down past the policy are never
/// left behind: the ones whose `run_task` failed are rescued, and every task runs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tasks_whose_run_was_never_scheduled_are_rescued() {
    let (faulty, faulty_scheduler, storage, scheduler) = backends();
    let agent = TestAgent::echo();
    let rescue =
        RescueOptions { after: Duration::from_millis(500), every: Duration::from_millis(100), batch: 50 };
    let workers =
        spawn_workers(&storage, &scheduler, &agent, 2, WorkerOptions { rescue: Some(rescue), ..options(4) });
    let (mut accepted, mut orphans) = (Vec::new(), 0);
    for i in 0..200 {
        match i {
            50 => outage(&faulty_scheduler, Duration::from_millis(800)),
            120 => outage(&faulty, Duration::from_millis(800)),
            _ => {}
        }
        let message = bindu::Message::user_text(format!("task {i}")).for_task(bindu::TaskId::new());
        let Ok(submitted) = storage.submit_task(bindu::ContextId::new(), &message, None).await else {
            continue; // not accepted: the client knows
        };
        accepted.push(submitted.task.id);
        let params = TaskSendParams::new(submitted.task.id, submitted.task.context_id, Some(message));
        if scheduler.run_task(&params).await.is_err() {
            orphans += 1;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(orphans > 0, "the scheduler outage left some tasks without a run");
    for task in &accepted {
        wait_for_state(faulty.inner(), *task, TaskState::Completed, LIMIT).await;
        assert_eq!(agent.calls(*task), 1);
    }
    let rescued: u64 = workers.iter().map(|w| w.stats().rescued).sum();
    assert!(rescued >= orphans, "rescued {rescued} of {orphans} orphans");
    println!("accepted {}, orphaned {orphans}, rescued {rescued}", accepted.len());
    shutdown_all(workers, LIMIT).await;
}

/// An agent past its deadline is interrupted and its task fails with reason `timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_past_its_deadline_fails_its_task_with_reason_timeout() {
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let scheduler: Arc<dyn Scheduler> = Arc::new(InMemoryScheduler::new());
    let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let agent = {
        let dropped = dropped.clone();
        TestAgent::new(move |_input: AgentInput| {
            let flag = common::DropFlag(dropped.clone());
            async move {
                let _flag = flag;
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(AgentOutput::text("too late"))
            }
        })
    };
    let timed = WorkerOptions { agent_timeout: Some(Duration::from_millis(300)), ..options(1) };
    let worker = Worker::new(storage.clone(), scheduler.clone(), agent).with_options(timed).spawn();
    let task = submit(&*storage, &*scheduler, "hang").await;
    let failed = wait_for_state(&*storage, task.id, TaskState::Failed, LIMIT).await;
    assert_eq!(failed.metadata.get(FAILURE_KEY).and_then(|v| v.as_str()), Some("timeout"));
    assert!(dropped.load(Ordering::SeqCst), "the agent was interrupted");
    assert_eq!(worker.stats().timed_out, 1);
    worker.shutdown(LIMIT).await;
}
