//! RedisStorage against a real redis-server: the conformance suite (plain, under `Retrying`,
//! through `Arc<dyn Storage>`), isolation by prefix, and a restart while writes go on.
#![cfg(feature = "redis")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bindu::conformance::storage;
use bindu::redis::RedisStorage;
use bindu::testing::{RedisServer, RedisServerOptions};
use bindu::{ContextId, Message, RetryPolicy, Retrying, Storage, TaskId, TaskState, TaskUpdate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_plain_retrying_and_arc_dyn() {
    let server = RedisServer::start();
    storage::run_all(&RedisStorage::connect_with(server.quick_options()).await.unwrap()).await;
    let retrying = Retrying::with_policy(
        RedisStorage::connect_with(server.quick_options()).await.unwrap(),
        RetryPolicy::STORAGE,
    );
    storage::run_all(&retrying).await;
    let shared: Arc<dyn Storage> =
        Arc::new(RedisStorage::connect_with(server.quick_options()).await.unwrap());
    storage::run_all(&shared).await;
    storage::close_makes_later_calls_fail(&shared).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixes_keep_agents_apart() {
    let server = RedisServer::start();
    let a = RedisStorage::connect_with(server.quick_options()).await.unwrap();
    let b = RedisStorage::connect_with(server.quick_options()).await.unwrap();
    let message = Message::user_text("mine").for_task(TaskId::new());
    a.submit_task(ContextId::new(), &message, None).await.unwrap();
    b.clear_all().await.unwrap();
    assert_eq!(a.count_tasks(None).await.unwrap(), 1, "b's clear_all leaves a's keys alone");
    assert_eq!(b.count_tasks(None).await.unwrap(), 0);
    assert!(b.load_task(message.task_id.unwrap(), None).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_loses_nothing_and_duplicates_nothing() {
    let server = RedisServer::spawn(RedisServerOptions { persistent: true, password: None });
    let storage = Arc::new(Retrying::with_policy(
        RedisStorage::connect_with(server.quick_options()).await.unwrap(),
        RetryPolicy::new(40, Duration::from_millis(50), Duration::from_millis(300)),
    ));
    let stream = {
        let storage = Arc::clone(&storage);
        tokio::spawn(async move {
            let mut done = Vec::new();
            for i in 0..60 {
                let message = Message::user_text(format!("question {i}")).for_task(TaskId::new());
                let task = storage.submit_task(ContextId::new(), &message, None).await.expect("submit").task;
                let update = TaskUpdate::to(TaskState::Completed)
                    .with_message(Message::agent_text(format!("answer {i}")));
                storage.update_task(task.id, &update).await.expect("update");
                done.push((task.id, message.message_id, Instant::now()));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            done
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.restart();
    let accepting = Instant::now();
    let done = tokio::time::timeout(Duration::from_secs(90), stream).await.unwrap().unwrap();
    let recovery = done.iter().map(|(_, _, at)| *at).find(|at| *at >= accepting).map(|at| at - accepting);
    println!("redis storage: restarted → first completed operation after {recovery:?}");
    assert_eq!(done.len(), 60);
    for (task_id, message_id, _) in done {
        let task =
            storage.load_task(task_id, None).await.unwrap().expect("every acknowledged write is stored");
        assert_eq!(task.status.state, TaskState::Completed);
        assert_eq!(task.history.len(), 2, "no duplicate history entries");
        assert_eq!(task.history[0].message_id, message_id);
    }
    assert_eq!(storage.count_tasks(Some(TaskState::Completed)).await.unwrap(), 60);
}
