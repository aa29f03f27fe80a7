//! `Retrying` and `execute_with_retry` over scripted faults, under tokio's paused clock so that
//! backoff costs no wall time and waits can be measured exactly.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bindu::testing::{Fault, Faulty};
use bindu::{
    BackendError, Call, ContextId, Error, InMemoryScheduler, InMemoryStorage, Message, OperationId,
    PushNotificationConfig, RetryPolicy, Retrying, SchedulerExt, Storage, SubmitOutcome, TaskId,
    TaskSendParams, TaskState, Transience, execute_with_retry,
};
use common::logs::Captured;
use futures_util::StreamExt;
use tokio::time::Instant;

const POLICY: RetryPolicy = RetryPolicy::new(4, Duration::from_secs(1), Duration::from_secs(15));

fn transient() -> Error {
    BackendError::new("test", Transience::Transient, "connection refused").into()
}

async fn new_task(storage: &dyn Storage) -> bindu::Task {
    let message = Message::user_text("hi").for_task(TaskId::new());
    storage.submit_task(ContextId::new(), &message, None).await.unwrap().task
}

#[tokio::test(start_paused = true)]
async fn transient_errors_are_retried_until_success() {
    let backend = Faulty::new(InMemoryStorage::new());
    let task = new_task(&backend).await;
    backend.script(Call::LOAD_TASK, [Fault::Before(Transience::Transient); 2]);
    let retrying = Retrying::with_policy(&backend, POLICY);
    let loaded = retrying.load_task(task.id, None).await.unwrap();
    assert_eq!(loaded, Some(task));
    assert_eq!(backend.calls(Call::LOAD_TASK), 3);
}

