//! The metrics, read back from a recorder installed for each test (on its thread: the tests run on
//! a current-thread runtime). Faults are scripted (`Faulty`), so every counter has one exact
//! expected value; retry waits run on tokio's paused clock.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bindu::telemetry::{METRICS, QueueLevels, QueueSampler};
use bindu::testing::{Fault, Faulty};
use bindu::worker::{AgentError, AgentOutput, Worker};
use bindu::{
    BreakerOptions, BudgetOptions, Call, ClaimRequest, ContextId, InMemoryScheduler, InMemoryStorage, Lanes,
    Message, OperationId, RetryPolicy, Retrying, Scheduler, SchedulerExt, Storage, TaskId, TaskIdParams,
    TaskSendParams, TaskState, Transience,
};
use common::recorded::Recorded;
use common::{TestAgent, fast_options, submit, wait_for_state, wait_until};
use futures_util::StreamExt;

const LIMIT: Duration = Duration::from_secs(20);
/// Four attempts, waiting 1 s, 2 s, 4 s (no jitter, so the waits are exact).
const POLICY: RetryPolicy =
    RetryPolicy::new(4, Duration::from_secs(1), Duration::from_secs(15)).with_jitter(false);

fn calls(metrics: &Recorded, backend: &str, operation: &str, outcome: &str) -> u64 {
    metrics
        .counter("bindu_calls_total", &[("backend", backend), ("operation", operation), ("outcome", outcome)])
}

#[tokio::test(start_paused = true)]
async fn each_retry_outcome_is_counted_exactly() {
    let metrics = Recorded::install();
    let backend = Faulty::new(InMemoryStorage::new());
    let message = Message::user_text("hi").for_task(TaskId::new());
    let task = backend.submit_task(ContextId::new(), &message, None).await.unwrap().task;
    let storage = Retrying::with_policy(&backend, POLICY).named("scripted");

    storage.load_task(task.id, None).await.unwrap();
    backend.script(Call::LOAD_TASK, [Fault::Before(Transience::Transient); 2]);
    storage.load_task(task.id, None).await.unwrap();
    backend.script(Call::LOAD_TASK, [Fault::Before(Transience::Transient); 4]);
    storage.load_task(task.id, None).await.unwrap_err();
    backend.script(Call::LOAD_TASK, [Fault::Before(Transience::Permanent)]);
    storage.load_task(task.id, None).await.unwrap_err();
    // Uncertain, and not idempotent: not replayed.
    backend.script(Call::UPDATE_TASK_STATE_IF, [Fault::After(Transience::Uncertain)]);
    storage.update_task_state_if(task.id, TaskState::Submitted, TaskState::Working).await.unwrap_err();

    let scripted = |operation, outcome| calls(&metrics, "scripted", operation, outcome);
    assert_eq!(scripted("load_task", "ok"), 1);
    assert_eq!(scripted("load_task", "ok_after_retry"), 1);
    assert_eq!(scripted("load_task", "exhausted"), 1);
    assert_eq!(scripted("load_task", "permanent"), 1);
    assert_eq!(scripted("update_task_state_if", "permanent"), 1);
    assert_eq!(metrics.counter("bindu_calls_total", &[("backend", "scripted")]), 5, "nothing else");
    let retries = |operation| {
        metrics.counter("bindu_call_retries_total", &[("backend", "scripted"), ("operation", operation)])
    };
    assert_eq!((retries("load_task"), retries("update_task_state_if")), (2 + 3, 0));
    let waits = metrics.observations("bindu_call_retry_wait_seconds", &[("backend", "scripted")]);
    assert_eq!(waits, [1.0 + 2.0, 1.0 + 2.0 + 4.0], "one per call that retried: the waits it made");
    let durations = metrics.observations("bindu_call_duration_seconds", &[("backend", "scripted")]);
    assert_eq!(durations.len(), 5, "one per call");
    let labels = metrics.label_values("bindu_calls_total", "role");
    assert_eq!(labels.into_iter().collect::<Vec<_>>(), ["storage"]);
}

