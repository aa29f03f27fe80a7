//! A consumer process for the "killed mid-operation" test: receives one operation from a
//! RedisScheduler, prints its task id, and never acknowledges it (it waits to be killed).
//!
//! Usage: `consumer <redis url> <key prefix> <min idle ms>`

use std::time::Duration;

use bindu::SchedulerExt;
use bindu::redis::{RedisOptions, RedisScheduler, RedisSchedulerOptions};
use futures_util::StreamExt;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, prefix, min_idle_ms] = args.as_slice() else {
        eprintln!("usage: consumer <redis url> <key prefix> <min idle ms>");
        std::process::exit(2);
    };
    let redis = RedisOptions::from_url(url).expect("a Redis URL").with_prefix(prefix.clone());
    let mut options = RedisSchedulerOptions::new(redis);
    options.min_idle = Duration::from_millis(min_idle_ms.parse().expect("milliseconds"));
    options.claim_interval = Duration::from_millis(100);
    options.block_time = Duration::from_millis(200);
    let scheduler = RedisScheduler::connect_with(options).await.expect("connect");
    let mut operations = scheduler.receive_task_operations().await.expect("receive");
    let delivery = operations.next().await.expect("a delivery").expect("not an error");
    println!("received {}", delivery.operation().action.task_id());
    // Hold the delivery without acknowledging it until killed.
    std::future::pending::<()>().await;
}
