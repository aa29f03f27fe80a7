#![cfg(feature = "redis")]
//! The scheduler conformance suite on [`RedisScheduler`] against a real server — plain, under
//! `Retrying`, through `Arc<dyn …>`, and closing on a scheduler of its own — the contracts only
//! Redis has (prefixes isolate agents, keep-alive holds a delivery, acknowledged entries leave the
//! stream, idle consumers are forgotten, a server that may evict keys is warned about), and
//! workers end to end on a Redis wired by `App`.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bindu::conformance::scheduler::{self, Expectations, assert_quiet, next_for};
use bindu::conformance::within;
use bindu::redis::{RedisKeys, RedisScheduler, RedisSchedulerOptions, RedisStorage};
use bindu::settings::Env;
use bindu::{
    App, AppSettings, Error, Hold, Lanes, Page, RetryPolicy, Retrying, Scheduler, SchedulerExt, TaskId,
    TaskIdParams, Transience,
};
use bindu_test_support::{RedisServer, RedisServerOptions};
use deadpool_redis::redis::{self, Value};

use common::logs::Captured;

/// The suite's timing for [`RedisServer::quick_scheduler_options`]: a dropped delivery comes back
/// after `min_idle`, found by a sweep at most `claim_interval` later.
fn expectations(options: &RedisSchedulerOptions) -> Expectations {
    Expectations {
        redelivery_within: options.min_idle + options.claim_interval + Duration::from_millis(400),
        max_deliveries: options.max_deliveries,
        quiet_period: Duration::from_millis(300),
        idle_takeover: true,
    }
}

async fn connect(options: RedisSchedulerOptions) -> RedisScheduler {
    within("connect", RedisScheduler::connect_with(options)).await.expect("connect to the test server")
}

