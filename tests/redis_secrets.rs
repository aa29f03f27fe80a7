#![cfg(feature = "redis")]
//! The Redis password never appears in logs (ours and the redis crate's, at every level), in
//! errors, or in `Debug` output — through connecting, a wrong password, an outage with
//! reconnects, start-up through [`App`], and a password holding URL delimiters.

use std::sync::Arc;
use std::time::Duration;

use bindu::conformance::scheduler::next_for;
use bindu::conformance::within;
use bindu::redis::{RedisScheduler, RedisStorage};
use bindu::settings::SchedulerBackend;
use bindu::{
    App, AppSettings, ContextId, Message, RetryPolicy, Retrying, SchedulerExt, Storage, TaskId, TaskIdParams,
};
use bindu_test_support::{RedisServer, RedisServerOptions};
use futures_util::StreamExt;
use tracing_subscriber::util::SubscriberInitExt;

mod common;

use common::logs::Captured;

const PASSWORD: &str = "pw-7f3a-correct-horse";
const WRONG_PASSWORD: &str = "pw-5d1c-battery-staple";

fn assert_secret_free(what: &str, text: &str) {
    for secret in [PASSWORD, WRONG_PASSWORD] {
        assert!(!text.contains(secret), "{what} shows a password:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_never_appears_in_logs_errors_or_debug_output() {
    let captured = Captured::default();
    let writer = captured.clone();
    // `init` also forwards the redis crate's `log` records.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish()
        .init();
    let server = Arc::new(RedisServer::spawn(RedisServerOptions {
        password: Some(PASSWORD.into()),
        ..Default::default()
    }));
    let options = server.quick_scheduler_options();
    assert!(options.redis.url.contains(PASSWORD), "the secret is in play");
    let shown = format!("redis://:***@127.0.0.1:{}/0", server.port().unwrap());
    let mut texts = vec![format!("{options:?}"), format!("{server:?}"), options.redis.redacted_url()];

    // A wrong password: the scheduler's error, and App's start-up error naming REDIS_URL.
    let mut wrong = options.clone();
    wrong.redis.url = options.redis.url.replace(PASSWORD, WRONG_PASSWORD);
    let err = within("connect", RedisScheduler::connect_with(wrong.clone())).await.unwrap_err();
    assert!(!err.is_retryable(true), "bad credentials are permanent: {err}");
    texts.push(format!("{err} | {err:?}"));
    let settings = AppSettings {
        scheduler: SchedulerBackend::Redis {
            url: wrong.redis.url.clone(),
            prefix: wrong.redis.prefix.clone(),
        },
        ..AppSettings::default()
    };
    let err = within("App::connect", App::connect(&settings)).await.unwrap_err();
    let text = format!("{err} | {err:?} | {settings:?}");
    assert!(text.contains("REDIS_URL") && text.contains("redis://:***@127.0.0.1"), "{text}");
    texts.push(text);

    // The right one, then an outage: receivers reconnect (logging), enqueues fail, then recover.
    let scheduler = within("connect", RedisScheduler::connect_with(options.clone())).await.unwrap();
    texts.push(format!("{scheduler:?}"));
    let mut stream = within("open", scheduler.receive_task_operations()).await.unwrap();
    server.kill();
    let params = TaskIdParams::new(TaskId::new());
    let failed = within("cancel", scheduler.cancel_task(&params)).await.unwrap_err();
    texts.push(format!("{failed} | {failed:?}"));
    // Poll through the outage: the receiver fails, logs and retries, and yields nothing.
    let outage = tokio::time::timeout(Duration::from_millis(1500), stream.next()).await;
    assert!(
        outage.is_err(),
        "the stream neither ends nor yields while Redis is down: {:?}",
        outage.map(|item| item.map(|item| item.map(drop)))
    );
    let restarting = Arc::clone(&server);
    within("restart", tokio::task::spawn_blocking(move || restarting.restart())).await.unwrap();
    let retrying = Retrying::with_policy(
        scheduler,
        RetryPolicy::new(20, Duration::from_millis(50), Duration::from_millis(500)),
    );
    let task = TaskId::new();
    within("cancel", retrying.cancel_task(&TaskIdParams::new(task))).await.unwrap();
    let delivery = next_for(&mut stream, &[task].into_iter().collect(), Duration::from_secs(15)).await;
    within("ack", delivery.ack()).await.unwrap();

    let logs = captured.text();
    assert!(logs.contains("lost the Redis connection"), "the outage was logged:\n{logs}");
    assert!(logs.contains("reconnected to Redis"), "the recovery was logged:\n{logs}");
    assert!(logs.contains(&shown), "logs name the server with the password hidden:\n{logs}");
    assert_secret_free("the logs", &logs);
    for text in texts {
        assert_secret_free("an error or Debug output", &text);
    }
}

/// A password holding `/`, `?`, `#` and `@`, pasted into the URL unescaped: it works, and what is
/// logged or reported never shows it (nor a piece of it). On one thread, so that the capture
/// sees everything the backends log.
#[tokio::test]
async fn a_password_with_url_delimiters_works_and_never_appears() {
    let (captured, _guard) = Captured::install();
    const TRICKY: &str = "pw/7f3a?x#y@z";
    let server =
        RedisServer::spawn(RedisServerOptions { password: Some(TRICKY.into()), ..Default::default() });
    let options = server.quick_scheduler_options();
    assert!(options.redis.url.contains(TRICKY), "the URL carries the password unescaped");
    let pieces = ["pw/7f3a", "7f3a?x", "x#y", "y@z"];
    let mut texts = vec![format!("{options:?}"), format!("{server:?}"), options.redis.redacted_url()];

    let storage = within("connect", RedisStorage::connect_with(options.redis.clone())).await.unwrap();
    let message = Message::user_text("hi").for_task(TaskId::new());
    within("submit", storage.submit_task(ContextId::new(), &message, None)).await.unwrap();
    let scheduler = within("connect", RedisScheduler::connect_with(options.clone())).await.unwrap();
    let mut stream = within("open", scheduler.receive_task_operations()).await.unwrap();
    let task = TaskId::new();
    within("cancel", scheduler.cancel_task(&TaskIdParams::new(task))).await.unwrap();
    within("ack", next_for(&mut stream, &[task].into_iter().collect(), Duration::from_secs(5)).await.ack())
        .await
        .unwrap();
    texts.push(format!("{storage:?} {scheduler:?}"));

    // The same password, one character wrong; and a URL that does not parse.
    let mut wrong = options.clone();
    wrong.redis.url = options.redis.url.replace("@z@", "@q@");
    let err = within("connect", RedisScheduler::connect_with(wrong)).await.unwrap_err();
    assert!(!err.is_retryable(true), "bad credentials are permanent: {err}");
    texts.push(format!("{err} | {err:?}"));
    let broken = options.redis.url.replace("127.0.0.1:", "127.0.0.1:port");
    let err = bindu::redis::RedisOptions::from_url(&broken).unwrap_err();
    texts.push(format!("{err} | {err:?}"));

    texts.push(captured.text());
    for text in texts {
        for piece in pieces {
            assert!(!text.contains(piece), "{piece:?} shows:\n{text}");
        }
    }
}