#[tokio::test(start_paused = true)]
async fn budget_and_breaker_rejections_and_states() {
    let metrics = Recorded::install();
    let backend = Faulty::new(InMemoryStorage::new());
    let empty = BudgetOptions { ratio: 0.0, capacity: 0, floor: 0, floor_per_second: 0.0 };
    let budgeted = Retrying::with_policy(&backend, POLICY).named("budgeted").with_budget(empty);
    backend.script(Call::COUNT_TASKS, [Fault::Before(Transience::Transient)]);
    budgeted.count_tasks(None).await.unwrap_err();
    assert_eq!(calls(&metrics, "budgeted", "count_tasks", "exhausted"), 1);
    let budgeted_labels = [("backend", "budgeted"), ("role", "storage")];
    assert_eq!(metrics.counter("bindu_retry_budget_rejections_total", &budgeted_labels), 1);
    assert_eq!(metrics.value("bindu_retry_budget_tokens", &budgeted_labels), 0.0);

    let breaker = BreakerOptions { window: 2, failure_ratio: 0.5, open_for: Duration::from_secs(1) };
    let guarded =
        Retrying::with_policy(&backend, RetryPolicy::never()).named("guarded").with_breaker(breaker);
    let guarded_labels = [("backend", "guarded"), ("role", "storage")];
    backend.script(Call::COUNT_TASKS, [Fault::Before(Transience::Transient); 2]);
    for _ in 0..2 {
        guarded.count_tasks(None).await.unwrap_err();
    }
    assert_eq!(metrics.value("bindu_circuit_breaker_state", &guarded_labels), 1.0, "open");
    guarded.count_tasks(None).await.unwrap_err();
    assert_eq!(calls(&metrics, "guarded", "count_tasks", "circuit_open"), 1);
    assert_eq!(calls(&metrics, "guarded", "count_tasks", "exhausted"), 2);
    assert_eq!(metrics.counter("bindu_circuit_breaker_rejections_total", &guarded_labels), 1);
    tokio::time::advance(Duration::from_secs(1)).await;
    guarded.count_tasks(None).await.unwrap();
    assert_eq!(metrics.value("bindu_circuit_breaker_state", &guarded_labels), 0.0, "probed and closed");
    assert_eq!(calls(&metrics, "guarded", "count_tasks", "ok"), 1);
}

#[tokio::test]
async fn scheduler_events_are_counted_per_lane() {
    let metrics = Recorded::install();
    let scheduler = Retrying::new(InMemoryScheduler::new()).named("queue");
    let task_id = TaskId::new();
    scheduler.run_task(&TaskSendParams::new(task_id, ContextId::new(), None)).await.unwrap();
    scheduler.cancel_task(&TaskIdParams::new(task_id)).await.unwrap();
    let mut stream = scheduler.receive(Lanes::All).await.unwrap();
    let mut next = async || tokio::time::timeout(LIMIT, stream.next()).await.unwrap().unwrap().unwrap();

    let cancel = next().await;
    cancel.ack().await.unwrap();
    drop(next().await); // the run, dropped unsettled: delivered again at once
    let again = next().await;
    assert_eq!(again.delivery_count(), 2);
    again.release(Duration::ZERO).await.unwrap();
    let released = next().await;
    released.dead_letter("poison").await.unwrap();

    let count = |name, lane| metrics.counter(name, &[("backend", "queue"), ("lane", lane)]);
    assert_eq!(
        (count("bindu_scheduler_enqueued_total", "runs"), count("bindu_scheduler_enqueued_total", "control")),
        (1, 1)
    );
    assert_eq!(
        (
            count("bindu_scheduler_delivered_total", "runs"),
            count("bindu_scheduler_delivered_total", "control")
        ),
        (3, 1)
    );
    // The dropped run's second delivery, and its third after the release (a release does not
    // count a delivery, so that one still has a count of 2).
    assert_eq!(count("bindu_scheduler_redelivered_total", "runs"), 2);
    assert_eq!(count("bindu_scheduler_acknowledged_total", "control"), 1);
    assert_eq!(count("bindu_scheduler_released_total", "runs"), 1);
    assert_eq!(count("bindu_scheduler_dead_lettered_total", "runs"), 1);
    assert_eq!(metrics.counter("bindu_scheduler_acknowledged_total", &[("lane", "runs")]), 0);
}

