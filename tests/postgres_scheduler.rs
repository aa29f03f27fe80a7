//! PostgresScheduler against a real server: conformance, transactional enqueue, poison messages,
//! and a killed and restarted server.
#![cfg(feature = "postgres")]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bindu::conformance::scheduler::{self, Expectations, next_for};
use bindu::postgres::{PostgresScheduler, PostgresSchedulerOptions};
use bindu::testing::PostgresServer;
use bindu::{
    Action, ContextId, Message, OperationId, RetryPolicy, Retrying, Scheduler, TaskId, TaskOperation,
    TaskSendParams,
};
use futures_util::StreamExt;

const EXPECT: Expectations = Expectations {
    redelivery_within: Duration::from_millis(1500),
    max_deliveries: 3,
    quiet_period: Duration::from_millis(300),
};

fn options(server: &PostgresServer) -> PostgresSchedulerOptions {
    let mut options = PostgresSchedulerOptions::new(server.options());
    options.lease = Duration::from_secs(1);
    options.poll_interval = Duration::from_millis(200);
    options.max_deliveries = EXPECT.max_deliveries;
    options
}

fn run_params(task_id: TaskId) -> TaskSendParams {
    TaskSendParams::new(task_id, ContextId::new(), Some(Message::user_text("go").for_task(task_id)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_plain_retrying_and_arc_dyn() {
    let server = PostgresServer::shared();
    scheduler::run_all(&PostgresScheduler::connect_with(options(&server)).await.unwrap(), EXPECT).await;
    let retrying = Retrying::with_policy(
        PostgresScheduler::connect_with(options(&server)).await.unwrap(),
        RetryPolicy::SCHEDULER,
    );
    scheduler::run_all(&retrying, EXPECT).await;
    let shared: Arc<dyn Scheduler> =
        Arc::new(PostgresScheduler::connect_with(options(&server)).await.unwrap());
    scheduler::run_all(&shared, EXPECT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueue_joins_the_callers_transaction() {
    let server = PostgresServer::shared();
    let scheduler = PostgresScheduler::connect_with(options(&server)).await.unwrap();
    let mut stream = scheduler.receive_task_operations().await.unwrap();
    let (rolled_back, committed) = (TaskId::new(), TaskId::new());
    let mut client = scheduler.pool().get().await.unwrap();
    for (task_id, commit) in [(rolled_back, false), (committed, true)] {
        let tx = client.transaction().await.unwrap();
        let operation = TaskOperation::new(OperationId::new(), Action::Run(run_params(task_id)));
        scheduler.enqueue_in(&tx, &operation).await.unwrap();
        if commit { tx.commit().await.unwrap() } else { tx.rollback().await.unwrap() }
    }
    let wanted: HashSet<TaskId> = [rolled_back, committed].into();
    let delivery = next_for(&mut stream, &wanted, Duration::from_secs(10)).await;
    assert_eq!(delivery.operation().action.task_id(), committed);
    delivery.ack().await.unwrap();
    scheduler::assert_quiet(&mut stream, &wanted, Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_is_dead_lettered_and_the_receiver_goes_on() {
    let server = PostgresServer::shared();
    let scheduler = PostgresScheduler::connect_with(options(&server)).await.unwrap();
    let client = scheduler.pool().get().await.unwrap();
    client
        .execute(
            "INSERT INTO operations (id, task_id, payload) VALUES ($1, $2, '{\"operation\": \"explode\"}')",
            &[&uuid::Uuid::new_v4(), &uuid::Uuid::new_v4()],
        )
        .await
        .unwrap();
    let good = TaskId::new();
    scheduler.run_task(OperationId::new(), &run_params(good)).await.unwrap();
    let mut stream = scheduler.receive_task_operations().await.unwrap();
    let delivery = next_for(&mut stream, &[good].into(), Duration::from_secs(10)).await;
    delivery.ack().await.unwrap();
    let dead = scheduler.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].operation.is_none() && dead[0].reason.contains("undecodable"), "{dead:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_survive_a_killed_and_restarted_server() {
    let mut server = PostgresServer::start();
    let mut opts = options(&server);
    opts.postgres.request_timeout = Duration::from_secs(2);
    let scheduler = Arc::new(Retrying::with_policy(
        PostgresScheduler::connect_with(opts).await.unwrap(),
        RetryPolicy::new(30, Duration::from_millis(100), Duration::from_millis(500)),
    ));
    let mut stream = scheduler.receive_task_operations().await.unwrap();
    let producer = {
        let scheduler = Arc::clone(&scheduler);
        tokio::spawn(async move {
            let mut enqueued = Vec::new();
            for _ in 0..40 {
                let task_id = TaskId::new();
                let params = run_params(task_id);
                scheduler
                    .run_task(params.operation_id(), &params)
                    .await
                    .expect("enqueue succeeds once the server is back");
                enqueued.push(task_id);
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            enqueued
        })
    };
    let mut received = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut killed = false;
    while received.len() < 40 && Instant::now() < deadline {
        if !killed && received.len() >= 10 {
            server.kill();
            tokio::time::sleep(Duration::from_millis(500)).await;
            server.restart();
            killed = true;
        }
        if let Ok(Some(Ok(delivery))) = tokio::time::timeout(Duration::from_secs(1), stream.next()).await {
            received.insert(delivery.operation().action.task_id());
            let _ = delivery.ack().await; // an ack lost in the crash means a redelivery, not a loss
        }
    }
    let enqueued: HashSet<TaskId> = producer.await.unwrap().into_iter().collect();
    assert!(killed);
    assert_eq!(received, enqueued, "every operation whose enqueue succeeded is received");
}
