//! Failed notifications are stored, listed and redelivered under the same idempotency key.

use std::sync::Arc;

use bindu::notify::{FailureReason, Redelivery, WebhookNotifier};
use bindu::worker::TaskListener;
use bindu::{InMemoryStorage, Page, RetryPolicy, Storage, TaskState};

use crate::server::{Reply, WebhookServer};
use crate::{LIMIT, TOKEN, keys, ms, options, store, task_with_webhook};

#[tokio::test]
async fn a_failed_notification_is_stored_and_redelivered_with_its_key_and_body() {
    // Down for the first notification (both attempts), then up.
    let server = WebhookServer::start([Reply::status(503), Reply::status(503)]).await;
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let notifier =
        WebhookNotifier::new(Arc::clone(&storage), options(RetryPolicy::new(2, ms(10), ms(20)))).unwrap();
    let (task, _) = task_with_webhook(&*storage, &server.url("/hook"), Some(TOKEN), "x").await;
    notifier.task_changed(&store(&*storage, task.id, TaskState::Completed).await);
    assert!(notifier.flush(LIMIT).await);

    let stored = storage.failed_notifications(Page::ALL).await.unwrap();
    assert_eq!(stored, notifier.failed_notifications(), "stored as kept");
    let failure = &stored[0];
    assert_eq!((failure.task_id, failure.reason, failure.attempts), (task.id, FailureReason::Exhausted, 2));
    assert!(!format!("{failure:?}").contains(TOKEN));

    // Another process (the admin tool) redelivers it.
    let admin =
        WebhookNotifier::new(Arc::clone(&storage), options(RetryPolicy::new(2, ms(10), ms(20)))).unwrap();
    assert_eq!(admin.redeliver(failure).await.unwrap(), Redelivery::Delivered);
    let received = server.received();
    assert_eq!(received.len(), 3);
    let keys = keys(&received);
    assert!(keys.iter().all(|key| *key == failure.notification_id.to_string()), "one key: {keys:?}");
    assert_eq!(received[2].json(), received[0].json(), "the same body");
    assert_eq!(received[2].header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    assert!(storage.failed_notifications(Page::ALL).await.unwrap().is_empty(), "delivered: removed");

    // Without a webhook config any more there is nowhere to send it: the record goes.
    storage.record_failed_notification(failure).await.unwrap();
    storage.delete_webhook_config(task.id).await.unwrap();
    assert_eq!(admin.redeliver(failure).await.unwrap(), Redelivery::NoWebhook);
    assert!(storage.failed_notifications(Page::ALL).await.unwrap().is_empty());
    assert_eq!(server.received().len(), 3);
}

#[tokio::test]
async fn a_redelivery_that_fails_again_replaces_the_record() {
    let server = WebhookServer::start_with([], Reply::status(500)).await;
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let notifier =
        WebhookNotifier::new(Arc::clone(&storage), options(RetryPolicy::new(1, ms(10), ms(20)))).unwrap();
    let (task, _) = task_with_webhook(&*storage, &server.url("/hook"), None, "x").await;
    notifier.task_changed(&store(&*storage, task.id, TaskState::Working).await);
    assert!(notifier.flush(LIMIT).await);
    let first = storage.failed_notifications(Page::ALL).await.unwrap().remove(0);
    let Redelivery::Failed(again) = notifier.redeliver(&first).await.unwrap() else {
        panic!("the webhook still answers 500");
    };
    assert_eq!(again.notification_id, first.notification_id);
    assert!(again.failed_at >= first.failed_at);
    assert_eq!(storage.failed_notifications(Page::ALL).await.unwrap(), [*again]);
}
