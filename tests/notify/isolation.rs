//! A slow or dead webhook delays neither the task nor other webhooks; the backlog is bounded.

use std::sync::Arc;

use bindu::notify::{FailureReason, NotifierOptions, WebhookNotifier};
use bindu::worker::TaskListener;
use bindu::{InMemoryStorage, RetryPolicy, Storage, TaskState};

use crate::server::{Reply, WebhookServer};
use crate::{LIMIT, ms, options, store, task_with_webhook};

#[tokio::test]
async fn one_slow_webhook_does_not_delay_another() {
    let slow = WebhookServer::start_with([], Reply::Hang).await;
    let fast = WebhookServer::start([]).await;
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let options = NotifierOptions { request_timeout: ms(10_000), ..options(RetryPolicy::never()) };
    let notifier = WebhookNotifier::new(Arc::clone(&storage), options).unwrap();
    let (stuck, _) = task_with_webhook(&*storage, &slow.url("/hook"), None, "x").await;
    let (free, _) = task_with_webhook(&*storage, &fast.url("/hook"), None, "y").await;
    notifier.task_changed(&store(&*storage, stuck.id, TaskState::Working).await);
    slow.wait_for(1, LIMIT).await;
    let sent = tokio::time::Instant::now();
    notifier.task_changed(&store(&*storage, free.id, TaskState::Working).await);
    let received = fast.wait_for(1, LIMIT).await;
    assert!(received[0].at - sent < ms(1000), "{:?}", received[0].at - sent);
    crate::common::wait_until("the fast one is delivered", LIMIT, || async {
        notifier.stats().delivered == 1
    })
    .await;
    assert_eq!(notifier.stats().outstanding, 1, "the slow one is still in flight");
    assert!(!notifier.shutdown(ms(10)).await, "the hanging one is abandoned");
}

#[tokio::test]
async fn a_dead_webhook_shared_by_many_tasks_leaves_slots_for_others() {
    let dead = WebhookServer::start_with([], Reply::Hang).await;
    let fast = WebhookServer::start([]).await;
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let options = NotifierOptions {
        concurrency: 3,
        per_host_concurrency: 2,
        request_timeout: ms(10_000),
        ..options(RetryPolicy::never())
    };
    let notifier = WebhookNotifier::new(Arc::clone(&storage), options).unwrap();
    for i in 0..5 {
        let (task, _) = task_with_webhook(&*storage, &dead.url("/hook"), None, &format!("{i}")).await;
        notifier.task_changed(&store(&*storage, task.id, TaskState::Working).await);
    }
    dead.wait_for(2, LIMIT).await;
    let (free, _) = task_with_webhook(&*storage, &fast.url("/hook"), None, "free").await;
    let sent = tokio::time::Instant::now();
    notifier.task_changed(&store(&*storage, free.id, TaskState::Working).await);
    let received = fast.wait_for(1, LIMIT).await;
    assert!(received[0].at - sent < ms(1000), "{:?}", received[0].at - sent);
    assert_eq!(dead.received().len(), 2, "at most per_host_concurrency requests to one host");
    assert!(!notifier.shutdown(ms(10)).await);
}

#[tokio::test]
async fn a_full_backlog_drops_and_records_without_blocking() {
    let server = WebhookServer::start_with([], Reply::Hang).await;
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let options =
        NotifierOptions { queue_capacity: 2, request_timeout: ms(10_000), ..options(RetryPolicy::never()) };
    let notifier = WebhookNotifier::new(Arc::clone(&storage), options).unwrap();
    let (task, _) = task_with_webhook(&*storage, &server.url("/hook"), None, "x").await;
    let working = store(&*storage, task.id, TaskState::Working).await;
    let started = std::time::Instant::now();
    for _ in 0..10 {
        notifier.task_changed(&working);
    }
    let took = started.elapsed();
    assert!(took < ms(50), "task_changed must return at once: {took:?}");
    let stats = notifier.stats();
    assert_eq!((stats.dropped, stats.failed, stats.outstanding), (8, 8, 2));
    let failures = notifier.failed_notifications();
    assert!(failures.iter().all(|f| f.reason == FailureReason::Dropped && f.task_id == task.id));
    assert!(!notifier.shutdown(ms(10)).await);
    assert_eq!(notifier.stats().outstanding, 0, "shut down: the hanging deliveries are stopped");
    notifier.task_changed(&working);
    assert_eq!(notifier.stats().dropped, 9, "after shutdown every state is dropped");
    let last = notifier.failed_notifications().pop().unwrap();
    assert_eq!(last.error, "the notifier was shut down");
}
