#![cfg(feature = "redis")]
//! [`RedisScheduler`] under real faults: Redis killed and restarted (with and without its data),
//! Redis frozen, Redis demoted to a replica and promoted back (with [`RedisStorage`]), a consumer
//! process killed between receiving and acknowledging, poison entries, enqueues replayed after
//! uncertain failures. Every await is under a timeout.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bindu::conformance::scheduler::{assert_quiet, next_for};
use bindu::conformance::within;
use bindu::redis::{RedisScheduler, RedisSchedulerOptions, RedisStorage};
use bindu::testing::{Fault, Faulty};
use bindu::{
    Call, ContextId, Message, OperationId, OperationStream, Page, RetryPolicy, Retrying, Scheduler,
    SchedulerExt, Storage, TaskId, TaskIdParams, TaskOperation, TaskSendParams, Transience,
};
use bindu_test_support::consumer::{self, ConsumerProcess};
use bindu_test_support::{RedisServer, RedisServerOptions};
use deadpool_redis::redis;
use futures_util::StreamExt;
use tokio::time::{Instant, timeout};

/// Enough retries to ride out a restart (about 20 s of waiting in all).
const OUTAGE: RetryPolicy = RetryPolicy::new(40, Duration::from_millis(50), Duration::from_millis(500));

async fn connect(options: RedisSchedulerOptions) -> RedisScheduler {
    within("connect", RedisScheduler::connect_with(options)).await.expect("connect to the test server")
}

fn tasks(ids: &[TaskId]) -> HashSet<TaskId> {
    ids.iter().copied().collect()
}

/// How often each operation id was received.
type Received = Arc<Mutex<HashMap<OperationId, u32>>>;

/// Receives for ever, counting and acknowledging (an acknowledgement lost in an outage only
/// means a redelivery).
fn consume(mut stream: OperationStream, received: Received) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(item) = stream.next().await {
            let delivery = item.expect("the stream yields no errors for outages");
            *received.lock().unwrap().entry(delivery.operation().id).or_default() += 1;
            let _ = timeout(Duration::from_secs(5), delivery.ack()).await;
        }
        panic!("the stream ended");
    })
}

