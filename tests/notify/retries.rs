//! Failures under the api retry policy: what is retried, after how long, with which key.

use std::sync::Arc;

use bindu::notify::{FailureReason, NotifierOptions, TaskStatusUpdateEvent, WebhookNotifier};
use bindu::worker::{TaskListener, Worker};
use bindu::{InMemoryStorage, RetryPolicy, Storage, TaskState};

use crate::common::{TestAgent, fast_options, wait_for_state};
use crate::server::{Reply, WebhookServer};
use crate::{LIMIT, TOKEN, backends, gaps, keys, ms, options, store, submit_with_webhook, task_with_webhook};

#[tokio::test]
async fn two_503s_then_success_make_three_calls_within_the_policy() {
    let server = WebhookServer::start([Reply::status(503), Reply::status(503)]).await;
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let policy = RetryPolicy::new(4, ms(50), ms(400));
    let notifier = WebhookNotifier::new(Arc::clone(&storage), options(policy)).unwrap();
    let (task, _) = task_with_webhook(&*storage, &server.url("/hook"), Some(TOKEN), "x").await;
    notifier.task_changed(&store(&*storage, task.id, TaskState::Working).await);
    assert!(notifier.flush(LIMIT).await);

    let received = server.received();
    assert_eq!(received.len(), 3, "503, 503, 200");
    for gap in gaps(&received) {
        // The wait starts after the 503 was read, so it is at least min_wait; at most max_wait
        // plus a request's round trip.
        assert!(gap >= ms(50) && gap < ms(400) + ms(300), "{gap:?}");
    }
    let keys = keys(&received);
    assert!(keys.iter().all(|key| *key == keys[0]), "one key across retries: {keys:?}");
    assert_eq!((notifier.stats().delivered, notifier.stats().failed), (1, 0));
    println!("waits after 503: {:?}", gaps(&received));
}

#[tokio::test]
async fn retry_after_sets_the_next_wait_capped_at_the_policys_longest() {
    let retry_after = |secs: &str| vec![("retry-after", secs.to_owned())];
    let server = WebhookServer::start([
        Reply::Status(429, retry_after("3600"), "slow down".into()),
        Reply::Status(503, retry_after("0"), String::new()),
    ])
    .await;
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    // Without Retry-After the waits would be 1 s, then 1.5 s.
    let policy = RetryPolicy::new(4, ms(10), ms(1500)).with_jitter(false);
    let notifier = WebhookNotifier::new(Arc::clone(&storage), options(policy)).unwrap();
    let (task, _) = task_with_webhook(&*storage, &server.url("/hook"), None, "x").await;
    notifier.task_changed(&store(&*storage, task.id, TaskState::Working).await);
    assert!(notifier.flush(LIMIT).await);

    let received = server.received();
    assert_eq!(received.len(), 3);
    let gaps = gaps(&received);
    assert!(gaps[0] >= ms(1500) && gaps[0] < ms(1900), "asked for an hour, capped at 1.5 s: {gaps:?}");
    assert!(gaps[1] < ms(400), "asked for no wait: {gaps:?}");
    assert!(received[0].header("authorization").is_none(), "no token, no Authorization header");
    assert_eq!(notifier.stats().delivered, 1);
}