const POLICY: RetryPolicy = RetryPolicy::new(5, Duration::from_millis(50), Duration::from_millis(500));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_plain() {
    let server = RedisServer::start();
    let options = server.quick_scheduler_options();
    let expect = expectations(&options);
    scheduler::run_all(&connect(options).await, expect).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_retrying() {
    let server = RedisServer::start();
    let options = server.quick_scheduler_options();
    let expect = expectations(&options);
    scheduler::run_all(&Retrying::with_policy(connect(options).await, POLICY), expect).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_arc_dyn() {
    let server = RedisServer::start();
    let options = server.quick_scheduler_options();
    let expect = expectations(&options);
    let shared: Arc<dyn Scheduler> = Arc::new(connect(options).await);
    scheduler::run_all(&shared, expect).await;
    let boxed: Box<dyn Scheduler> = Box::new(Retrying::with_policy(shared, POLICY));
    scheduler::run_all(&boxed, expect).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_ends_streams_and_later_calls() {
    let server = RedisServer::start();
    scheduler::close_ends_streams_and_later_calls(&connect(server.quick_scheduler_options()).await).await;
    let retrying = Retrying::with_policy(connect(server.quick_scheduler_options()).await, POLICY);
    scheduler::close_ends_streams_and_later_calls(&retrying).await;
}

fn tasks(ids: &[TaskId]) -> HashSet<TaskId> {
    ids.iter().copied().collect()
}

#[tokio::test]
async fn prefixes_isolate_agents_on_one_server() {
    let server = RedisServer::start();
    let (a, b) =
        (connect(server.quick_scheduler_options()).await, connect(server.quick_scheduler_options()).await);
    assert_ne!(a.keys(), b.keys());
    let mut stream_b = within("open", b.receive_task_operations()).await.unwrap();
    let task = TaskId::new();
    within("cancel", a.cancel_task(&TaskIdParams::new(task))).await.unwrap();
    assert_quiet(&mut stream_b, &tasks(&[task]), Duration::from_millis(800)).await;
    let mut stream_a = within("open", a.receive_task_operations()).await.unwrap();
    let delivery = next_for(&mut stream_a, &tasks(&[task]), Duration::from_secs(5)).await;
    within("ack", delivery.ack()).await.unwrap();
}

#[tokio::test]
async fn keep_alive_holds_a_delivery_until_it_is_dropped() {
    let server = RedisServer::start();
    let scheduler = connect(server.quick_scheduler_options()).await;
    let min_idle = scheduler.options().min_idle;
    let (mut first, mut second) = (
        within("open", scheduler.receive_task_operations()).await.unwrap(),
        within("open", scheduler.receive_task_operations()).await.unwrap(),
    );
    let task = TaskId::new();
    within("pause", scheduler.pause_task(&TaskIdParams::new(task))).await.unwrap();
    let held = next_for(&mut first, &tasks(&[task]), Duration::from_secs(5)).await;
    // Four idle times with a keep-alive every half idle time: never taken over.
    let wanted = tasks(&[task]);
    let watch = assert_quiet(&mut second, &wanted, min_idle * 4);
    let keep = async {
        for _ in 0..8 {
            tokio::time::sleep(min_idle / 2).await;
            assert_eq!(within("keep_alive", held.keep_alive()).await.unwrap(), Hold::Held);
        }
    };
    tokio::join!(watch, keep);
    drop(held);
    let again = next_for(&mut second, &tasks(&[task]), min_idle * 4).await;
    assert_eq!(again.delivery_count(), 2);
    within("ack", again.ack()).await.unwrap();
}

#[tokio::test]
async fn a_delivery_taken_over_cannot_be_kept_alive_or_settled() {
    let server = RedisServer::start();
    let scheduler = connect(server.quick_scheduler_options()).await;
    let mut first = within("open", scheduler.receive_task_operations()).await.unwrap();
    let task = TaskId::new();
    within("resume", scheduler.resume_task(&TaskIdParams::new(task))).await.unwrap();
    let stale = next_for(&mut first, &tasks(&[task]), Duration::from_secs(5)).await;
    let mut second = within("open", scheduler.receive_task_operations()).await.unwrap();
    let fresh = next_for(&mut second, &tasks(&[task]), Duration::from_secs(5)).await;
    assert_eq!((fresh.operation().id, fresh.delivery_count()), (stale.operation().id, 2));
    assert_eq!(within("keep_alive", stale.keep_alive()).await.unwrap(), Hold::Lost, "taken over");
    // The stale holder's settling changes nothing: the entry stays the new holder's.
    within("ack", stale.ack()).await.unwrap();
    within("dead_letter", stale.dead_letter("stale")).await.unwrap();
    within("release", stale.release(Duration::ZERO)).await.unwrap();
    assert_eq!(within("keep_alive", fresh.keep_alive()).await.unwrap(), Hold::Held);
    assert_eq!(within("backlog", scheduler.backlog()).await.unwrap(), 1);
    assert!(within("dead_letters", scheduler.dead_letters(Page::ALL)).await.unwrap().is_empty());
    within("ack", fresh.ack()).await.unwrap();
    within("ack", fresh.ack()).await.unwrap();
    assert_eq!(within("keep_alive", fresh.keep_alive()).await.unwrap(), Hold::Lost, "settled");
    assert_eq!(within("backlog", scheduler.backlog()).await.unwrap(), 0);
}

#[tokio::test]
async fn settled_operations_leave_the_stream_and_dead_letters_say_why() {
    let server = RedisServer::start();
    let scheduler = connect(server.quick_scheduler_options()).await;
    let mut stream = within("open", scheduler.receive_task_operations()).await.unwrap();
    let ids: Vec<TaskId> = (0..3).map(|_| TaskId::new()).collect();
    let mut operation_ids = Vec::new();
    for task in &ids {
        operation_ids.push(within("cancel", scheduler.cancel_task(&TaskIdParams::new(*task))).await.unwrap());
    }
    assert_eq!(within("backlog", scheduler.backlog()).await.unwrap(), 3);
    for index in 0..3 {
        let delivery = next_for(&mut stream, &tasks(&ids), Duration::from_secs(5)).await;
        if index == 1 {
            within("dead_letter", delivery.dead_letter("the task is gone")).await.unwrap();
            within("dead_letter", delivery.dead_letter("again")).await.unwrap();
        } else {
            within("ack", delivery.ack()).await.unwrap();
        }
    }
    assert_eq!(within("backlog", scheduler.backlog()).await.unwrap(), 0);
    let dead = within("dead_letters", scheduler.dead_letters(Page::ALL)).await.unwrap();
    assert_eq!(dead.len(), 1, "dead-lettering twice stores one: {dead:?}");
    assert_eq!((dead[0].last_error.as_str(), dead[0].deliveries), ("the task is gone", 1));
    let operation = dead[0].operation.as_ref().expect("the operation is kept");
    assert_eq!(operation.id, operation_ids[1]);
    assert_eq!(dead[0].task_id, Some(ids[1]));
}

async fn consumers(url: &str, options: &RedisSchedulerOptions, keys: &RedisKeys) -> Vec<(String, i64)> {
    let client = redis::Client::open(url).unwrap();
    let mut con = within("connect", client.get_multiplexed_async_connection()).await.unwrap();
    let mut info = redis::cmd("XINFO");
    info.arg("CONSUMERS").arg(&keys.control).arg(&options.group);
    let reply: Vec<Vec<Value>> = within("XINFO CONSUMERS", info.query_async(&mut con)).await.unwrap();
    reply
        .into_iter()
        .map(|fields| {
            let mut name = String::new();
            let mut pending = -1;
            for pair in fields.chunks(2) {
                match (&pair[0], &pair[1]) {
                    (Value::BulkString(key), Value::BulkString(value)) if key == b"name" => {
                        name = String::from_utf8_lossy(value).into_owned();
                    }
                    (Value::BulkString(key), Value::Int(value)) if key == b"pending" => pending = *value,
                    _ => {}
                }
            }
            (name, pending)
        })
        .collect()
}

#[tokio::test]
async fn idle_consumers_holding_nothing_are_forgotten() {
    let server = RedisServer::start();
    let mut options = server.quick_scheduler_options();
    options.forget_consumers_after = Duration::from_secs(1);
    options.min_idle = Duration::from_secs(60); // the held entry must stay with its consumer
    let scheduler = connect(options.clone()).await;
    // Three receivers that each got an operation (Redis 7.0 creates a consumer only then): one
    // still holds it, two acknowledged theirs and are gone.
    let mut held = None;
    for index in 0..3 {
        let mut stream = within("open", scheduler.receive_task_operations()).await.unwrap();
        let task = TaskId::new();
        within("cancel", scheduler.cancel_task(&TaskIdParams::new(task))).await.unwrap();
        let delivery = next_for(&mut stream, &tasks(&[task]), Duration::from_secs(5)).await;
        if index == 0 {
            held = Some(delivery);
        } else {
            within("ack", delivery.ack()).await.unwrap();
        }
    }
    let before = consumers(server.url(), &options, scheduler.keys()).await;
    let mut pending: Vec<i64> = before.iter().map(|(_, pending)| *pending).collect();
    pending.sort_unstable();
    assert_eq!(pending, [0, 0, 1], "{before:?}");
    let mut sweeper = within("open", scheduler.receive_task_operations()).await.unwrap();
    assert_quiet(&mut sweeper, &HashSet::new(), Duration::from_millis(2500)).await;
    let after = consumers(server.url(), &options, scheduler.keys()).await;
    let remaining: Vec<&(String, i64)> = before.iter().filter(|consumer| after.contains(consumer)).collect();
    assert_eq!(remaining.len(), 1, "only the holder remains of the three: {after:?}");
    assert_eq!(remaining[0].1, 1, "the consumer holding an entry is kept: {after:?}");
    within("ack", held.expect("held").ack()).await.unwrap();
}

#[tokio::test]
async fn receivers_read_only_their_lanes() {
    let server = RedisServer::start();
    let scheduler = connect(server.quick_scheduler_options()).await;
    let (run_task, cancel_task) = (TaskId::new(), TaskId::new());
    let params = bindu::TaskSendParams::new(run_task, bindu::ContextId::new(), None);
    within("run", scheduler.run_task(&params)).await.unwrap();
    within("cancel", scheduler.cancel_task(&TaskIdParams::new(cancel_task))).await.unwrap();
    let keys = scheduler.keys();
    let client = redis::Client::open(server.url()).unwrap();
    let mut con = within("connect", client.get_multiplexed_async_connection()).await.unwrap();
    let lengths: (u64, u64) =
        within("XLEN", redis::pipe().xlen(&keys.runs).xlen(&keys.control).query_async(&mut con))
            .await
            .unwrap();
    assert_eq!(lengths, (1, 1), "one stream per lane");
    let both = tasks(&[run_task, cancel_task]);
    let mut runs = within("open", scheduler.receive(Lanes::Runs)).await.unwrap();
    let delivery = next_for(&mut runs, &both, Duration::from_secs(5)).await;
    assert_eq!(delivery.operation().action.task_id(), run_task);
    within("ack", delivery.ack()).await.unwrap();
    assert_quiet(&mut runs, &both, Duration::from_millis(500)).await;
    let mut control = within("open", scheduler.receive(Lanes::Control)).await.unwrap();
    let delivery = next_for(&mut control, &both, Duration::from_secs(5)).await;
    assert_eq!(delivery.operation().action.task_id(), cancel_task);
    within("ack", delivery.ack()).await.unwrap();
}

#[tokio::test]
async fn a_server_that_may_evict_keys_is_warned_about() {
    let (captured, _guard) = Captured::install();
    let server = RedisServer::spawn(RedisServerOptions::default());
    let client = redis::Client::open(server.url()).unwrap();
    let mut con = within("connect", client.get_multiplexed_async_connection()).await.unwrap();
    let mut set = redis::cmd("CONFIG");
    set.arg("SET").arg("maxmemory-policy").arg("noeviction");
    let () = within("CONFIG SET", set.query_async(&mut con)).await.unwrap();
    connect(server.quick_scheduler_options()).await;
    within("connect", RedisStorage::connect_with(server.quick_options())).await.unwrap();
    assert!(!captured.text().contains("maxmemory-policy"), "noeviction is fine:\n{}", captured.text());
    let mut set = redis::cmd("CONFIG");
    set.arg("SET").arg("maxmemory-policy").arg("allkeys-lru");
    let () = within("CONFIG SET", set.query_async(&mut con)).await.unwrap();
    connect(server.quick_scheduler_options()).await;
    within("connect", RedisStorage::connect_with(server.quick_options())).await.unwrap();
    let logs = captured.text();
    let warnings: Vec<&str> =
        logs.lines().filter(|line| line.contains("maxmemory-policy allkeys-lru")).collect();
    assert_eq!(warnings.len(), 2, "the scheduler and the storage warn:\n{logs}");
    for warning in warnings {
        assert!(
            warning.contains("WARN") && warning.contains("evict") && warning.contains("noeviction"),
            "{warning}"
        );
    }
}

#[tokio::test]
async fn connecting_classifies_failures() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut options = RedisSchedulerOptions::from_url(&format!("redis://127.0.0.1:{port}/0")).unwrap();
    options.redis.connect_timeout = Duration::from_millis(500);
    let err = within("connect", RedisScheduler::connect_with(options)).await.unwrap_err();
    assert_eq!(err.transience(), Transience::Transient, "nothing listens: {err}");
    let err = within("connect", RedisScheduler::connect("http://127.0.0.1/")).await.unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err}");
    let mut no_prefix = RedisSchedulerOptions::from_url("redis://127.0.0.1/").unwrap();
    no_prefix.redis.prefix = String::new();
    let err = within("connect", RedisScheduler::connect_with(no_prefix)).await.unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_through_several_workers_on_redis() {
    let server = RedisServer::start();
    let (url, prefix) = (server.url().to_owned(), RedisServer::unique_prefix());
    let lookup = move |name: &str| match name {
        "SCHEDULER_TYPE" => Some("redis".to_owned()),
        "REDIS_URL" => Some(url.clone()),
        "REDIS_KEY_PREFIX" => Some(prefix.clone()),
        _ => None,
    };
    let app = within("App::connect", App::connect(&AppSettings::from(&Env::from_lookup(lookup)).unwrap()))
        .await
        .expect("connect the app");
    let (storage, scheduler) = (app.storage.clone(), app.scheduler.clone());
    let end_to_end = common::many_tasks_through_several_workers(storage, scheduler, 150, 3);
    let (calls, stats) =
        tokio::time::timeout(Duration::from_secs(120), end_to_end).await.expect("within 2 minutes");
    println!(
        "end to end on memory + redis: {calls} agent runs for 150 tasks, completed per worker {:?}",
        stats.iter().map(|s| s.completed).collect::<Vec<_>>()
    );
    within("close", app.close()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batched_read_takes_the_hint_in_one_command() {
    let server = RedisServer::start();
    let mut options = server.quick_scheduler_options();
    options.min_idle = Duration::from_secs(60);
    scheduler::a_batched_read_takes_the_hint_at_once(&connect(options).await).await;
}
