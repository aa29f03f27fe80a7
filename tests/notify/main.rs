//! Push notifications against a real HTTP server on 127.0.0.1, started by each test.
#![cfg(feature = "webhooks")]

#[path = "../common/mod.rs"]
mod common;
mod delivery;
mod isolation;
mod redelivery;
mod retries;
mod safety;
mod server;
mod ssrf;

use std::sync::Arc;
use std::time::Duration;

use bindu::notify::{IDEMPOTENCY_KEY, NotifierOptions};
use bindu::{
    ContextId, InMemoryScheduler, InMemoryStorage, Message, PushNotificationConfig, RetryPolicy, Scheduler,
    SchedulerExt, Storage, Task, TaskId, TaskSendParams, TaskState, TaskUpdate,
};
use server::Received;

const LIMIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "s3cr3t-T0KEN-4f9a";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The receivers of these tests listen on loopback, which webhooks may reach only when allowed.
fn options(retry: RetryPolicy) -> NotifierOptions {
    NotifierOptions {
        connect_timeout: ms(1000),
        request_timeout: ms(2000),
        retry,
        allowed_networks: vec!["127.0.0.0/8".parse().unwrap()],
        ..NotifierOptions::default()
    }
}

fn backends() -> (Arc<dyn Storage>, Arc<dyn Scheduler>) {
    (Arc::new(InMemoryStorage::new()), Arc::new(InMemoryScheduler::new()))
}

/// A submitted task whose webhook config is stored.
async fn task_with_webhook(
    storage: &dyn Storage,
    url: &str,
    token: Option<&str>,
    text: &str,
) -> (Task, Message) {
    let message = Message::user_text(text).for_task(TaskId::new());
    let task = storage.submit_task(ContextId::new(), &message, None).await.unwrap().task;
    let mut config = PushNotificationConfig::new(url);
    config.token = token.map(str::to_owned);
    storage.save_webhook_config(task.id, &config).await.unwrap();
    (task, message)
}

/// Like `common::submit`, with the webhook config stored before the run is scheduled.
async fn submit_with_webhook(
    storage: &dyn Storage,
    scheduler: &dyn Scheduler,
    url: &str,
    text: &str,
) -> Task {
    let (task, message) = task_with_webhook(storage, url, Some(TOKEN), text).await;
    let params = TaskSendParams::new(task.id, task.context_id, Some(message));
    scheduler.run_task(&params).await.unwrap();
    task
}

/// Stores `state` and returns the task as stored, as a worker would report it.
async fn store(storage: &dyn Storage, task_id: TaskId, state: TaskState) -> Task {
    storage.update_task(task_id, &TaskUpdate::to(state)).await.unwrap()
}

fn keys(received: &[Received]) -> Vec<String> {
    received.iter().map(|r| r.header(IDEMPOTENCY_KEY).expect("an idempotency key").to_owned()).collect()
}

fn gaps(received: &[Received]) -> Vec<Duration> {
    received.windows(2).map(|pair| pair[1].at - pair[0].at).collect()
}
