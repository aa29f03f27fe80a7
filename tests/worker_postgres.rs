//! The worker end to end on PostgreSQL: PostgresStorage with PostgresScheduler, wired by `App`
//! from settings, and a worker crash redelivered through the lease.
#![cfg(feature = "postgres")]

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use bindu::postgres::{PostgresScheduler, PostgresSchedulerOptions, PostgresStorage};
use bindu::settings::Env;
use bindu::worker::{AgentInput, AgentOutput, Worker};
use bindu::{App, AppSettings, RetryPolicy, Retrying, Scheduler, Storage, TaskState};
use bindu_test_support::PostgresServer;
use common::{DropFlag, TestAgent, fast_options, submit, wait_for_state, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_through_several_workers_on_postgres() {
    let server = PostgresServer::shared();
    let options = server.options();
    let schema = options.schema.clone().unwrap();
    let url = server.url().to_owned();
    let lookup = move |name: &str| match name {
        "STORAGE_TYPE" | "SCHEDULER_TYPE" => Some("postgres".to_owned()),
        "DATABASE_URL" => Some(url.clone()),
        "DATABASE_SCHEMA" => Some(schema.clone()),
        _ => None,
    };
    let app = App::connect(&AppSettings::from(&Env::from_lookup(lookup)).unwrap()).await.unwrap();
    let (calls, stats) =
        common::many_tasks_through_several_workers(app.storage.clone(), app.scheduler.clone(), 150, 3).await;
    println!(
        "end to end on postgres + postgres: {calls} agent runs for 150 tasks, completed per worker {:?}",
        stats.iter().map(|s| s.completed).collect::<Vec<_>>()
    );
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_workers_run_is_redelivered_after_its_lease() {
    let server = PostgresServer::shared();
    let storage: Arc<dyn Storage> = Arc::new(Retrying::with_policy(
        PostgresStorage::connect_with(server.options()).await.unwrap(),
        RetryPolicy::STORAGE,
    ));
    let mut options = PostgresSchedulerOptions::new(server.options());
    options.lease = Duration::from_secs(1);
    options.poll_interval = Duration::from_millis(100);
    let scheduler: Arc<dyn Scheduler> = Arc::new(PostgresScheduler::connect_with(options).await.unwrap());

    let dropped = Arc::new(AtomicBool::new(false));
    let stuck = {
        let dropped = dropped.clone();
        TestAgent::new(move |_input: AgentInput| {
            let dropped = dropped.clone();
            async move {
                let _flag = DropFlag(dropped);
                std::future::pending::<()>().await;
                Ok(AgentOutput::text("never"))
            }
        })
    };
    // Heartbeats slower than the lease would let the lease lapse; this worker's are fast, but it dies.
    let crashing =
        Worker::new(storage.clone(), scheduler.clone(), stuck.clone()).with_options(fast_options(1)).spawn();
    let task = submit(&*storage, &*scheduler, "survive").await;
    wait_for_state(&*storage, task.id, TaskState::Working, Duration::from_secs(20)).await;
    drop(crashing);
    wait_until("the crashed run is gone", Duration::from_secs(10), || async {
        dropped.load(std::sync::atomic::Ordering::SeqCst)
    })
    .await;
    let healthy = TestAgent::echo();
    let worker = Worker::new(storage.clone(), scheduler.clone(), healthy.clone())
        .with_options(fast_options(1))
        .spawn();
    let done = wait_for_state(&*storage, task.id, TaskState::Completed, Duration::from_secs(30)).await;
    assert_eq!(done.history.last().unwrap().text(), "SURVIVE");
    assert_eq!((stuck.calls(task.id), healthy.calls(task.id)), (1, 1));
    worker.shutdown(Duration::from_secs(5)).await;
}

/// A worker given the pipeline — as `App::worker` gives it when both backends are PostgreSQL —
/// acknowledges each run in the transaction that stores its result: the deliveries' own
/// acknowledgement is never called, and every run is settled all the same. The same worker
/// without it acknowledges each run apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_and_their_acknowledgements_commit_together() {
    use bindu::Call;
    use bindu::postgres::PostgresPipeline;
    use bindu::testing::Faulty;

    let server = PostgresServer::shared();
    for together in [true, false] {
        let options = server.options();
        let bare = Arc::new(PostgresStorage::connect_with(options.clone()).await.unwrap());
        let storage: Arc<dyn Storage> =
            Arc::new(Retrying::with_policy(Arc::clone(&bare), RetryPolicy::STORAGE));
        let queue =
            Arc::new(PostgresScheduler::connect_with(PostgresSchedulerOptions::new(options)).await.unwrap());
        let counted = Arc::new(Faulty::new(Arc::clone(&queue)));
        let scheduler: Arc<dyn Scheduler> = Arc::clone(&counted) as Arc<dyn Scheduler>;
        let agent = TestAgent::echo();
        let mut worker =
            Worker::new(storage.clone(), scheduler.clone(), agent.clone()).with_options(fast_options(4));
        if together {
            worker = worker.with_finisher(Arc::new(PostgresPipeline::new(bare, Arc::clone(&queue))));
        }
        let worker = worker.spawn();
        let mut tasks = Vec::new();
        for i in 0..10 {
            tasks.push(submit(&*storage, &*scheduler, &format!("question {i}")).await.id);
        }
        for &task in &tasks {
            wait_for_state(&*storage, task, TaskState::Completed, Duration::from_secs(30)).await;
        }
        wait_until("every run settled", Duration::from_secs(10), || async {
            let stats = queue.stats().await.unwrap();
            stats.in_flight + stats.waiting() == 0
        })
        .await;
        let stats = worker.stats();
        worker.shutdown(Duration::from_secs(5)).await;
        assert_eq!((agent.total_calls(), stats.acknowledged), (10, 10), "together: {together}");
        let acks = counted.calls(Call::ACK);
        assert_eq!(acks, if together { 0 } else { 10 }, "together: {together}");
    }
}

/// `App` gives its worker the pipeline when both backends are PostgreSQL, and not otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_finishes_runs_in_one_transaction_when_both_backends_are_postgres() {
    let server = PostgresServer::shared();
    let schema = server.options().schema.unwrap();
    let url = server.url().to_owned();
    for scheduler in ["postgres", "memory"] {
        let (url, schema) = (url.clone(), schema.clone());
        let lookup = move |name: &str| match name {
            "STORAGE_TYPE" => Some("postgres".to_owned()),
            "SCHEDULER_TYPE" => Some(scheduler.to_owned()),
            "DATABASE_URL" => Some(url.clone()),
            "DATABASE_SCHEMA" => Some(schema.clone()),
            "RETENTION_INTERVAL" => Some("0".to_owned()),
            _ => None,
        };
        let app = App::connect(&AppSettings::from(&Env::from_lookup(lookup)).unwrap()).await.unwrap();
        let worker = format!("{:?}", app.worker(TestAgent::echo()));
        let expected = format!("finisher: {}", scheduler == "postgres");
        assert!(worker.contains(&expected), "{scheduler}: {worker}");
        app.close().await;
    }
}