#[tokio::test(start_paused = true)]
async fn exhaustion_reports_the_attempts_and_the_last_error() {
    let backend = Faulty::new(InMemoryStorage::new());
    backend.script(Call::COUNT_TASKS, [Fault::Before(Transience::Transient); 10]);
    let err = Retrying::with_policy(&backend, POLICY).count_tasks(None).await.unwrap_err();
    assert_eq!(backend.calls(Call::COUNT_TASKS), 4, "max_attempts counts every call");
    match &err {
        Error::Exhausted { operation, attempts, last, .. } => {
            assert_eq!((*operation, attempts), ("count_tasks", &4));
            assert_eq!(last.transience(), Transience::Transient);
        }
        other => panic!("expected Exhausted, got {other:?}"),
    }
    assert_eq!(err.transience(), Transience::Permanent);
    let one_shot = Retrying::with_policy(&backend, RetryPolicy::never());
    let err = one_shot.count_tasks(None).await.unwrap_err();
    assert!(matches!(err, Error::Exhausted { attempts: 1, .. }), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn waits_follow_the_policy() {
    // Without jitter the waits are exactly 1, 2 and 4 s.
    let policy = POLICY.with_jitter(false);
    let times = Mutex::new(Vec::new());
    let result: Result<(), Error> = execute_with_retry(&policy, Call::idempotent("probe"), || {
        times.lock().unwrap().push(Instant::now());
        async { Err(transient()) }
    })
    .await;
    assert!(matches!(result, Err(Error::Exhausted { attempts: 4, .. })));
    let times = times.into_inner().unwrap();
    let waits: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(waits, [1, 2, 4].map(Duration::from_secs));

    // With jitter every wait lies between min_wait and the exponential base, never above max_wait.
    let capped = RetryPolicy::new(6, Duration::from_millis(500), Duration::from_secs(3));
    for _ in 0..20 {
        let times = Mutex::new(Vec::new());
        let _ = execute_with_retry(&capped, Call::idempotent("probe"), || {
            times.lock().unwrap().push(Instant::now());
            async { Err::<(), _>(transient()) }
        })
        .await;
        let times = times.into_inner().unwrap();
        assert_eq!(times.len(), 6);
        for (n, pair) in times.windows(2).enumerate() {
            let wait = pair[1] - pair[0];
            let base = capped.base_wait(n as u32 + 1);
            assert!(wait >= capped.min_wait && wait <= base && wait <= capped.max_wait, "wait {n}: {wait:?}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn uncertain_failures_are_not_replayed_for_non_idempotent_operations() {
    let backend = Faulty::new(InMemoryStorage::new());
    let task = new_task(&backend).await;
    // The swap is applied, then the answer is "lost".
    backend.script(Call::UPDATE_TASK_STATE_IF, [Fault::After(Transience::Uncertain)]);
    let retrying = Retrying::with_policy(&backend, POLICY);
    let err =
        retrying.update_task_state_if(task.id, TaskState::Submitted, TaskState::Working).await.unwrap_err();
    assert_eq!(err.transience(), Transience::Uncertain, "returned as is, so the caller knows: {err:?}");
    assert_eq!(backend.calls(Call::UPDATE_TASK_STATE_IF), 1);

    // A transient failure (surely not applied) is retried even for a non-idempotent operation.
    backend.script(Call::UPDATE_TASK_STATE_IF, [Fault::Before(Transience::Transient)]);
    assert!(
        retrying.update_task_state_if(task.id, TaskState::Working, TaskState::InputRequired).await.unwrap()
    );
    assert_eq!(backend.calls(Call::UPDATE_TASK_STATE_IF), 3);
}

#[tokio::test(start_paused = true)]
async fn uncertain_failures_of_idempotent_writes_are_replayed_without_duplicates() {
    let backend = Faulty::new(InMemoryStorage::new());
    backend.script(Call::SUBMIT_TASK, [Fault::After(Transience::Uncertain)]);
    let retrying = Retrying::with_policy(&backend, POLICY);
    let message = Message::user_text("once").for_task(TaskId::new());
    let submitted = retrying.submit_task(ContextId::new(), &message, None).await.unwrap();
    assert_eq!(backend.calls(Call::SUBMIT_TASK), 2);
    assert_eq!(submitted.outcome, SubmitOutcome::Duplicate, "the first attempt had stored it");
    assert_eq!(submitted.task.history.len(), 1);

    let update = bindu::TaskUpdate::to(TaskState::Completed).with_message(Message::agent_text("done"));
    backend.script(Call::UPDATE_TASK, [Fault::After(Transience::Uncertain)]);
    let task = retrying.update_task(submitted.task.id, &update).await.unwrap();
    assert_eq!((task.status.state, task.history.len()), (TaskState::Completed, 1), "the end of the history");
    let stored = retrying.load_task(task.id, None).await.unwrap().unwrap();
    assert_eq!(stored.history.len(), 2, "the replay appended nothing");
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_pass_through_unchanged() {
    let backend = Faulty::new(InMemoryStorage::new());
    backend.script(Call::LOAD_TASK, [Fault::Before(Transience::Permanent)]);
    let retrying = Retrying::with_policy(&backend, POLICY);
    let err = retrying.load_task(TaskId::new(), None).await.unwrap_err();
    assert!(matches!(&err, Error::Backend(b) if b.transience == Transience::Permanent), "{err:?}");
    assert_eq!(backend.calls(Call::LOAD_TASK), 1);

    let err =
        retrying.update_task(TaskId::new(), &bindu::TaskUpdate::to(TaskState::Working)).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(backend.calls(Call::UPDATE_TASK), 1);
}

#[tokio::test(start_paused = true)]
async fn nested_retries_do_not_multiply_attempts() {
    let backend = Faulty::new(InMemoryStorage::new());
    backend.script(Call::LIST_TASKS, [Fault::Before(Transience::Transient); 100]);
    let nested = Retrying::with_policy(Retrying::with_policy(&backend, POLICY), POLICY);
    let err = nested.list_tasks(bindu::Page::ALL, None).await.unwrap_err();
    assert!(matches!(err, Error::Exhausted { attempts: 4, .. }), "{err:?}");
    assert_eq!(backend.calls(Call::LIST_TASKS), 4, "not 4 × 4");
}

#[tokio::test(start_paused = true)]
async fn retry_after_hints_set_the_wait_within_max_wait() {
    for (asked, expected) in [(3, 3), (60, 15)] {
        let times = Mutex::new(Vec::new());
        let _ = execute_with_retry(&POLICY.with_max_attempts(2), Call::idempotent("webhook"), || {
            times.lock().unwrap().push(Instant::now());
            async move {
                Err::<(), _>(
                    BackendError::new("http", Transience::Transient, "503")
                        .with_retry_after(Duration::from_secs(asked))
                        .into(),
                )
            }
        })
        .await;
        let times = times.into_inner().unwrap();
        assert_eq!(times[1] - times[0], Duration::from_secs(expected), "Retry-After {asked} s");
    }
}

#[tokio::test(start_paused = true)]
async fn success_logs_nothing_and_retries_log_what_and_when() {
    let (logs, _guard) = Captured::install();
    let backend = Faulty::new(InMemoryStorage::new());
    let retrying = Retrying::with_policy(&backend, POLICY);
    let task = new_task(&retrying).await;
    retrying.load_task(task.id, None).await.unwrap();
    assert_eq!(logs.text(), "", "the success path logs nothing");

    backend.script(Call::LOAD_TASK, [Fault::Before(Transience::Transient)]);
    retrying.load_task(task.id, None).await.unwrap();
    let text = logs.text();
    assert_eq!(text.lines().count(), 1, "{text}");
    for field in [
        "WARN",
        "operation=\"load_task\"",
        "attempt=1",
        "max_attempts=4",
        "wait_ms=1000",
        "transience=transient",
    ] {
        assert!(text.contains(field), "missing {field} in {text}");
    }
}

#[tokio::test(start_paused = true)]
async fn retry_logs_carry_no_arguments_or_secrets() {
    let (logs, _guard) = Captured::install();
    let backend = Faulty::new(InMemoryStorage::new());
    let retrying = Retrying::with_policy(&backend, POLICY);
    let task = new_task(&retrying).await;
    let mut config = PushNotificationConfig::new("https://user:hunter2@hooks.example/x");
    config.token = Some("s3cr3t-token".into());
    backend.script(Call::SAVE_WEBHOOK_CONFIG, [Fault::Before(Transience::Transient); 3]);
    retrying.save_webhook_config(task.id, &config).await.unwrap();
    let text = logs.text();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(!text.contains("s3cr3t-token") && !text.contains("hunter2"), "{text}");
    assert!(!format!("{config:?}").contains("s3cr3t-token"));
}

#[tokio::test(start_paused = true)]
async fn replayed_enqueues_deliver_once_and_opening_the_stream_is_retried() {
    let backend = Faulty::new(InMemoryScheduler::new());
    let retrying = Retrying::with_policy(&backend, RetryPolicy::SCHEDULER);
    backend.script(Call::RECEIVE, [Fault::Before(Transience::Transient)]);
    let mut stream = retrying.receive_task_operations().await.unwrap();
    assert_eq!(backend.calls(Call::RECEIVE), 2);

    let task_id = TaskId::new();
    let params =
        TaskSendParams::new(task_id, ContextId::new(), Some(Message::user_text("go").for_task(task_id)));
    backend.script(Call::ENQUEUE, [Fault::After(Transience::Uncertain), Fault::After(Transience::Uncertain)]);
    retrying.run_task(&params).await.unwrap();
    assert_eq!(backend.calls(Call::ENQUEUE), 3);
    let delivery = stream.next().await.unwrap().unwrap();
    assert_eq!(delivery.operation().action.task_id(), task_id);
    delivery.ack().await.unwrap();
    let nothing = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
    assert!(nothing.is_err(), "one delivery only: {nothing:?}");
}

#[tokio::test]
async fn new_uses_the_role_default_and_with_policy_the_given_one() {
    let memory = Retrying::new(InMemoryStorage::new());
    assert_eq!(memory.policy(), None);
    assert_eq!(*memory.policy_or(&RetryPolicy::STORAGE), RetryPolicy::STORAGE);
    let dynamic: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let explicit = RetryPolicy::new(2, Duration::ZERO, Duration::ZERO);
    assert_eq!(Retrying::with_policy(dynamic, explicit).policy(), Some(&explicit));
    // The role default is what a storage call gets: 5 calls in all.
    let faulty = Arc::new(Faulty::new(InMemoryStorage::new()));
    faulty.script(Call::LOAD_TASK, [Fault::Before(Transience::Transient); 10]);
    let storage = Retrying::new(Arc::clone(&faulty));
    tokio::time::pause();
    let err = storage.load_task(TaskId::new(), None).await.unwrap_err();
    assert!(matches!(err, bindu::Error::Exhausted { attempts: 5, .. }), "{err}");
    // And a scheduler call the scheduler's: 3 calls in all.
    let faulty = Arc::new(Faulty::new(InMemoryScheduler::new()));
    faulty.script(Call::RECEIVE, [Fault::Before(Transience::Transient); 10]);
    let scheduler = Retrying::new(Arc::clone(&faulty));
    let err = scheduler.receive_task_operations().await.err().unwrap();
    assert!(matches!(err, bindu::Error::Exhausted { attempts: 3, .. }), "{err}");
}

#[tokio::test]
async fn enqueue_ids_for_runs_are_per_message() {
    let task_id = TaskId::new();
    let message = Message::user_text("go").for_task(task_id);
    let a = TaskSendParams::new(task_id, ContextId::new(), Some(message.clone()));
    assert_eq!(a.operation_id(), OperationId::for_message(task_id, message.message_id));
}
