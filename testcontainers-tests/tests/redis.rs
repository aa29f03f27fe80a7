//! Redis in a container: the conformance suites (RedisScheduler and RedisStorage, plain and under
//! `Retrying`), a consumer process killed mid-operation, a frozen server and a stopped and started
//! one while operations go through `Retrying`. One container for the file.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bindu::conformance::scheduler::{self, Expectations, next_for};
use bindu::conformance::storage;
use bindu::redis::{RedisScheduler, RedisSchedulerOptions, RedisStorage};
use bindu::{
    ContextId, Message, RetryPolicy, Retrying, SchedulerExt, Storage, TaskId, TaskSendParams, Transience,
};
use bindu_test_support::RedisServer;
use bindu_test_support::consumer::{self, ConsumerProcess};
use bindu_test_support::containers::redis;
use bindu_test_support::free_port;
use futures_util::StreamExt;

const EXPECT: Expectations = Expectations {
    redelivery_within: Duration::from_millis(1500),
    max_deliveries: 3,
    quiet_period: Duration::from_millis(300),
    idle_takeover: true,
};
const THROUGH_OUTAGE: RetryPolicy =
    RetryPolicy::new(60, Duration::from_millis(100), Duration::from_millis(500));

/// Test timing (redelivery after 500 ms idle, 3 deliveries) under a fresh prefix.
fn options(url: &str) -> RedisSchedulerOptions {
    RedisServer::quick_scheduler_options_for(url)
}

fn run_params(task_id: TaskId) -> TaskSendParams {
    TaskSendParams::new(task_id, ContextId::new(), Some(Message::user_text("go").for_task(task_id)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_in_a_container() {
    if let Some(options) = consumer::role() {
        return consumer::hold_first_delivery(options).await;
    }
    let rd = redis(Some(free_port())).await;

    // Conformance, plain and under Retrying, for both traits.
    scheduler::run_all(&RedisScheduler::connect_with(options(&rd.url)).await.unwrap(), EXPECT).await;
    let retrying = Retrying::with_policy(
        RedisScheduler::connect_with(options(&rd.url)).await.unwrap(),
        RetryPolicy::SCHEDULER,
    );
    scheduler::run_all(&retrying, EXPECT).await;
    scheduler::close_ends_streams_and_later_calls(
        &RedisScheduler::connect_with(options(&rd.url)).await.unwrap(),
    )
    .await;
    storage::run_all(&RedisStorage::connect_with(options(&rd.url).redis).await.unwrap()).await;
    let retrying = Retrying::with_policy(
        RedisStorage::connect_with(options(&rd.url).redis).await.unwrap(),
        RetryPolicy::STORAGE,
    );
    storage::run_all(&retrying).await;

    // A consumer process killed after receiving, before acknowledging: another gets it.
    let prefix = bindu_test_support::unique_prefix();
    let min_idle = Duration::from_millis(500);
    let scheduler =
        RedisScheduler::connect_with(consumer::options(&rd.url, &prefix, min_idle)).await.unwrap();
    let mut child = ConsumerProcess::spawn("redis_in_a_container", &rd.url, &prefix, min_idle);
    child.ready().await;
    let task_id = TaskId::new();
    let id = scheduler.run_task(&run_params(task_id)).await.unwrap();
    assert_eq!(child.received().await, (id, 1));
    child.kill().await; // SIGKILL: no chance to acknowledge or clean up
    let killed = Instant::now();
    let mut stream = scheduler.receive_task_operations().await.unwrap();
    let redelivered = next_for(&mut stream, &[task_id].into(), Duration::from_secs(10)).await;
    println!("redelivered {:?} after the consumer was killed", killed.elapsed());
    assert_eq!((redelivered.operation().id, redelivered.delivery_count()), (id, 2));
    redelivered.ack().await.unwrap();
    drop(stream);

    // A frozen server: an uncertain timeout, not a hang; then recovery.
    let storage = RedisStorage::connect_with(options(&rd.url).redis).await.unwrap();
    let task = storage
        .submit_task(ContextId::new(), &Message::user_text("x").for_task(TaskId::new()), None)
        .await
        .unwrap()
        .task;
    rd.container.pause().await.unwrap();
    let asked = Instant::now();
    let err = storage.load_task(task.id, None).await.unwrap_err();
    assert!(asked.elapsed() < Duration::from_secs(6), "a timeout, not a hang: {:?}", asked.elapsed());
    assert!(err.transience() != Transience::Permanent, "{err}");
    let retrying = Arc::new(Retrying::with_policy(storage, THROUGH_OUTAGE));
    let pending = {
        let retrying = Arc::clone(&retrying);
        tokio::spawn(async move { retrying.load_task(task.id, None).await })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    rd.container.unpause().await.unwrap();
    let loaded = tokio::time::timeout(Duration::from_secs(60), pending).await.unwrap().unwrap().unwrap();
    assert_eq!(loaded.unwrap().id, task.id);

    // Stop and start the container (same port, append-only file) while producers enqueue and a
    // consumer receives: every operation whose enqueue succeeded is received.
    let scheduler = Arc::new(Retrying::with_policy(
        RedisScheduler::connect_with(options(&rd.url)).await.unwrap(),
        THROUGH_OUTAGE,
    ));
    let mut stream = scheduler.receive_task_operations().await.unwrap();
    let producer = {
        let scheduler = Arc::clone(&scheduler);
        tokio::spawn(async move {
            let mut sent = Vec::new();
            for _ in 0..40 {
                let task_id = TaskId::new();
                let params = run_params(task_id);
                scheduler.run_task(&params).await.expect("enqueue");
                sent.push(task_id);
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            sent
        })
    };
    let mut received = HashSet::new();
    let mut restarted = false;
    let deadline = Instant::now() + Duration::from_secs(120);
    while received.len() < 40 && Instant::now() < deadline {
        if !restarted && received.len() >= 10 {
            rd.container.stop().await.unwrap();
            tokio::time::sleep(Duration::from_millis(500)).await;
            rd.container.start().await.unwrap();
            restarted = true;
        }
        if let Ok(Some(Ok(delivery))) = tokio::time::timeout(Duration::from_secs(1), stream.next()).await {
            received.insert(delivery.operation().action.task_id());
            let _ = delivery.ack().await;
        }
    }
    let sent: HashSet<TaskId> = producer.await.unwrap().into_iter().collect();
    assert!(restarted);
    assert_eq!(received, sent, "every operation whose enqueue succeeded is received");
}
