#![cfg(feature = "redis")]
//! The Redis password never appears in logs (ours and the redis crate's, at every level), in
//! errors, or in `Debug` output — through connecting, a wrong password, an outage with
//! reconnects, and start-up through [`App`].

use std::sync::Arc;
use std::time::Duration;

use bindu::conformance::scheduler::next_for;
use bindu::conformance::within;
use bindu::redis::RedisScheduler;
use bindu::settings::SchedulerBackend;
use bindu::testing::{RedisServer, RedisServerOptions};
use bindu::{App, AppSettings, OperationId, RetryPolicy, Retrying, Scheduler, TaskId, TaskIdParams};
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
    let options = server.quick_options();
    assert!(options.url.contains(PASSWORD), "the secret is in play");
    let shown = format!("redis://:***@127.0.0.1:{}/0", server.port().unwrap());
    let mut texts = vec![format!("{options:?}"), format!("{server:?}"), options.redacted_url()];

    // A wrong password: the scheduler's error, and App's start-up error naming REDIS_URL.
    let mut wrong = options.clone();
    wrong.url = options.url.replace(PASSWORD, WRONG_PASSWORD);
    let err = within("connect", RedisScheduler::connect_with(wrong.clone())).await.unwrap_err();
    assert!(!err.is_retryable(true), "bad credentials are permanent: {err}");
    texts.push(format!("{err} | {err:?}"));
    let settings = AppSettings {
        scheduler: SchedulerBackend::Redis { url: wrong.url.clone(), prefix: wrong.prefix.clone() },
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
    let failed = within("cancel", scheduler.cancel_task(OperationId::new(), &params)).await.unwrap_err();
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
    within("cancel", retrying.cancel_task(OperationId::new(), &TaskIdParams::new(task))).await.unwrap();
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
