//! What a receiver gets, how fast, in which order, and after a restart.

use std::sync::Arc;
use std::time::Duration;

use bindu::notify::{NotifierOptions, TaskStatusUpdateEvent, WebhookNotifier};
use bindu::worker::{TaskListener, Worker};
use bindu::{ContextId, InMemoryStorage, Message, RetryPolicy, Storage, TaskId, TaskState};

use crate::common::{TestAgent, fast_options};
use crate::server::{Reply, WebhookServer};
use crate::{
    IDEMPOTENCY_KEY, LIMIT, TOKEN, backends, keys, ms, options, store, submit_with_webhook, task_with_webhook,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_notifies_each_state_with_the_token() {
    let server = WebhookServer::start([]).await;
    let (storage, scheduler) = backends();
    let notifier = WebhookNotifier::new(Arc::clone(&storage), options(RetryPolicy::API)).unwrap();
    let worker = Worker::new(Arc::clone(&storage), Arc::clone(&scheduler), TestAgent::echo())
        .with_options(fast_options(1))
        .with_listener(notifier.clone())
        .spawn();
    let task = submit_with_webhook(&*storage, &*scheduler, &server.url("/hooks/a2a"), "hello").await;
    let received = server.wait_for(2, LIMIT).await;
    assert!(notifier.flush(LIMIT).await);

    for request in &received {
        assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/hooks/a2a"));
        assert_eq!(request.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert!(request.header("user-agent").unwrap().starts_with("bindu/"));
        // The key is the event's identity, derived from what was stored.
        let event: TaskStatusUpdateEvent = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(request.header(IDEMPOTENCY_KEY), Some(event.notification_id().to_string().as_str()));
    }
    let (working, completed) = (received[0].json(), received[1].json());
    assert_eq!(working["kind"], "status-update");
    assert_eq!(working["taskId"], task.id.to_string());
    assert_eq!(working["contextId"], task.context_id.to_string());
    assert_eq!(working["status"]["state"], "working");
    assert_eq!(working["final"], false);
    assert!(working["status"].get("message").is_none());
    assert_eq!(completed["status"]["state"], "completed");
    assert_eq!(completed["final"], true);
    assert_eq!(completed["status"]["message"]["role"], "agent");
    assert_eq!(completed["status"]["message"]["parts"][0]["text"], "HELLO");
    assert_ne!(keys(&received)[0], keys(&received)[1]);
    let stats = notifier.stats();
    assert_eq!((stats.delivered, stats.failed, stats.outstanding), (2, 0, 0));

    let mut headers: Vec<_> = received[1].headers.iter().collect();
    headers.sort();
    println!("a receiver sees: {} {}", received[1].method, received[1].path);
    for (name, value) in headers {
        println!("  {name}: {value}");
    }
    println!("  {}", String::from_utf8_lossy(&received[1].body));
    worker.shutdown(LIMIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_latency_from_stored_state_to_request_received() {
    const TASKS: usize = 30;
    let server = WebhookServer::start([]).await;
    let (storage, scheduler) = backends();
    let notifier = WebhookNotifier::new(Arc::clone(&storage), options(RetryPolicy::API)).unwrap();
    let worker = Worker::new(Arc::clone(&storage), Arc::clone(&scheduler), TestAgent::echo())
        .with_options(fast_options(4))
        .with_listener(notifier.clone())
        .spawn();
    // One task at a time, so that each notification's latency is its own and not time spent
    // queueing behind others.
    for i in 0..TASKS {
        submit_with_webhook(&*storage, &*scheduler, &server.url("/hook"), &format!("task {i}")).await;
        server.wait_for(2 * (i + 1), LIMIT).await;
    }
    // The event's status timestamp is the time storage wrote the state.
    let mut latencies: Vec<Duration> = server
        .received()
        .iter()
        .map(|r| {
            let event: TaskStatusUpdateEvent = serde_json::from_slice(&r.body).unwrap();
            (r.wall - event.status.timestamp).to_std().unwrap_or_default()
        })
        .collect();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "happy-path latency, stored → received, {} notifications: min {:?}, p50 {:?}, p95 {:?}, max {:?}",
        latencies.len(),
        at(0.0),
        at(0.5),
        at(0.95),
        at(1.0)
    );
    assert!(at(0.5) < ms(100), "median {:?}", at(0.5));
    assert!(notifier.flush(LIMIT).await);
    assert_eq!(notifier.stats().delivered, 2 * TASKS as u64);
    worker.shutdown(LIMIT).await;
}

#[tokio::test]
async fn notifications_of_one_task_arrive_in_the_order_they_were_stored() {
    // The first attempt for `working` hangs until it times out; `completed` waits behind it.
    let server = WebhookServer::start([Reply::Hang]).await;
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let options =
        NotifierOptions { request_timeout: ms(300), ..options(RetryPolicy::new(3, ms(10), ms(50))) };
    let notifier = WebhookNotifier::new(Arc::clone(&storage), options).unwrap();
    let (task, _) = task_with_webhook(&*storage, &server.url("/hook"), None, "x").await;
    notifier.task_changed(&store(&*storage, task.id, TaskState::Working).await);
    notifier.task_changed(&store(&*storage, task.id, TaskState::Completed).await);
    assert!(notifier.flush(LIMIT).await);

    let states: Vec<_> = server.received().iter().map(|r| r.json()["status"]["state"].clone()).collect();
    assert_eq!(states, ["working", "working", "completed"]);
}

#[tokio::test]
async fn stored_webhook_configs_survive_a_restart_and_tasks_without_one_send_nothing() {
    let server = WebhookServer::start([]).await;
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let (task, _) = task_with_webhook(&*storage, &server.url("/hook"), Some(TOKEN), "long").await;
    let before = WebhookNotifier::new(Arc::clone(&storage), options(RetryPolicy::never())).unwrap();
    assert!(before.shutdown(ms(100)).await);
    drop(before);

    // A new process: nothing but storage is shared with the old one.
    let after = WebhookNotifier::new(Arc::clone(&storage), options(RetryPolicy::never())).unwrap();
    let message = Message::user_text("no webhook").for_task(TaskId::new());
    let plain = storage.submit_task(ContextId::new(), &message, None).await.unwrap().task;
    after.task_changed(&store(&*storage, plain.id, TaskState::Working).await);
    after.task_changed(&store(&*storage, task.id, TaskState::Working).await);
    assert!(after.flush(LIMIT).await);
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].json()["taskId"], task.id.to_string());
    let stats = after.stats();
    assert_eq!((stats.delivered, stats.failed), (1, 0));
}
