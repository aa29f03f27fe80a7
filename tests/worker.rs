//! The worker on the in-memory backends: end to end, and under faults.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bindu::testing::{Fault, Faulty};
use bindu::worker::{AgentInput, AgentOutput, FAILURE_KEY, PAUSED_FROM_KEY, RUN_KEY, TaskListener, Worker};
use bindu::{
    Action, Call, ContextId, InMemoryScheduler, InMemoryStorage, Message, OperationId, Page, RetryPolicy,
    Retrying, Scheduler, SchedulerExt, Storage, Task, TaskId, TaskIdParams, TaskOperation, TaskSendParams,
    TaskState, Transience,
};
use common::{DropFlag, TestAgent, fast_options, submit, wait_for_state, wait_until};

const LIMIT: Duration = Duration::from_secs(20);

fn backends() -> (Arc<dyn Storage>, Arc<dyn Scheduler>) {
    (
        Arc::new(Retrying::with_policy(
            InMemoryStorage::new(),
            RetryPolicy::new(3, Duration::ZERO, Duration::ZERO),
        )),
        Arc::new(Retrying::with_policy(
            InMemoryScheduler::new(),
            RetryPolicy::new(3, Duration::ZERO, Duration::ZERO),
        )),
    )
}

/// An agent that waits until released (or forever), flagging when its future is dropped.
fn blocking_agent(dropped: Arc<AtomicBool>, release: Arc<tokio::sync::Notify>) -> Arc<TestAgent> {
    TestAgent::new(move |_input: AgentInput| {
        let (dropped, release) = (dropped.clone(), release.clone());
        async move {
            let _flag = DropFlag(dropped);
            release.notified().await;
            Ok(AgentOutput::text("released"))
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_through_several_workers_each_run_once() {
    let (storage, scheduler) = backends();
    let (calls, stats) = common::many_tasks_through_several_workers(storage, scheduler, 300, 3).await;
    assert_eq!(calls, 300);
    let completed: u64 = stats.iter().map(|s| s.completed).sum();
    assert_eq!(completed, 300);
    println!(
        "end to end on memory: 300 tasks, 3 workers, completed per worker {:?}",
        stats.iter().map(|s| s.completed).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn an_agent_error_fails_the_task_with_a_stable_text() {
    let (storage, scheduler) = backends();
    let agent = TestAgent::new(|_input: AgentInput| async { Err("the model is on fire".into()) });
    let worker =
        Worker::new(storage.clone(), scheduler.clone(), agent.clone()).with_options(fast_options(1)).spawn();
    let task = submit(&*storage, &*scheduler, "hello").await;
    let failed = wait_for_state(&*storage, task.id, TaskState::Failed, LIMIT).await;
    // The error's text is for the logs (tests/client_view.rs).
    assert_eq!(failed.history.last().unwrap().text(), "Task execution failed: the agent reported an error");
    assert_eq!(agent.calls(task.id), 1, "an agent error is not retried");
    wait_until("the run is acknowledged", LIMIT, || async { worker.stats().acknowledged == 1 }).await;
    worker.shutdown(LIMIT).await;
}

#[tokio::test]
async fn a_panicking_agent_fails_the_task_and_the_worker_goes_on() {
    let (storage, scheduler) = backends();
    let agent = TestAgent::new(|input: AgentInput| async move {
        if input.history[0].text() == "panic" {
            panic!("agent bug");
        }
        Ok(AgentOutput::text("fine"))
    });
    let worker = Worker::new(storage.clone(), scheduler.clone(), agent).with_options(fast_options(1)).spawn();
    let bad = submit(&*storage, &*scheduler, "panic").await;
    let good = submit(&*storage, &*scheduler, "ok").await;
    let failed = wait_for_state(&*storage, bad.id, TaskState::Failed, LIMIT).await;
    let text = failed.history.last().unwrap().text();
    assert_eq!(text, "Task execution failed: the agent panicked", "the panic's text stays in the logs");
    assert_eq!(failed.metadata.get(FAILURE_KEY).and_then(|v| v.as_str()), Some("agent_panic"));
    wait_for_state(&*storage, good.id, TaskState::Completed, LIMIT).await;
    worker.shutdown(LIMIT).await;
}

#[tokio::test]
async fn a_transient_failure_writing_the_result_does_not_run_the_agent_again() {
    let storage = Arc::new(Faulty::new(InMemoryStorage::new()));
    let scheduler: Arc<dyn Scheduler> = Arc::new(InMemoryScheduler::new());
    let agent = TestAgent::echo();
    let task = submit(&*storage, &*scheduler, "compute").await;
    // The result write fails before applying, then fails after applying (the answer was lost),
    // then the replay finds it applied.
    storage.script(
        Call::UPDATE_TASK,
        [Fault::Before(Transience::Transient), Fault::After(Transience::Uncertain)],
    );
    let worker = Worker::new(storage.clone(), scheduler, agent.clone()).with_options(fast_options(1)).spawn();
    wait_until("the run is acknowledged", LIMIT, || async { worker.stats().acknowledged == 1 }).await;
    let done = storage.inner().load_task(task.id, None).await.unwrap().unwrap();
    assert_eq!(done.status.state, TaskState::Completed);
    assert_eq!(agent.calls(task.id), 1, "the agent ran once");
    assert_eq!(storage.calls(Call::UPDATE_TASK), 3, "three attempts of the result write");
    assert_eq!((done.history.len(), done.artifacts.len()), (2, 1), "no duplicate answer");
    worker.shutdown(LIMIT).await;
}

#[tokio::test]
async fn transient_failures_before_the_agent_retry_the_step() {
    let storage = Arc::new(Faulty::new(InMemoryStorage::new()));
    let scheduler: Arc<dyn Scheduler> = Arc::new(InMemoryScheduler::new());
    let agent = TestAgent::echo();
    let task = submit(&*storage, &*scheduler, "x").await;
    storage.script(
        Call::CLAIM_TASK,
        [Fault::Before(Transience::Transient), Fault::After(Transience::Uncertain)],
    );
    storage.script(Call::UPDATE_TASK, [Fault::Before(Transience::Transient)]);
    let worker = Worker::new(storage.clone(), scheduler, agent.clone()).with_options(fast_options(1)).spawn();
    wait_for_state(storage.inner(), task.id, TaskState::Completed, LIMIT).await;
    assert_eq!(agent.calls(task.id), 1);
    worker.shutdown(LIMIT).await;
}

#[tokio::test]
async fn a_task_whose_history_cannot_be_read_fails_with_a_stable_reason() {
    let storage = Arc::new(Faulty::new(InMemoryStorage::new()));
    let scheduler: Arc<dyn Scheduler> = Arc::new(InMemoryScheduler::new());
    let agent = TestAgent::echo();
    let mut message = Message::user_text("see the other one").for_task(TaskId::new());
    message.reference_task_ids = vec![TaskId::new()];
    let task = storage.submit_task(ContextId::new(), &message, None).await.unwrap().task;
    scheduler.run_task(&TaskSendParams::new(task.id, task.context_id, Some(message))).await.unwrap();
    storage.script(Call::GET_TASK_OWNER, [Fault::Before(Transience::Permanent)]);
    let worker = Worker::new(storage.clone(), scheduler, agent.clone()).with_options(fast_options(1)).spawn();
    let failed = wait_for_state(storage.inner(), task.id, TaskState::Failed, LIMIT).await;
    let text = failed.history.last().unwrap().text();
    assert_eq!(text, "Task execution failed: the task's history could not be read");
    assert!(!text.contains("injected"), "driver errors stay in the logs: {text}");
    assert_eq!(failed.metadata.get(FAILURE_KEY).and_then(|v| v.as_str()), Some("invalid_task"));
    assert_eq!(agent.calls(task.id), 0);
    worker.shutdown(LIMIT).await;
}

#[tokio::test]
async fn a_permanent_failure_claiming_the_task_dead_letters_the_run() {
    let storage = Arc::new(Faulty::new(InMemoryStorage::new()));
    let scheduler = InMemoryScheduler::new();
    let agent = TestAgent::echo();
    let task = submit(&*storage, &scheduler, "x").await;
    storage.script(Call::CLAIM_TASK, [Fault::Before(Transience::Permanent)]);
    let worker = Worker::new(storage.clone(), Arc::new(scheduler.clone()), agent.clone())
        .with_options(fast_options(1))
        .spawn();
    wait_until("the run is dead-lettered", LIMIT, || async { dead_letters(&scheduler).await.len() == 1 })
        .await;
    let dead = &dead_letters(&scheduler).await[0];
    assert!(dead.last_error.starts_with("could not claim the task"), "{}", dead.last_error);
    assert_eq!(agent.calls(task.id), 0);
    assert_eq!(worker.stats().dead_lettered, 1);
    worker.shutdown(LIMIT).await;
}

#[tokio::test]
async fn storage_down_past_the_policy_releases_the_run_for_later() {
    let storage = Arc::new(Faulty::new(InMemoryStorage::new()));
    let scheduler = InMemoryScheduler::new();
    let agent = TestAgent::echo();
    let task = submit(&*storage, &scheduler, "x").await;
    // Every claim attempt of the first delivery fails: the worker policy gives up.
    storage.script(Call::CLAIM_TASK, [Fault::Before(Transience::Transient); 3]);
    let worker = Worker::new(storage.clone(), Arc::new(scheduler.clone()), agent.clone())
        .with_options(fast_options(1))
        .spawn();
    // Released, the run is delivered again and succeeds once storage is back.
    let done = wait_for_state(storage.inner(), task.id, TaskState::Completed, LIMIT).await;
    assert_eq!(done.history.len(), 2);
    assert_eq!(worker.stats().released, 1);
    assert_eq!(agent.calls(task.id), 1);
    assert!(dead_letters(&scheduler).await.is_empty());
    worker.shutdown(LIMIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_crashes_mid_task_has_its_operation_redelivered() {
    let (storage, scheduler) = backends();
    let (dropped, release) = (Arc::new(AtomicBool::new(false)), Arc::new(tokio::sync::Notify::new()));
    let stuck = blocking_agent(dropped.clone(), release);
    let crashing =
        Worker::new(storage.clone(), scheduler.clone(), stuck.clone()).with_options(fast_options(1)).spawn();
    let task = submit(&*storage, &*scheduler, "survive me").await;
    let working = wait_for_state(&*storage, task.id, TaskState::Working, LIMIT).await;
    assert!(working.metadata.contains_key(RUN_KEY));
    drop(crashing); // the process dies: its delivery is never acknowledged
    wait_until("the crashed run is gone", LIMIT, || async { dropped.load(Ordering::SeqCst) }).await;

    let healthy = TestAgent::echo();
    let worker = Worker::new(storage.clone(), scheduler.clone(), healthy.clone())
        .with_options(fast_options(1))
        .spawn();
    // The redelivery finds the dead run's claim live until its lease ends, then takes over.
    let done = wait_for_state(&*storage, task.id, TaskState::Completed, LIMIT).await;
    assert_eq!(done.history.last().unwrap().text(), "SURVIVE ME");
    assert_eq!((stuck.calls(task.id), healthy.calls(task.id)), (1, 1));
    let stats = worker.stats();
    assert_eq!(stats.takeovers, 1);
    assert!(stats.released >= 1, "held by the dead run's lease first: {stats:?}");
    worker.shutdown(LIMIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_interrupts_a_long_agent_call() {
    let (storage, scheduler) = backends();
    let (dropped, release) = (Arc::new(AtomicBool::new(false)), Arc::new(tokio::sync::Notify::new()));
    let agent = blocking_agent(dropped.clone(), release);
    // One slot, busy with the long call: the cancel must not wait behind it.
    let worker = Worker::new(storage.clone(), scheduler.clone(), agent).with_options(fast_options(1)).spawn();
    let task = submit(&*storage, &*scheduler, "long").await;
    wait_for_state(&*storage, task.id, TaskState::Working, LIMIT).await;
    let started = tokio::time::Instant::now();
    scheduler.cancel_task(&TaskIdParams::new(task.id)).await.unwrap();
    let canceled = wait_for_state(&*storage, task.id, TaskState::Canceled, LIMIT).await;
    wait_until("the agent is interrupted", LIMIT, || async { dropped.load(Ordering::SeqCst) }).await;
    println!("cancel to interrupted agent: {:?}", started.elapsed());
    assert!(canceled.artifacts.is_empty(), "no late result");
    wait_until("run and cancel are acknowledged", LIMIT, || async { worker.stats().acknowledged == 2 }).await;
    assert_eq!(worker.stats().canceled, 1);
    worker.shutdown(LIMIT).await;
    assert_eq!(storage.load_task(task.id, None).await.unwrap().unwrap().status.state, TaskState::Canceled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_handled_by_another_worker_reaches_the_running_agent() {
    let (storage, scheduler) = backends();
    let (dropped, release) = (Arc::new(AtomicBool::new(false)), Arc::new(tokio::sync::Notify::new()));
    let runner = Worker::new(storage.clone(), scheduler.clone(), blocking_agent(dropped.clone(), release))
        .with_options(fast_options(1))
        .spawn();
    let task = submit(&*storage, &*scheduler, "long").await;
    wait_for_state(&*storage, task.id, TaskState::Working, LIMIT).await;
    // Stop the runner from taking the cancel itself: a second worker on a second stream takes it.
    let other = Worker::new(storage.clone(), scheduler.clone(), TestAgent::echo())
        .with_options(fast_options(1))
        .spawn();
    tokio::time::sleep(Duration::from_millis(50)).await;
    scheduler.cancel_task(&TaskIdParams::new(task.id)).await.unwrap();
    wait_for_state(&*storage, task.id, TaskState::Canceled, LIMIT).await;
    wait_until("the running agent notices", LIMIT, || async { dropped.load(Ordering::SeqCst) }).await;
    runner.shutdown(LIMIT).await;
    other.shutdown(LIMIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_resume_keep_the_tasks_progress() {
    let (storage, scheduler) = backends();
    let (dropped, release) = (Arc::new(AtomicBool::new(false)), Arc::new(tokio::sync::Notify::new()));
    let agent = blocking_agent(dropped.clone(), release.clone());
    let worker =
        Worker::new(storage.clone(), scheduler.clone(), agent.clone()).with_options(fast_options(2)).spawn();
    let task = submit(&*storage, &*scheduler, "pausable").await;
    wait_for_state(&*storage, task.id, TaskState::Working, LIMIT).await;

    scheduler.pause_task(&TaskIdParams::new(task.id)).await.unwrap();
    let paused = wait_for_state(&*storage, task.id, TaskState::Suspended, LIMIT).await;
    assert_eq!(paused.metadata.get(PAUSED_FROM_KEY).and_then(|v| v.as_str()), Some("working"));
    assert_eq!(paused.history, task.history, "progress kept");
    wait_until("the paused run is interrupted", LIMIT, || async { dropped.load(Ordering::SeqCst) }).await;

    scheduler.resume_task(&TaskIdParams::new(task.id)).await.unwrap();
    wait_until("the resumed run starts", LIMIT, || async { agent.calls(task.id) == 2 }).await;
    release.notify_one();
    let done = wait_for_state(&*storage, task.id, TaskState::Completed, LIMIT).await;
    assert_eq!(done.history[0], task.history[0]);
    worker.shutdown(LIMIT).await;
}

#[tokio::test]
async fn pausing_a_task_that_waits_for_input_resumes_to_waiting() {
    let (storage, scheduler) = backends();
    let agent = TestAgent::new(|_input: AgentInput| async {
        Ok(AgentOutput::InputRequired(Message::agent_text("which one?")))
    });
    let worker =
        Worker::new(storage.clone(), scheduler.clone(), agent.clone()).with_options(fast_options(1)).spawn();
    let task = submit(&*storage, &*scheduler, "ambiguous").await;
    wait_for_state(&*storage, task.id, TaskState::InputRequired, LIMIT).await;
    scheduler.pause_task(&TaskIdParams::new(task.id)).await.unwrap();
    wait_for_state(&*storage, task.id, TaskState::Suspended, LIMIT).await;
    scheduler.resume_task(&TaskIdParams::new(task.id)).await.unwrap();
    let back = wait_for_state(&*storage, task.id, TaskState::InputRequired, LIMIT).await;
    assert_eq!(back.history.last().unwrap().text(), "which one?");
    assert_eq!(agent.calls(task.id), 1, "no new run");
    worker.shutdown(LIMIT).await;
}

#[tokio::test]
async fn a_resent_message_does_not_run_twice() {
    let (storage, scheduler) = backends();
    let agent = TestAgent::echo();
    let worker =
        Worker::new(storage.clone(), scheduler.clone(), agent.clone()).with_options(fast_options(2)).spawn();
    let message = Message::user_text("once").for_task(TaskId::new());
    let context_id = ContextId::new();
    for _ in 0..3 {
        let submitted = storage.submit_task(context_id, &message, None).await.unwrap();
        let params = TaskSendParams::new(submitted.task.id, context_id, Some(message.clone()));
        scheduler.run_task(&params).await.unwrap();
    }
    // A stray run with another id finds the task already handled.
    let params = TaskSendParams::new(message.task_id.unwrap(), context_id, Some(message.clone()));
    let done = wait_for_state(&*storage, params.task_id, TaskState::Completed, LIMIT).await;
    scheduler.enqueue(&TaskOperation::new(OperationId::new(), Action::Run(params.clone()))).await.unwrap();
    wait_until("the stray run is skipped", LIMIT, || async { worker.stats().skipped == 1 }).await;
    assert_eq!(agent.calls(params.task_id), 1);
    assert_eq!(storage.load_task(params.task_id, None).await.unwrap().unwrap(), done);
    worker.shutdown(LIMIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_message_supersedes_the_running_run() {
    let (storage, scheduler) = backends();
    let release = Arc::new(tokio::sync::Notify::new());
    let agent = {
        let release = release.clone();
        TestAgent::new(move |input: AgentInput| {
            let release = release.clone();
            async move {
                let last = input.history.last().unwrap().text();
                if last == "first" {
                    release.notified().await;
                }
                Ok(AgentOutput::text(format!("answer to {last}")))
            }
        })
    };
    let worker =
        Worker::new(storage.clone(), scheduler.clone(), agent.clone()).with_options(fast_options(2)).spawn();
    let task = submit(&*storage, &*scheduler, "first").await;
    wait_for_state(&*storage, task.id, TaskState::Working, LIMIT).await;
    let follow_up = Message::user_text("second").for_task(task.id);
    storage.submit_task(task.context_id, &follow_up, None).await.unwrap();
    let params = TaskSendParams::new(task.id, task.context_id, Some(follow_up));
    scheduler.run_task(&params).await.unwrap();
    let done = wait_for_state(&*storage, task.id, TaskState::Completed, LIMIT).await;
    release.notify_one(); // the superseded run, if still alive, must not write
    tokio::time::sleep(Duration::from_millis(300)).await;
    let texts: Vec<String> =
        storage.load_task(task.id, None).await.unwrap().unwrap().history.iter().map(Message::text).collect();
    assert_eq!(texts, ["first", "second", "answer to second"]);
    assert_eq!(done.artifacts.len(), 1);
    worker.shutdown(LIMIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_running_work_and_leaves_the_rest() {
    let (storage, scheduler) = backends();
    let agent = TestAgent::new(|_input: AgentInput| async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok(AgentOutput::text("done"))
    });
    let worker =
        Worker::new(storage.clone(), scheduler.clone(), agent.clone()).with_options(fast_options(2)).spawn();
    let mut tasks = Vec::new();
    for i in 0..8 {
        tasks.push(submit(&*storage, &*scheduler, &format!("t{i}")).await);
    }
    wait_until("two runs started", LIMIT, || async { agent.total_calls() >= 2 }).await;
    let report = worker.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.abandoned, 0);
    let completed = storage.count_tasks(Some(TaskState::Completed)).await.unwrap();
    assert!((2..8).contains(&completed), "running ones finished, the rest were left: {completed}");

    // A new worker gets what was left.
    let next =
        Worker::new(storage.clone(), scheduler.clone(), agent.clone()).with_options(fast_options(4)).spawn();
    for task in &tasks {
        wait_for_state(&*storage, task.id, TaskState::Completed, LIMIT).await;
    }
    assert_eq!(agent.max_calls_per_task(), 1);
    next.shutdown(LIMIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_past_the_deadline_abandons_runs_for_redelivery() {
    let (storage, scheduler) = backends();
    let (dropped, release) = (Arc::new(AtomicBool::new(false)), Arc::new(tokio::sync::Notify::new()));
    let worker = Worker::new(storage.clone(), scheduler.clone(), blocking_agent(dropped.clone(), release))
        .with_options(fast_options(1))
        .spawn();
    let task = submit(&*storage, &*scheduler, "slow").await;
    wait_for_state(&*storage, task.id, TaskState::Working, LIMIT).await;
    let report = worker.shutdown(Duration::from_millis(100)).await;
    assert_eq!(report.abandoned, 1);
    assert!(dropped.load(Ordering::SeqCst));
    let next = Worker::new(storage.clone(), scheduler.clone(), TestAgent::echo())
        .with_options(fast_options(1))
        .spawn();
    wait_for_state(&*storage, task.id, TaskState::Completed, LIMIT).await;
    next.shutdown(LIMIT).await;
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(TaskId, TaskState)>>);

impl TaskListener for Recorder {
    fn task_changed(&self, task: &Task) {
        self.0.lock().unwrap().push((task.id, task.status.state));
    }
}

#[tokio::test]
async fn the_listener_hears_every_state_the_worker_stores() {
    let (storage, scheduler) = backends();
    let recorder = Arc::new(Recorder::default());
    let worker = Worker::new(storage.clone(), scheduler.clone(), TestAgent::echo())
        .with_options(fast_options(1))
        .with_listener(recorder.clone())
        .spawn();
    let task = submit(&*storage, &*scheduler, "notify me").await;
    wait_for_state(&*storage, task.id, TaskState::Completed, LIMIT).await;
    worker.shutdown(LIMIT).await;
    assert_eq!(*recorder.0.lock().unwrap(), [(task.id, TaskState::Working), (task.id, TaskState::Completed)]);
}

#[tokio::test]
async fn references_bring_in_the_owners_other_tasks_only() {
    let (storage, scheduler) = backends();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let agent = {
        let seen = seen.clone();
        TestAgent::new(move |input: AgentInput| {
            seen.lock().unwrap().push(input.history.iter().map(Message::text).collect::<Vec<_>>());
            async { Ok(AgentOutput::text("ok")) }
        })
    };
    let mine = storage
        .submit_task(ContextId::new(), &Message::user_text("mine").for_task(TaskId::new()), Some("did:a"))
        .await
        .unwrap()
        .task;
    let theirs = storage
        .submit_task(ContextId::new(), &Message::user_text("theirs").for_task(TaskId::new()), Some("did:b"))
        .await
        .unwrap()
        .task;
    let mut message = Message::user_text("follow-up").for_task(TaskId::new());
    message.reference_task_ids = vec![mine.id, theirs.id, TaskId::new()];
    let task = storage.submit_task(ContextId::new(), &message, Some("did:a")).await.unwrap().task;
    let params = TaskSendParams::new(task.id, task.context_id, Some(message));
    scheduler.run_task(&params).await.unwrap();
    let worker = Worker::new(storage.clone(), scheduler.clone(), agent).with_options(fast_options(1)).spawn();
    wait_for_state(&*storage, task.id, TaskState::Completed, LIMIT).await;
    worker.shutdown(LIMIT).await;
    assert_eq!(seen.lock().unwrap()[0], ["mine", "follow-up"]);
}

async fn dead_letters(scheduler: &InMemoryScheduler) -> Vec<bindu::DeadLetter> {
    scheduler.dead_letters(Page::ALL).await.unwrap()
}