#[tokio::test]
async fn a_400_is_not_retried_and_is_recorded_without_the_token() {
    let echo = format!("bad token {TOKEN}");
    let server = WebhookServer::start([Reply::Status(400, Vec::new(), echo)]).await;
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let notifier =
        WebhookNotifier::new(Arc::clone(&storage), options(RetryPolicy::new(4, ms(10), ms(50)))).unwrap();
    let (task, _) = task_with_webhook(&*storage, &server.url("/hook"), Some(TOKEN), "x").await;
    let working = store(&*storage, task.id, TaskState::Working).await;
    notifier.task_changed(&working);
    assert!(notifier.flush(LIMIT).await);

    assert_eq!(server.received().len(), 1, "a permanent refusal is not retried");
    let failures = notifier.failed_notifications();
    assert_eq!(failures.len(), 1);
    let failure = &failures[0];
    assert_eq!((failure.task_id, failure.status.state), (task.id, TaskState::Working));
    assert_eq!((failure.reason, failure.attempts), (FailureReason::Rejected, 1));
    assert_eq!(failure.webhook_host.as_deref(), Some(server.host().as_str()));
    assert_eq!(failure.notification_id, TaskStatusUpdateEvent::for_task(&working).notification_id());
    assert!(failure.error.contains("400") && failure.error.contains("bad token ***"), "{}", failure.error);
    let shown = format!("{failures:?} {notifier:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_never_answers_times_out_is_recorded_and_the_task_completes() {
    let server = WebhookServer::start_with([], Reply::Hang).await;
    let (storage, scheduler) = backends();
    let options =
        NotifierOptions { request_timeout: ms(1500), ..options(RetryPolicy::new(2, ms(20), ms(50))) };
    let notifier = WebhookNotifier::new(Arc::clone(&storage), options).unwrap();
    let worker = Worker::new(Arc::clone(&storage), Arc::clone(&scheduler), TestAgent::echo())
        .with_options(fast_options(1))
        .with_listener(notifier.clone())
        .spawn();
    let started = tokio::time::Instant::now();
    let task = submit_with_webhook(&*storage, &*scheduler, &server.url("/hook"), "hello").await;
    let done = wait_for_state(&*storage, task.id, TaskState::Completed, LIMIT).await;
    let took = started.elapsed();
    // Done while the first notification is still hanging: the worker did not wait for it.
    assert!(took < ms(1500), "the task took {took:?}");
    assert_eq!(notifier.stats().failed, 0, "no attempt has even timed out yet");
    assert_eq!(done.history.last().unwrap().text(), "HELLO");
    println!("task completed after {took:?} while its webhook hung");

    assert!(notifier.flush(LIMIT).await);
    let failures = notifier.failed_notifications();
    let states: Vec<_> = failures.iter().map(|f| f.status.state).collect();
    assert_eq!(states, [TaskState::Working, TaskState::Completed], "in order, each exhausted");
    for failure in &failures {
        assert_eq!((failure.reason, failure.attempts), (FailureReason::Exhausted, 2));
        assert_eq!(failure.webhook_host.as_deref(), Some(server.host().as_str()));
        assert!(failure.error.contains("timed out after the request was sent"), "{}", failure.error);
        assert!(failure.error.contains("(uncertain)"), "{}", failure.error);
    }
    let keys = keys(&server.received());
    assert_eq!(keys.len(), 4);
    assert!(keys[0] == keys[1] && keys[2] == keys[3] && keys[0] != keys[2], "{keys:?}");
    let stored = storage.load_task(task.id, None).await.unwrap().unwrap();
    assert_eq!(stored.status.state, TaskState::Completed, "the task is unaffected");
    assert_eq!(worker.stats().completed, 1);
    worker.shutdown(LIMIT).await;
}

#[tokio::test]
async fn a_connection_lost_after_sending_is_retried_with_the_same_key() {
    let server = WebhookServer::start([Reply::Close, Reply::Close]).await;
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let notifier =
        WebhookNotifier::new(Arc::clone(&storage), options(RetryPolicy::new(3, ms(10), ms(50)))).unwrap();
    let (task, _) = task_with_webhook(&*storage, &server.url("/hook"), Some(TOKEN), "x").await;
    notifier.task_changed(&store(&*storage, task.id, TaskState::Working).await);
    assert!(notifier.flush(LIMIT).await);

    let received = server.received();
    assert_eq!(received.len(), 3, "two lost answers, then 200");
    let keys = keys(&received);
    assert!(keys.iter().all(|key| *key == keys[0]), "{keys:?}");
    let bodies: Vec<_> = received.iter().map(|r| r.body.clone()).collect();
    assert!(bodies.iter().all(|body| *body == bodies[0]), "every retry is byte-identical");
    assert_eq!(notifier.stats().delivered, 1);
}
