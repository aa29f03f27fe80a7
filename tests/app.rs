//! App wiring on the default (in-memory) backends.

mod common;

use std::time::Duration;

use bindu::settings::Env;
use bindu::{App, AppSettings, Storage, TaskState};
use common::{TestAgent, submit, wait_for_state};

#[tokio::test]
async fn the_default_app_runs_tasks_in_memory() {
    let app = App::connect(&AppSettings::default()).await.unwrap();
    let worker = app.worker(TestAgent::echo()).spawn();
    let task = submit(&*app.storage, &*app.scheduler, "hello app").await;
    let done = wait_for_state(&*app.storage, task.id, TaskState::Completed, Duration::from_secs(10)).await;
    assert_eq!(done.history[1].text(), "HELLO APP");
    worker.shutdown(Duration::from_secs(5)).await;
    app.close().await;
}

#[tokio::test]
async fn a_backend_without_its_feature_is_a_clear_error() {
    let lookup = |name: &str| match name {
        "STORAGE_TYPE" => Some("postgres".to_owned()),
        "DATABASE_URL" => Some("postgres://u:hunter2@127.0.0.1:1/db".to_owned()),
        _ => None,
    };
    let settings = AppSettings::from(&Env::from_lookup(lookup)).unwrap();
    let result = App::connect(&settings).await;
    if cfg!(feature = "postgres") {
        // Built with PostgreSQL: port 1 refuses, and the error names the setting, not the password.
        let mut settings = settings;
        settings.retry.storage = bindu::RetryPolicy::new(2, Duration::ZERO, Duration::ZERO);
        let err = App::connect(&settings).await.unwrap_err().to_string();
        assert!(err.starts_with("DATABASE_URL: cannot connect to postgres://u:***@127.0.0.1:1/db"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    } else {
        let err = result.unwrap_err().to_string();
        assert_eq!(err, "STORAGE_TYPE: postgres needs bindu built with the `postgres` feature");
    }
}

#[tokio::test]
async fn the_input_limits_of_the_settings_apply_to_storage() {
    let mut settings = AppSettings::default();
    settings.input.parts = 1;
    let app = App::connect(&settings).await.unwrap();
    let mut message = bindu::Message::user_text("one").for_task(bindu::TaskId::new());
    message.parts.push(bindu::Part::text("two"));
    let err = app.storage.submit_task(bindu::ContextId::new(), &message, None).await.unwrap_err();
    assert_eq!(err.to_string(), "invalid message: 2 parts; at most 1 are allowed");
    app.close().await;
}

/// A schema or prefix built into settings by hand is still checked, and blamed, before any
/// connection is tried.
#[cfg(all(feature = "postgres", feature = "redis"))]
#[tokio::test]
async fn a_bad_schema_or_prefix_is_named_as_such() {
    use bindu::settings::{SchedulerBackend, StorageBackend};
    let url = "postgres://u:pw@127.0.0.1:1/db".to_owned();
    let cases = [
        (
            StorageBackend::Postgres { url: url.clone(), schema: Some("Bad-Schema".into()) },
            SchedulerBackend::Memory,
            "DATABASE_SCHEMA: \"Bad-Schema\": use 1–63",
        ),
        (
            StorageBackend::Memory,
            SchedulerBackend::Postgres { url, schema: Some("x".repeat(64)) },
            "DATABASE_SCHEMA: \"xxxx",
        ),
        (
            StorageBackend::Redis { url: "redis://127.0.0.1:1".into(), prefix: "a{b}".into() },
            SchedulerBackend::Memory,
            "REDIS_KEY_PREFIX: \"a{b}\": no braces",
        ),
        (
            StorageBackend::Memory,
            SchedulerBackend::Redis { url: "redis://127.0.0.1:1".into(), prefix: "a b".into() },
            "REDIS_KEY_PREFIX: \"a b\": no whitespace",
        ),
    ];
    for (storage, scheduler, expected) in cases {
        let settings = AppSettings { storage, scheduler, ..AppSettings::default() };
        let err = App::connect(&settings).await.unwrap_err().to_string();
        assert!(err.starts_with(expected), "{err}");
    }
}

#[tokio::test]
async fn health_answers_for_each_backend_with_the_queue() {
    let app = App::connect(&AppSettings::default()).await.unwrap();
    submit(&*app.storage, &*app.scheduler, "waiting").await;
    let health = app.health().await;
    assert!(health.is_healthy(), "{health:?}");
    for backend in [&health.storage, &health.scheduler] {
        assert_eq!((backend.kind, backend.target.as_str()), ("memory", "in process"));
        assert!(backend.latency < Duration::from_secs(1));
    }
    let queue = health.queue.expect("the queue's state");
    assert_eq!((queue.waiting_runs, queue.in_flight, queue.dead_letters), (1, 0, 0));
    assert!(queue.oldest_waiting_age.is_some());

    app.close().await;
    let health = app.health().await;
    assert!(!health.is_healthy() && !health.storage.is_up(), "closed: {health:?}");
    assert!(health.storage.error.as_deref().unwrap().contains("closed"), "{health:?}");
}

#[tokio::test]
async fn finished_tasks_past_their_retention_are_pruned_in_the_background_until_close() {
    let mut settings = AppSettings::default();
    settings.retention.tasks = Some(Duration::from_millis(100));
    settings.retention.interval = Some(Duration::from_millis(100));
    let app = App::connect(&settings).await.unwrap();
    let worker = app.worker(TestAgent::echo()).spawn();
    let task = submit(&*app.storage, &*app.scheduler, "done soon").await;
    wait_for_state(&*app.storage, task.id, TaskState::Completed, Duration::from_secs(10)).await;
    common::wait_until("the finished task is pruned", Duration::from_secs(10), || async {
        app.storage.load_task(task.id, None).await.unwrap().is_none()
    })
    .await;
    assert!(app.storage.load_context(task.context_id).await.unwrap().is_none(), "its context went too");
    worker.shutdown(Duration::from_secs(5)).await;
    app.close().await;
}

/// `App::submit` accepts a message and schedules its run; a resend schedules nothing new, and a
/// resend of a message whose run was lost schedules it again — under the same operation id.
#[tokio::test]
async fn submit_schedules_the_run_once() {
    let app = App::connect(&AppSettings::default()).await.unwrap();
    let message = bindu::Message::user_text("run me").for_task(bindu::TaskId::new());
    let context_id = bindu::ContextId::new();
    let first = app.submit(context_id, &message, None).await.unwrap();
    assert_eq!(first.outcome, bindu::SubmitOutcome::Created);
    let waiting = || async { app.scheduler.stats().await.unwrap().waiting_runs };
    assert_eq!(waiting().await, 1);
    let again = app.submit(context_id, &message, None).await.unwrap();
    assert_eq!(again.outcome, bindu::SubmitOutcome::Duplicate);
    assert_eq!(waiting().await, 1, "the same run, not a second one");
    // Once the task left `submitted`, a resend schedules nothing.
    let working = bindu::TaskUpdate::to(TaskState::Working);
    app.storage.update_task(first.task.id, &working).await.unwrap();
    let late = app.submit(context_id, &message, None).await.unwrap();
    assert_eq!(late.outcome, bindu::SubmitOutcome::Duplicate);
    assert!(late.run_for(&message).is_none());
    app.close().await;
}