/// A result whose transaction fails for the acknowledgement's sake — here the queue's table is
/// gone (as with a storage role that cannot reach the queue's schema) — is still stored, through
/// the ordinary path: the agent's answer, not a failure. (One thread, so that the worker's logs
/// are captured: they show the one-transaction write was tried.)
#[tokio::test]
async fn a_result_is_stored_when_only_its_acknowledgement_fails() {
    use bindu::postgres::PostgresPipeline;

    let (logs, _guard) = common::logs::Captured::install();
    let server = PostgresServer::shared();
    let bare = Arc::new(PostgresStorage::connect_with(server.options()).await.unwrap());
    let storage: Arc<dyn Storage> = Arc::new(Retrying::with_policy(Arc::clone(&bare), RetryPolicy::STORAGE));
    let queue_options = PostgresSchedulerOptions::new(server.options());
    let queue_schema = queue_options.postgres.schema.clone().unwrap();
    let queue = Arc::new(PostgresScheduler::connect_with(queue_options).await.unwrap());
    let scheduler: Arc<dyn Scheduler> = Arc::clone(&queue) as Arc<dyn Scheduler>;
    let go = Arc::new(tokio::sync::Notify::new());
    let started = Arc::new(tokio::sync::Notify::new());
    let agent = {
        let (go, started) = (go.clone(), started.clone());
        TestAgent::new(move |input: AgentInput| {
            let (go, started) = (go.clone(), started.clone());
            async move {
                started.notify_one();
                go.notified().await;
                Ok(AgentOutput::text(format!("answer to {}", input.history[0].text())))
            }
        })
    };
    let worker = Worker::new(storage.clone(), scheduler.clone(), agent.clone())
        .with_options(fast_options(1))
        .with_finisher(Arc::new(PostgresPipeline::new(bare, queue)))
        .spawn();
    let task = submit(&*storage, &*scheduler, "question").await;
    tokio::time::timeout(Duration::from_secs(20), started.notified()).await.unwrap();

    let (client, connection) = tokio_postgres::connect(server.url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let rename = |from: &str, to: &str| format!("ALTER TABLE \"{queue_schema}\".{from} RENAME TO {to}");
    client.batch_execute(&rename("operations", "operations_away")).await.unwrap();
    go.notify_one();
    let done = wait_for_state(&*storage, task.id, TaskState::Completed, Duration::from_secs(20)).await;
    assert_eq!(done.history.last().unwrap().text(), "answer to question");
    assert!(
        logs.text().contains("could not store the answer with its acknowledgement; storing it alone"),
        "the one-transaction write was tried first"
    );
    client.batch_execute(&rename("operations_away", "operations")).await.unwrap();
    assert_eq!(agent.calls(task.id), 1);
    worker.shutdown(Duration::from_secs(5)).await;
}

/// Runs acknowledged in their result's transaction count in the scheduler's metrics like any
/// other acknowledgement: `delivered` and `acknowledged` keep adding up.
#[tokio::test]
async fn acknowledgements_in_the_results_transaction_are_counted() {
    use bindu::postgres::PostgresPipeline;
    use common::recorded::Recorded;

    let metrics = Recorded::install();
    let server = PostgresServer::shared();
    let bare = Arc::new(PostgresStorage::connect_with(server.options()).await.unwrap());
    let storage: Arc<dyn Storage> = Arc::new(Retrying::with_policy(Arc::clone(&bare), RetryPolicy::STORAGE));
    let queue = Arc::new(
        PostgresScheduler::connect_with(PostgresSchedulerOptions::new(server.options())).await.unwrap(),
    );
    let scheduler: Arc<dyn Scheduler> =
        Arc::new(Retrying::with_policy(Arc::clone(&queue), RetryPolicy::SCHEDULER).named("postgres"));
    let agent = TestAgent::echo();
    let worker = Worker::new(storage.clone(), scheduler.clone(), agent.clone())
        .with_options(fast_options(2))
        .with_finisher(Arc::new(PostgresPipeline::new(bare, queue)))
        .spawn();
    for i in 0..3 {
        let task = submit(&*storage, &*scheduler, &format!("counted {i}")).await;
        wait_for_state(&*storage, task.id, TaskState::Completed, Duration::from_secs(20)).await;
    }
    let stats = worker.stats();
    worker.shutdown(Duration::from_secs(5)).await;
    assert_eq!(stats.acknowledged, 3);
    let runs = [("backend", "postgres"), ("lane", "runs")];
    assert_eq!(metrics.counter("bindu_scheduler_delivered_total", &runs), 3);
    assert_eq!(metrics.counter("bindu_scheduler_acknowledged_total", &runs), 3);
}