/// Waits until every id in `wanted` was received, failing after `wait`.
async fn all_received(received: &Received, wanted: &HashSet<OperationId>, wait: Duration) {
    let deadline = Instant::now() + wait;
    loop {
        let missing = wanted.iter().filter(|id| !received.lock().unwrap().contains_key(id)).count();
        if missing == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{missing} of {} enqueued operations never arrived", wanted.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_enqueued_operation_survives_redis_restarts() {
    let server = Arc::new(RedisServer::spawn(RedisServerOptions { persistent: true, ..Default::default() }));
    // Faulty injects nothing here: it counts the calls Retrying makes.
    let scheduler =
        Arc::new(Retrying::with_policy(Faulty::new(connect(server.quick_scheduler_options()).await), OUTAGE));
    let received = Received::default();
    let mut consumers = Vec::new();
    for _ in 0..2 {
        let stream = within("open", scheduler.receive_task_operations()).await.unwrap();
        consumers.push(consume(stream, Arc::clone(&received)));
    }
    let started = Instant::now();
    let producers: Vec<_> = (0..2)
        .map(|_| {
            let scheduler = Arc::clone(&scheduler);
            tokio::spawn(async move {
                let mut enqueued = Vec::new();
                for _ in 0..150 {
                    let params = TaskIdParams::new(TaskId::new());
                    if let Ok(id) =
                        timeout(Duration::from_secs(60), scheduler.cancel_task(&params)).await.unwrap()
                    {
                        enqueued.push((id, started.elapsed()));
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                enqueued
            })
        })
        .collect();
    // Two SIGKILL + restart cycles while producers and consumers run: down for 1 s, then at once.
    let mut restarts = Vec::new();
    for down_for in [Duration::from_secs(1), Duration::ZERO] {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let server = Arc::clone(&server);
        let before = started.elapsed();
        let cycle = move || {
            server.kill();
            std::thread::sleep(down_for);
            server.restart();
        };
        within("restart", tokio::task::spawn_blocking(cycle)).await.unwrap();
        restarts.push((before, started.elapsed()));
    }
    let mut enqueued = Vec::new();
    for producer in producers {
        enqueued.extend(within("producer", producer).await.unwrap());
    }
    let wanted: HashSet<OperationId> = enqueued.iter().map(|(id, _)| *id).collect();
    for (down, up) in &restarts {
        assert!(enqueued.iter().any(|(_, at)| at < down), "enqueues before the restart at {down:?}");
        assert!(enqueued.iter().any(|(_, at)| at > up), "enqueues after the restart at {up:?}");
    }
    assert!(wanted.len() >= 250, "most enqueues succeed through Retrying: {}", wanted.len());
    all_received(&received, &wanted, Duration::from_secs(60)).await;
    let calls = scheduler.inner().calls(Call::ENQUEUE);
    assert!(calls > 300, "the outage failed enqueues that were retried ({calls} calls for 300 enqueues)");
    let counts = received.lock().unwrap().clone();
    let again = counts.values().filter(|count| **count > 1).count();
    eprintln!(
        "(down, up) at {restarts:?}: {} of 300 enqueues succeeded ({calls} calls), all received, {again} more than once",
        wanted.len()
    );
    for consumer in consumers {
        assert!(!consumer.is_finished(), "a receive stream ended");
        consumer.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiving_resumes_after_redis_lost_its_data() {
    let server = Arc::new(RedisServer::spawn(RedisServerOptions::default()));
    let scheduler = Retrying::with_policy(connect(server.quick_scheduler_options()).await, OUTAGE);
    let mut stream = within("open", scheduler.receive_task_operations()).await.unwrap();
    let first = TaskId::new();
    within("cancel", scheduler.cancel_task(&TaskIdParams::new(first))).await.unwrap();
    within("ack", next_for(&mut stream, &tasks(&[first]), Duration::from_secs(5)).await.ack()).await.unwrap();
    // Without persistence the stream and its consumer group are gone after the restart.
    let restarting = Arc::clone(&server);
    within("restart", tokio::task::spawn_blocking(move || restarting.restart())).await.unwrap();
    let second = TaskId::new();
    within("cancel", scheduler.cancel_task(&TaskIdParams::new(second))).await.unwrap();
    let delivery = next_for(&mut stream, &tasks(&[second]), Duration::from_secs(15)).await;
    assert_eq!(delivery.delivery_count(), 1);
    within("ack", delivery.ack()).await.unwrap();
    // Wiped under a live connection (FLUSHALL): the next read finds no group and recreates it.
    let client = redis::Client::open(server.url()).unwrap();
    let mut admin = within("connect", client.get_multiplexed_async_connection()).await.unwrap();
    let () = within("FLUSHALL", redis::cmd("FLUSHALL").query_async(&mut admin)).await.unwrap();
    let third = TaskId::new();
    within("cancel", scheduler.cancel_task(&TaskIdParams::new(third))).await.unwrap();
    let delivery = next_for(&mut stream, &tasks(&[third]), Duration::from_secs(15)).await;
    assert_eq!(delivery.delivery_count(), 1);
    within("ack", delivery.ack()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiving_resumes_after_redis_was_frozen() {
    let server = Arc::new(RedisServer::spawn(RedisServerOptions::default()));
    let options = server.quick_scheduler_options();
    let scheduler = Retrying::with_policy(connect(options.clone()).await, OUTAGE);
    let stream = within("open", scheduler.receive_task_operations()).await.unwrap();
    let received = Received::default();
    let consumer = consume(stream, Arc::clone(&received));
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.stop();
    // Longer than a blocking read's response timeout, so the receiver times out and reconnects.
    tokio::time::sleep(options.block_time + options.redis.response_timeout + Duration::from_secs(1)).await;
    server.cont();
    let id = within("pause", scheduler.pause_task(&TaskIdParams::new(TaskId::new()))).await.unwrap();
    all_received(&received, &HashSet::from([id]), Duration::from_secs(15)).await;
    assert!(!consumer.is_finished(), "the stream neither ended nor yielded an error");
    consumer.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_consumers_operation_is_redelivered_after_the_idle_time() {
    if let Some(options) = consumer::role() {
        return consumer::hold_first_delivery(options).await;
    }
    let server = RedisServer::start();
    let (prefix, min_idle) = (RedisServer::unique_prefix(), Duration::from_secs(1));
    let options = consumer::options(server.url(), &prefix, min_idle);
    let scheduler = connect(options.clone()).await;
    let mut measured = Vec::new();
    for _ in 0..3 {
        let mut child = ConsumerProcess::spawn(
            "a_killed_consumers_operation_is_redelivered_after_the_idle_time",
            server.url(),
            &prefix,
            min_idle,
        );
        child.ready().await;
        let task = TaskId::new();
        let id = within("cancel", scheduler.cancel_task(&TaskIdParams::new(task))).await.unwrap();
        assert_eq!(child.received().await, (id, 1));
        let received = Instant::now();
        child.kill().await;
        let killed = Instant::now();
        let mut stream = within("open", scheduler.receive_task_operations()).await.unwrap();
        let delivery = next_for(&mut stream, &tasks(&[task]), Duration::from_secs(10)).await;
        let redelivered = Instant::now();
        assert_eq!((delivery.operation().id, delivery.delivery_count()), (id, 2));
        within("ack", delivery.ack()).await.unwrap();
        let (after_receipt, after_kill) = (redelivered - received, redelivered - killed);
        // Not before the idle time (measured from a moment just after the delivery)…
        assert!(after_receipt + Duration::from_millis(100) >= options.min_idle, "{after_receipt:?}");
        // … and within one sweep after it (plus scheduling slack on a busy machine).
        assert!(
            after_receipt <= options.min_idle + options.claim_interval + Duration::from_secs(1),
            "{after_receipt:?}"
        );
        measured.push((after_receipt, after_kill));
    }
    eprintln!(
        "redelivery after SIGKILL of the consumer (min_idle {:?}, claim_interval {:?}): (since receipt, since kill) = {measured:?}",
        options.min_idle, options.claim_interval
    );
}

#[tokio::test]
async fn poison_entries_are_dead_lettered_and_the_consumer_goes_on() {
    let server = RedisServer::start();
    let options = server.quick_scheduler_options();
    let scheduler = connect(options.clone()).await;
    let mut stream = within("open", scheduler.receive_task_operations()).await.unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let mut raw = within("connect", client.get_multiplexed_async_connection()).await.unwrap();
    let (id, task) = (OperationId::new(), TaskId::new());
    let poison: [(&str, Vec<u8>, &str); 5] = [
        ("op", b"{not json".to_vec(), "not JSON"),
        (
            "op",
            format!(r#"{{"v":99,"id":"{id}","operation":"cancel","params":{{"taskId":"{task}"}}}}"#)
                .into_bytes(),
            "unsupported payload version 99",
        ),
        (
            "op",
            format!(r#"{{"v":1,"id":"{id}","operation":"explode","params":{{}}}}"#).into_bytes(),
            "unknown variant `explode`",
        ),
        ("op", vec![0xff, 0xfe, 0x00], "not JSON"),
        ("hello", b"world".to_vec(), "no \"op\" field"),
    ];
    for (field, value, _) in &poison {
        let mut add = redis::cmd("XADD");
        add.arg(&scheduler.keys().runs).arg("*").arg(field).arg(value.as_slice());
        let _: String = within("XADD", add.query_async(&mut raw)).await.unwrap();
    }
    // A run: on the same stream as the poison, after it.
    let good = TaskId::new();
    within("run", scheduler.run_task(&run(good))).await.unwrap();
    let delivery = next_for(&mut stream, &tasks(&[good]), Duration::from_secs(5)).await;
    assert_eq!(delivery.delivery_count(), 1);
    within("ack", delivery.ack()).await.unwrap();
    let dead = within("dead_letters", scheduler.dead_letters(Page::ALL)).await.unwrap();
    assert_eq!(dead.len(), poison.len(), "{dead:#?}");
    eprintln!("dead-letter reasons: {:#?}", dead.iter().map(|letter| &letter.last_error).collect::<Vec<_>>());
    for (letter, (_, _, problem)) in dead.iter().zip(&poison) {
        assert!(letter.last_error.starts_with("malformed operation entry: "), "{letter:?}");
        assert!(letter.last_error.contains(problem), "{problem}: {letter:?}");
        assert_eq!((letter.deliveries, letter.operation.is_none()), (1, true), "{letter:?}");
    }
    // What cannot be read cannot be replayed (it would only die again), but can be discarded.
    let unreadable = &dead[0].id;
    let refused = within("replay", scheduler.replay_dead_letter(unreadable)).await.unwrap_err();
    assert!(matches!(refused, bindu::Error::Invalid { what: "dead letter", .. }), "{refused:?}");
    assert!(within("discard", scheduler.discard_dead_letter(unreadable)).await.unwrap());
    let dead = within("dead_letters", scheduler.dead_letters(Page::ALL)).await.unwrap();
    assert_eq!(dead.len(), poison.len() - 1);
    // An operation whose every receiver dies: delivered max_deliveries times, once more flagged,
    // then dead-lettered.
    let doomed = TaskId::new();
    within("run", scheduler.run_task(&run(doomed))).await.unwrap();
    for count in 1..=options.max_deliveries + 1 {
        let delivery = next_for(&mut stream, &tasks(&[doomed]), Duration::from_secs(5)).await;
        assert_eq!(
            (delivery.delivery_count(), delivery.over_limit()),
            (count, count > options.max_deliveries)
        );
    }
    let after = TaskId::new();
    within("cancel", scheduler.cancel_task(&TaskIdParams::new(after))).await.unwrap();
    within("ack", next_for(&mut stream, &tasks(&[after]), Duration::from_secs(5)).await.ack()).await.unwrap();
    assert_quiet(&mut stream, &tasks(&[doomed]), options.min_idle * 3).await;
    let dead = within("dead_letters", scheduler.dead_letters(Page::ALL)).await.unwrap();
    let last = dead.last().expect("the doomed operation");
    assert_eq!(last.operation.as_ref().map(|op| op.action.task_id()), Some(doomed));
    let limit = options.max_deliveries + 1;
    assert_eq!(
        (last.last_error.clone(), last.deliveries),
        (format!("not settled after {limit} deliveries"), limit)
    );
    assert_eq!(within("backlog", scheduler.backlog()).await.unwrap(), 0, "nothing is left in the stream");
}

fn run(task: TaskId) -> TaskSendParams {
    TaskSendParams::new(task, ContextId::new(), Some(Message::user_text("go").for_task(task)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_enqueues_never_deliver_twice() {
    // Its own server: the write pause below would stall other tests sharing REDIS_URL.
    let server = RedisServer::spawn(RedisServerOptions::default());
    let mut options = server.quick_scheduler_options();
    options.redis.response_timeout = Duration::from_millis(300);
    let faulty = Faulty::new(connect(options.clone()).await);
    // Applied, then reported as failed (the reply "was lost"), twice per enqueue.
    faulty.script(Call::ENQUEUE, [Fault::After(Transience::Uncertain); 8]);
    let scheduler = Arc::new(Retrying::with_policy(faulty, OUTAGE));
    let mut stream = within("open", scheduler.receive_task_operations()).await.unwrap();
    let ids: Vec<TaskId> = (0..6).map(|_| TaskId::new()).collect();
    within("run", scheduler.run_task(&run(ids[0]))).await.unwrap();
    within("cancel", scheduler.cancel_task(&TaskIdParams::new(ids[1]))).await.unwrap();
    within("pause", scheduler.pause_task(&TaskIdParams::new(ids[2]))).await.unwrap();
    within("resume", scheduler.resume_task(&TaskIdParams::new(ids[3]))).await.unwrap();
    assert_eq!(scheduler.inner().calls(Call::ENQUEUE), 12, "each enqueue was replayed twice");
    // Real uncertain failures: writes are paused on the server (`CLIENT PAUSE … WRITE`; the pool's
    // PING still works), so the enqueue script is sent, its reply times out, and it is replayed;
    // every copy runs when the pause ends. Five concurrent callers of one id on top.
    let client = redis::Client::open(server.url()).unwrap();
    let mut admin = within("connect", client.get_multiplexed_async_connection()).await.unwrap();
    let mut pause = redis::cmd("CLIENT");
    pause.arg("PAUSE").arg(1500).arg("WRITE");
    let () = within("CLIENT PAUSE", pause.query_async(&mut admin)).await.unwrap();
    let paused = TaskOperation::cancel(TaskIdParams::new(ids[4]));
    let before = scheduler.inner().calls(Call::ENQUEUE);
    let enqueues: Vec<_> = (0..5)
        .map(|_| {
            let (scheduler, operation) = (Arc::clone(&scheduler), paused.clone());
            tokio::spawn(async move { scheduler.enqueue(&operation).await })
        })
        .collect();
    for enqueue in enqueues {
        within("paused enqueue", enqueue).await.unwrap().expect("replayed until the server answered");
    }
    let replays = scheduler.inner().calls(Call::ENQUEUE) - before;
    assert!(replays > 5, "the paused enqueues timed out and were replayed ({replays} calls)");
    eprintln!("5 enqueues of one id under a write pause: {replays} calls");
    let concurrent = TaskOperation::cancel(TaskIdParams::new(ids[5]));
    let all = futures_util::future::join_all((0..5).map(|_| scheduler.enqueue(&concurrent)));
    let results = within("concurrent enqueues", all).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let wanted = tasks(&ids);
    let mut seen = Vec::new();
    for _ in 0..ids.len() {
        let delivery = next_for(&mut stream, &wanted, Duration::from_secs(10)).await;
        seen.push(delivery.operation().action.task_id());
        within("ack", delivery.ack()).await.unwrap();
    }
    assert_eq!(seen.iter().copied().collect::<HashSet<_>>(), wanted, "each operation once: {seen:?}");
    assert_quiet(&mut stream, &wanted, options.min_idle * 2).await;
}

/// The ids of the server's client connections, but `admin`'s.
async fn client_ids(admin: &mut redis::aio::MultiplexedConnection) -> HashSet<i64> {
    let own: i64 = redis::cmd("CLIENT").arg("ID").query_async(admin).await.unwrap();
    let list: String = redis::cmd("CLIENT").arg("LIST").query_async(admin).await.unwrap();
    list.lines()
        .filter_map(|line| line.split(' ').find_map(|field| field.strip_prefix("id="))?.parse().ok())
        .filter(|id| *id != own)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demoted_server_is_left_for_fresh_connections() {
    // A failover that demotes the primary but leaves its connections open: every write on them
    // answers READONLY, while fresh connections (through the same name) reach the new primary.
    // Here the server is demoted and promoted back; what matters is that the backends stop using
    // the connections that answered READONLY.
    let server = RedisServer::spawn(RedisServerOptions::default());
    let options = server.quick_scheduler_options();
    let storage = Retrying::with_policy(
        within("connect", RedisStorage::connect_with(options.redis.clone())).await.unwrap(),
        OUTAGE,
    );
    let scheduler = Retrying::with_policy(connect(options.clone()).await, OUTAGE);
    let mut stream = within("open", scheduler.receive_task_operations()).await.unwrap();
    let warm = TaskId::new();
    within("cancel", scheduler.cancel_task(&TaskIdParams::new(warm))).await.unwrap();
    within("ack", next_for(&mut stream, &tasks(&[warm]), Duration::from_secs(5)).await.ack()).await.unwrap();
    let first = Message::user_text("before").for_task(TaskId::new());
    within("submit", storage.submit_task(ContextId::new(), &first, None)).await.unwrap();

    let client = redis::Client::open(server.url()).unwrap();
    let mut admin = within("connect", client.get_multiplexed_async_connection()).await.unwrap();
    let before = client_ids(&mut admin).await;
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let () = redis::cmd("REPLICAOF").arg("127.0.0.1").arg(nowhere).query_async(&mut admin).await.unwrap();
    let second = Message::user_text("while demoted").for_task(TaskId::new());
    let err =
        within("submit", storage.inner().submit_task(ContextId::new(), &second, None)).await.unwrap_err();
    assert_eq!(err.transience(), Transience::Transient, "{err}");
    assert!(err.to_string().contains("read only replica"), "{err}");
    let operation = TaskOperation::cancel(TaskIdParams::new(TaskId::new()));
    let err = within("enqueue", scheduler.inner().enqueue(&operation)).await.unwrap_err();
    assert_eq!(err.transience(), Transience::Transient, "{err}");
    // The receiver reads (a write for Redis: it moves the group's cursor), is refused, reconnects.
    let read = timeout(options.block_time * 3, stream.next()).await;
    assert!(
        read.is_err(),
        "nothing is handed out, no error either: {:?}",
        read.map(|item| item.map(|i| i.map(drop)))
    );

    // Retried calls go through once there is a primary again.
    let promote = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let () = redis::cmd("REPLICAOF").arg("NO").arg("ONE").query_async(&mut admin.clone()).await.unwrap();
    };
    let (submitted, enqueued, ()) = tokio::join!(
        within("submit", storage.submit_task(ContextId::new(), &second, None)),
        within("enqueue", scheduler.enqueue(&operation)),
        promote
    );
    assert_eq!(submitted.unwrap().task.history[0].message_id, second.message_id);
    enqueued.unwrap();
    let task = operation.action.task_id();
    within("ack", next_for(&mut stream, &tasks(&[task]), Duration::from_secs(15)).await.ack()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let still_open: Vec<i64> = client_ids(&mut admin).await.intersection(&before).copied().collect();
        if still_open.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let list: String = redis::cmd("CLIENT").arg("LIST").query_async(&mut admin).await.unwrap();
            panic!("connections from before the demotion are still in use: {still_open:?}\n{list}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
