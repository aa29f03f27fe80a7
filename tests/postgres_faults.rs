//! PostgresStorage under real faults: a killed and restarted server, a stalled server, bad
//! credentials, dead pooled connections, and secrets that must not leak.
#![cfg(feature = "postgres")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bindu::postgres::PostgresStorage;
use bindu::settings::Env;
use bindu::{
    App, AppSettings, ContextId, Error, Message, RetryPolicy, Retrying, Storage, TaskId, TaskState,
    TaskUpdate, Transience,
};
use bindu_test_support::{PostgresServer, TEST_PASSWORD};
use common::logs::Captured;

/// Generous enough to ride out a restart.
const THROUGH_RESTART: RetryPolicy =
    RetryPolicy::new(30, Duration::from_millis(100), Duration::from_millis(500));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_and_restarted_server_loses_nothing_and_duplicates_nothing() {
    let mut server = PostgresServer::start();
    let mut options = server.options();
    options.request_timeout = Duration::from_secs(3);
    let storage = Arc::new(Retrying::with_policy(
        PostgresStorage::connect_with(options).await.unwrap(),
        THROUGH_RESTART,
    ));

    // A stream of operations: each submits a task and completes it with an answer.
    let stream = {
        let storage = Arc::clone(&storage);
        tokio::spawn(async move {
            let mut done = Vec::new();
            let mut first_success_after = Vec::new();
            for i in 0..60 {
                let message = Message::user_text(format!("question {i}")).for_task(TaskId::new());
                let submitted = storage.submit_task(ContextId::new(), &message, None).await;
                let task = submitted.expect("submit succeeds once the server is back").task;
                let update = TaskUpdate::to(TaskState::Completed)
                    .with_message(Message::agent_text(format!("answer {i}")));
                storage.update_task(task.id, &update).await.expect("update succeeds once the server is back");
                first_success_after.push(Instant::now());
                done.push((task.id, message.message_id));
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            (done, first_success_after)
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    server.kill();
    tokio::time::sleep(Duration::from_millis(800)).await;
    server.restart();
    let accepting_again = Instant::now();
    let (done, success_times) = tokio::time::timeout(Duration::from_secs(90), stream).await.unwrap().unwrap();

    assert_eq!(done.len(), 60, "the stream completed");
    let recovery = success_times.iter().find(|t| **t >= accepting_again).map(|t| *t - accepting_again);
    println!("recovery: server accepting connections again → first successful operation: {recovery:?}");
    assert!(recovery.is_some(), "the kill happened before the stream ended");
    for (task_id, message_id) in done {
        let task =
            storage.load_task(task_id, None).await.unwrap().expect("every acknowledged submit is stored");
        assert_eq!(task.status.state, TaskState::Completed);
        assert_eq!(task.history.len(), 2, "no duplicate history entries: {task:?}");
        assert_eq!(task.history[0].message_id, message_id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_server_times_out_as_uncertain_then_recovers() {
    let mut server = PostgresServer::start();
    let mut options = server.options();
    options.request_timeout = Duration::from_secs(1);
    options.wait_timeout = Duration::from_secs(1);
    options.connect_timeout = Duration::from_secs(1);
    let storage = PostgresStorage::connect_with(options).await.unwrap();
    let message = Message::user_text("before the stall").for_task(TaskId::new());
    let task = storage.submit_task(ContextId::new(), &message, None).await.unwrap().task;

    server.pause();
    let started = Instant::now();
    let err = storage.load_task(task.id, None).await.unwrap_err();
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(3), "a timeout, not a hang: {waited:?}");
    assert_eq!(err.transience(), Transience::Uncertain, "{err}");
    assert!(err.to_string().contains("no answer within"), "{err}");

    // A call made during the stall completes once the server runs again.
    let retrying = Arc::new(Retrying::with_policy(storage, THROUGH_RESTART));
    let pending = {
        let retrying = Arc::clone(&retrying);
        tokio::spawn(async move { retrying.load_task(task.id, None).await })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.resume();
    let loaded = tokio::time::timeout(Duration::from_secs(30), pending).await.unwrap().unwrap().unwrap();
    assert_eq!(loaded.unwrap().id, task.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_and_unknown_databases_fail_fast_without_retries() {
    let server = PostgresServer::start();
    let cases = [
        (server.url().replace(TEST_PASSWORD, "wrong-password"), "authentication failed"),
        (format!("{}/no_such_database", server.url().rsplit_once('/').unwrap().0), "does not exist"),
    ];
    for (url, expected) in cases {
        let lookup = {
            let url = url.clone();
            move |name: &str| match name {
                "STORAGE_TYPE" => Some("postgres".to_owned()),
                "DATABASE_URL" => Some(url.clone()),
                _ => None,
            }
        };
        let settings = AppSettings::from(&Env::from_lookup(lookup)).unwrap();
        assert_eq!(settings.retry.storage.max_attempts, 5);
        let started = Instant::now();
        let err = App::connect(&settings).await.unwrap_err();
        let elapsed = started.elapsed();
        let text = err.to_string();
        assert!(elapsed < Duration::from_secs(1), "{expected}: took {elapsed:?}");
        assert!(text.starts_with("DATABASE_URL: cannot connect to postgres://postgres:***@"), "{text}");
        assert!(text.contains(expected), "{text}");
        assert!(!text.contains("wrong-password") && !text.contains(TEST_PASSWORD), "{text}");
        assert_eq!(err.transience(), Transience::Permanent);
        println!("{expected}: failed in {elapsed:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_pooled_connections_are_discarded_after_a_restart() {
    let mut server = PostgresServer::start();
    let mut options = server.options();
    options.pool_size = 4;
    let storage = PostgresStorage::connect_with(options).await.unwrap();
    // Fill the pool with four open connections.
    let warm = (0..4).map(|_| storage.count_tasks(None));
    for result in futures_util::future::join_all(warm).await {
        result.unwrap();
    }
    assert_eq!(storage.pool().status().size, 4);
    server.restart();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // No retries here: each call must get a live connection.
    for _ in 0..8 {
        storage.count_tasks(None).await.expect("a fresh connection, not a dead one");
    }
}

#[tokio::test]
async fn the_password_never_shows_in_logs_errors_or_debug() {
    let (captured, _guard) = Captured::install();

    let server = PostgresServer::start();
    let storage = PostgresStorage::connect_with(server.options()).await.unwrap();
    let debug = format!("{storage:?} {:?}", storage.options());
    assert!(!debug.contains(TEST_PASSWORD), "{debug}");

    // A start-up that retries a refused port logs every attempt, and the final error.
    let url = format!("postgres://postgres:{TEST_PASSWORD}@127.0.0.1:1/postgres");
    let lookup = move |name: &str| match name {
        "STORAGE_TYPE" => Some("postgres".to_owned()),
        "DATABASE_URL" => Some(url.clone()),
        _ => None,
    };
    let mut settings = AppSettings::from(&Env::from_lookup(lookup)).unwrap();
    settings.retry.storage = RetryPolicy::new(3, Duration::from_millis(10), Duration::from_millis(20));
    let err: Error = App::connect(&settings).await.unwrap_err();
    let logs = captured.text();
    assert_eq!(logs.matches("bindu::app: connecting").count(), 3, "each attempt is logged: {logs}");
    for text in [err.to_string(), format!("{err:?}"), format!("{settings:?}"), logs] {
        assert!(!text.contains(TEST_PASSWORD), "{text}");
    }
}
