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
