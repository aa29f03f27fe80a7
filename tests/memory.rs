//! The conformance suites on the in-memory backends: plain, under `Retrying`, through
//! `Arc<dyn …>` and `Box<dyn …>`.

use std::sync::Arc;

use bindu::conformance::{scheduler, storage};
use bindu::{InMemoryScheduler, InMemoryStorage, RetryPolicy, Retrying, Scheduler, Storage};

#[tokio::test]
async fn storage_plain() {
    storage::run_all(&InMemoryStorage::new()).await;
}

#[tokio::test]
async fn storage_retrying() {
    storage::run_all(&Retrying::with_policy(InMemoryStorage::new(), RetryPolicy::STORAGE)).await;
}

#[tokio::test]
async fn storage_arc_dyn() {
    let shared: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    storage::run_all(&shared).await;
    storage::run_all(&Retrying::with_policy(shared, RetryPolicy::STORAGE)).await;
}

#[tokio::test]
async fn storage_box_dyn() {
    let boxed: Box<dyn Storage> = Box::new(InMemoryStorage::new());
    storage::run_all(&boxed).await;
}

#[tokio::test]
async fn storage_close() {
    storage::close_makes_later_calls_fail(&InMemoryStorage::new()).await;
    storage::close_makes_later_calls_fail(&Retrying::with_policy(
        InMemoryStorage::new(),
        RetryPolicy::STORAGE,
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_multi_threaded() {
    storage::run_all(&InMemoryStorage::new()).await;
}

#[tokio::test]
async fn scheduler_plain() {
    scheduler::run_all(&InMemoryScheduler::new(), scheduler::Expectations::IN_MEMORY).await;
}

#[tokio::test]
async fn scheduler_retrying() {
    let retrying = Retrying::with_policy(InMemoryScheduler::new(), RetryPolicy::SCHEDULER);
    scheduler::run_all(&retrying, scheduler::Expectations::IN_MEMORY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_arc_dyn() {
    let shared: Arc<dyn Scheduler> = Arc::new(InMemoryScheduler::new());
    scheduler::run_all(&shared, scheduler::Expectations::IN_MEMORY).await;
    let boxed: Box<dyn Scheduler> = Box::new(Retrying::with_policy(shared, RetryPolicy::SCHEDULER));
    scheduler::run_all(&boxed, scheduler::Expectations::IN_MEMORY).await;
}