#[tokio::test]
async fn queue_depth_and_age_rise_while_a_task_waits_and_fall_after_it_runs() {
    let metrics = Recorded::install();
    let memory = InMemoryScheduler::new();
    let scheduler: Arc<dyn Scheduler> = Arc::new(Retrying::new(memory.clone()).named("sampled"));
    let storage: Arc<dyn Storage> = Arc::new(Retrying::new(InMemoryStorage::new()).named("sampled"));
    // The sampler's probe, as App's: the in-memory scheduler's waiting count. The age is the
    // test's own: the in-memory scheduler does not keep one.
    let enqueued_at = Arc::new(std::sync::Mutex::new(None::<tokio::time::Instant>));
    let since = Arc::clone(&enqueued_at);
    let _sampler = QueueSampler::spawn("sampled", Duration::from_millis(20), move || {
        let (memory, since) = (memory.clone(), Arc::clone(&since));
        Some(async move {
            let waiting = memory.pending() as u64;
            let age = since.lock().unwrap().filter(|_| waiting > 0).map(|at| at.elapsed());
            Ok(QueueLevels { waiting_runs: waiting, oldest_waiting_age: age, ..QueueLevels::default() })
        })
    });
    let depth = || metrics.value("bindu_scheduler_queue_depth", &[("backend", "sampled"), ("lane", "runs")]);
    let age = || metrics.value("bindu_scheduler_queue_oldest_age_seconds", &[("backend", "sampled")]);

    *enqueued_at.lock().unwrap() = Some(tokio::time::Instant::now());
    let task = submit(&*storage, &*scheduler, "wait for me").await;
    wait_until("the waiting run is sampled", LIMIT, || async { depth() == 1.0 && age() > 0.0 }).await;

    let worker = Worker::new(Arc::clone(&storage), Arc::clone(&scheduler), TestAgent::echo())
        .named("sampled")
        .with_options(fast_options(3))
        .spawn();
    wait_for_state(&*storage, task.id, TaskState::Completed, LIMIT).await;
    wait_until("the empty queue is sampled", LIMIT, || async { depth() == 0.0 && age() == 0.0 }).await;

    let worker_labels = |outcome| [("worker", "sampled"), ("outcome", outcome)];
    wait_until("the run is settled", LIMIT, || async {
        metrics
            .counter("bindu_worker_settled_total", &[("worker", "sampled"), ("disposition", "acknowledged")])
            == 1
    })
    .await;
    assert_eq!(metrics.counter("bindu_worker_runs_total", &worker_labels("completed")), 1);
    assert_eq!(metrics.counter("bindu_worker_runs_total", &worker_labels("failed")), 0, "started at zero");
    assert_eq!(
        metrics.observations("bindu_worker_agent_duration_seconds", &worker_labels("answered")).len(),
        1
    );
    assert_eq!(metrics.value("bindu_worker_slots", &[("worker", "sampled")]), 3.0);
    assert_eq!(metrics.value("bindu_worker_slots_in_use", &[("worker", "sampled")]), 0.0);
    assert_eq!(
        metrics.counter("bindu_scheduler_acknowledged_total", &[("backend", "sampled"), ("lane", "runs")]),
        1
    );
    worker.shutdown(LIMIT).await;
    assert_eq!(
        metrics.value("bindu_worker_slots", &[("worker", "sampled")]),
        0.0,
        "a stopped worker has none"
    );
}

