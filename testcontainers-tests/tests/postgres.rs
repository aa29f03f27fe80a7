//! PostgreSQL in a container: the conformance suites (storage and scheduler, plain and under
//! `Retrying`, and closing a scheduler), then a frozen server (pause/unpause) and a stopped and
//! started one, while operations go through `Retrying`. One container for the file.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bindu::conformance::{scheduler, storage};
use bindu::postgres::{PostgresOptions, PostgresScheduler, PostgresSchedulerOptions, PostgresStorage};
use bindu::{ContextId, Message, RetryPolicy, Retrying, Storage, TaskId, TaskState, TaskUpdate, Transience};
use bindu_test_support::containers::postgres;
use bindu_test_support::{free_port, unique_schema};

const THROUGH_OUTAGE: RetryPolicy =
    RetryPolicy::new(60, Duration::from_millis(100), Duration::from_millis(500));

fn options(url: &str) -> PostgresOptions {
    let mut options = PostgresOptions::from_url(url).unwrap().in_schema(unique_schema());
    options.request_timeout = Duration::from_secs(2);
    options.connect_timeout = Duration::from_secs(2);
    options.wait_timeout = Duration::from_secs(2);
    options
}

/// The conformance suites' options: timeouts a loaded machine cannot trip (the suites race many
/// writers on one row); the fault checks below keep the short ones.
fn conformance_options(url: &str) -> PostgresOptions {
    PostgresOptions {
        request_timeout: Duration::from_secs(15),
        connect_timeout: Duration::from_secs(10),
        wait_timeout: Duration::from_secs(10),
        ..options(url)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_in_a_container() {
    let pg = postgres(Some(free_port())).await;
    let started = Instant::now();

    // Conformance, plain and under Retrying, for both traits.
    storage::run_all(&PostgresStorage::connect_with(conformance_options(&pg.url)).await.unwrap()).await;
    let retrying = Retrying::with_policy(
        PostgresStorage::connect_with(conformance_options(&pg.url)).await.unwrap(),
        RetryPolicy::STORAGE,
    );
    storage::run_all(&retrying).await;
    let mut scheduler_options = PostgresSchedulerOptions::new(options(&pg.url));
    scheduler_options.lease = Duration::from_secs(1);
    scheduler_options.poll_interval = Duration::from_millis(200);
    scheduler_options.max_deliveries = 3;
    let expect = scheduler::Expectations {
        redelivery_within: Duration::from_millis(1500),
        max_deliveries: 3,
        quiet_period: Duration::from_millis(300),
        idle_takeover: true,
    };
    scheduler::run_all(&PostgresScheduler::connect_with(scheduler_options.clone()).await.unwrap(), expect)
        .await;
    let retrying_scheduler = Retrying::with_policy(
        PostgresScheduler::connect_with(scheduler_options.clone()).await.unwrap(),
        RetryPolicy::SCHEDULER,
    );
    scheduler::run_all(&retrying_scheduler, expect).await;
    let closing = PostgresScheduler::connect_with(scheduler_options).await.unwrap();
    scheduler::close_ends_streams_and_later_calls(&closing).await;
    println!("conformance in the container: {:?}", started.elapsed());

    // A frozen server: a timeout classified as uncertain, not a hang; then recovery.
    let plain = PostgresStorage::connect_with(options(&pg.url)).await.unwrap();
    let task = plain
        .submit_task(ContextId::new(), &Message::user_text("before").for_task(TaskId::new()), None)
        .await
        .unwrap()
        .task;
    pg.container.pause().await.unwrap();
    let asked = Instant::now();
    let err = plain.load_task(task.id, None).await.unwrap_err();
    assert!(asked.elapsed() < Duration::from_secs(5), "a timeout, not a hang: {:?}", asked.elapsed());
    assert_eq!(err.transience(), Transience::Uncertain, "{err}");
    let retrying = Arc::new(Retrying::with_policy(plain, THROUGH_OUTAGE));
    let pending = {
        let retrying = Arc::clone(&retrying);
        tokio::spawn(async move { retrying.load_task(task.id, None).await })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.container.unpause().await.unwrap();
    let loaded = tokio::time::timeout(Duration::from_secs(60), pending).await.unwrap().unwrap().unwrap();
    assert_eq!(loaded.unwrap().id, task.id);

    // Stop and start the container (same port) while a stream of writes goes on.
    let storage = Arc::new(Retrying::with_policy(
        PostgresStorage::connect_with(options(&pg.url)).await.unwrap(),
        THROUGH_OUTAGE,
    ));
    let stream = {
        let storage = Arc::clone(&storage);
        tokio::spawn(async move {
            let mut done = Vec::new();
            for i in 0..40 {
                let message = Message::user_text(format!("question {i}")).for_task(TaskId::new());
                let task = storage.submit_task(ContextId::new(), &message, None).await.expect("submit").task;
                let update = TaskUpdate::to(TaskState::Completed).with_message(Message::agent_text("answer"));
                storage.update_task(task.id, &update).await.expect("update");
                done.push((task.id, message.message_id));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            done
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    pg.container.stop().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    pg.container.start().await.unwrap();
    let restarted = Instant::now();
    let done = tokio::time::timeout(Duration::from_secs(120), stream).await.unwrap().unwrap();
    println!("stream completed {:?} after the container started again", restarted.elapsed());
    assert_eq!(done.len(), 40);
    for (task_id, message_id) in done {
        let task = storage.load_task(task_id, None).await.unwrap().expect("stored");
        assert_eq!(
            (task.status.state, task.history.len()),
            (TaskState::Completed, 2),
            "no duplicates: {task:?}"
        );
        assert_eq!(task.history[0].message_id, message_id);
    }
}