#[tokio::test]
async fn a_dead_letter_shows_up_in_its_counters() {
    let metrics = Recorded::install();
    let backend = Arc::new(Faulty::new(InMemoryStorage::new()));
    let storage: Arc<dyn Storage> = Arc::new(Retrying::new(Arc::clone(&backend)).named("poisoned"));
    let scheduler: Arc<dyn Scheduler> = Arc::new(Retrying::new(InMemoryScheduler::new()).named("poisoned"));
    // A claim storage refuses for good: the run can never start.
    backend.script(Call::CLAIM_TASK, [Fault::Before(Transience::Permanent)]);
    let worker = Worker::new(Arc::clone(&storage), Arc::clone(&scheduler), TestAgent::echo())
        .named("poisoned")
        .with_options(fast_options(1))
        .spawn();
    submit(&*storage, &*scheduler, "never runs").await;
    let dead = || {
        metrics.counter("bindu_scheduler_dead_lettered_total", &[("backend", "poisoned"), ("lane", "runs")])
    };
    wait_until("the run is dead-lettered", LIMIT, || async { dead() == 1 }).await;
    let settled = [("worker", "poisoned"), ("disposition", "dead_lettered")];
    assert_eq!(metrics.counter("bindu_worker_settled_total", &settled), 1);
    assert_eq!(calls(&metrics, "poisoned", "claim_task", "permanent"), 1);
    worker.shutdown(LIMIT).await;
}

#[tokio::test]
async fn takeovers_and_held_answers_are_counted() {
    let metrics = Recorded::install();
    let backend = Arc::new(Faulty::new(InMemoryStorage::new()));
    // One attempt per call: the worker holds the answer itself.
    let storage: Arc<dyn Storage> =
        Arc::new(Retrying::with_policy(Arc::clone(&backend), RetryPolicy::never()).named("held"));
    let scheduler: Arc<dyn Scheduler> = Arc::new(Retrying::new(InMemoryScheduler::new()).named("held"));
    let message = Message::user_text("take me over").for_task(TaskId::new());
    let task = storage.submit_task(ContextId::new(), &message, None).await.unwrap().task;
    // A run elsewhere claimed it and died: its lease runs out at once.
    let gone = ClaimRequest::new(OperationId::new(), Duration::from_millis(1));
    storage.claim_task(task.id, &gone).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    // The answer's first write finds storage down.
    backend.script(Call::UPDATE_TASK, [Fault::Before(Transience::Transient)]);
    let agent = TestAgent::new(|_| async { Ok::<_, AgentError>(AgentOutput::text("done")) });
    let worker = Worker::new(Arc::clone(&storage), Arc::clone(&scheduler), agent)
        .named("held")
        .with_options(fast_options(1))
        .spawn();
    scheduler.run_task(&TaskSendParams::new(task.id, task.context_id, Some(message))).await.unwrap();
    wait_for_state(&*storage, task.id, TaskState::Completed, LIMIT).await;
    assert_eq!(metrics.counter("bindu_worker_takeovers_total", &[("worker", "held")]), 1);
    assert_eq!(metrics.counter("bindu_worker_held_answers_total", &[("worker", "held")]), 1);
    assert_eq!(
        metrics.counter("bindu_worker_runs_total", &[("worker", "held"), ("outcome", "completed")]),
        1
    );
    worker.shutdown(LIMIT).await;
}

#[tokio::test]
async fn nothing_is_recorded_without_a_recorder_and_every_name_is_documented() {
    // No recorder on this thread: the calls work and record nothing anywhere.
    let storage = Retrying::new(InMemoryStorage::new()).named("silent");
    assert_eq!(storage.count_tasks(None).await.unwrap(), 0);
    assert!(!bindu::telemetry::enabled());
    let metrics = Recorded::install();
    assert!(bindu::telemetry::enabled());
    assert_eq!(metrics.counter("bindu_calls_total", &[("backend", "silent")]), 0);

    let readme = include_str!("../README.md");
    for metric in METRICS {
        let row = format!("| `{}` | {} | {} |", metric.name, metric.kind.as_str(), labels(metric.labels));
        assert!(readme.contains(&row), "the README's metrics table has no row starting {row}");
    }
    let documented = readme.lines().filter(|line| line.starts_with("| `bindu_")).count();
    assert_eq!(documented, METRICS.len(), "the README's table lists every metric once, and no other");
}

fn labels(labels: &[&str]) -> String {
    if labels.is_empty() {
        "—".to_owned()
    } else {
        labels.iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(", ")
    }
}
