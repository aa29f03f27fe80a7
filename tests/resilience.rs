//! The retry budget, the circuit breaker and call deadlines, under tokio's paused clock: a
//! backend that is down for good, many callers, nested decorators.

use std::sync::Arc;
use std::time::Duration;

use bindu::testing::Faulty;
use bindu::{
    BreakerOptions, BudgetOptions, Call, Error, GaveUp, InMemoryStorage, RetryPolicy, Retrying, Storage,
    TaskId,
};
use futures_util::future::join_all;
use tokio::time::Instant;

/// Many attempts with short, fixed waits: without a budget every logical call makes them all.
const EAGER: RetryPolicy =
    RetryPolicy::new(5, Duration::from_millis(10), Duration::from_millis(10)).with_jitter(false);

fn down() -> Arc<Faulty<InMemoryStorage>> {
    let storage = Arc::new(Faulty::new(InMemoryStorage::new()));
    storage.set_down(true);
    storage
}

async fn callers(storage: &dyn Storage, callers: usize, calls_each: usize) -> Vec<Error> {
    let one = |_| async move {
        let mut errors = Vec::new();
        for _ in 0..calls_each {
            if let Err(err) = storage.load_task(TaskId::new(), None).await {
                errors.push(err);
            }
        }
        errors
    };
    join_all((0..callers).map(one)).await.into_iter().flatten().collect()
}

#[tokio::test(start_paused = true)]
async fn the_budget_keeps_backend_calls_near_logical_calls_during_an_outage() {
    let budget = BudgetOptions { ratio: 0.2, capacity: 10, floor: 0, floor_per_second: 0.0 };
    let without = down();
    callers(&Retrying::with_policy(Arc::clone(&without), EAGER), 64, 10).await;
    let with = down();
    let errors = callers(&Retrying::with_policy(Arc::clone(&with), EAGER).with_budget(budget), 64, 10).await;
    let (logical, plain, budgeted) =
        (640.0, f64::from(without.calls(Call::LOAD_TASK)), f64::from(with.calls(Call::LOAD_TASK)));
    println!(
        "64 callers x 10 calls, backend down: {plain} backend calls without the budget, {budgeted} with"
    );
    assert_eq!(plain / logical, 5.0);
    assert!(budgeted / logical <= 1.02, "amplification {}", budgeted / logical);
    let spent = errors.iter().filter(|e| matches!(e, Error::Exhausted { cause: GaveUp::Budget, .. })).count();
    assert!(spent >= 600, "{spent} calls gave up because the budget was spent");
    assert!(errors[0].to_string().contains("the retry budget is spent") || spent < errors.len());
}

#[tokio::test(start_paused = true)]
async fn successes_refill_the_budget() {
    let storage = Arc::new(Faulty::new(InMemoryStorage::new()));
    let budget = BudgetOptions { ratio: 0.5, capacity: 2, floor: 0, floor_per_second: 0.0 };
    let retrying = Retrying::with_policy(Arc::clone(&storage), EAGER).with_budget(budget);
    storage.set_down(true);
    callers(&retrying, 1, 3).await;
    assert_eq!(storage.calls(Call::LOAD_TASK), 3 + 2, "two retries in the bucket, then none");
    assert!(retrying.budget().unwrap().available() < 1.0);
    storage.set_down(false);
    callers(&retrying, 1, 4).await;
    assert_eq!(retrying.budget().unwrap().available(), 2.0, "four successes at 0.5 refilled it");
}

#[tokio::test(start_paused = true)]
async fn the_breaker_opens_fails_fast_probes_and_closes() {
    let storage = down();
    let options = BreakerOptions { window: 10, failure_ratio: 0.5, open_for: Duration::from_secs(1) };
    let retrying = Retrying::with_policy(Arc::clone(&storage), RetryPolicy::never()).with_breaker(options);
    callers(&retrying, 1, 10).await;
    assert!(!retrying.breaker().unwrap().is_closed(), "a window of failures opens it");
    let before = storage.calls(Call::LOAD_TASK);
    let started = Instant::now();
    let errors = callers(&retrying, 8, 100).await;
    assert!(
        errors.iter().all(|e| matches!(e, Error::CircuitOpen { what: "storage", .. })),
        "{:?}",
        errors[0]
    );
    assert!(errors[0].is_unavailable(), "transient: the worker releases its operation");
    assert_eq!(storage.calls(Call::LOAD_TASK), before, "fast failure: the backend was not called");
    assert_eq!(started.elapsed(), Duration::ZERO, "nothing waited");

    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(matches!(callers(&retrying, 1, 1).await[0], Error::CircuitOpen { .. }), "the probe failed");
    assert_eq!(
        (storage.calls(Call::PING), storage.calls(Call::LOAD_TASK)),
        (1, before),
        "a probe, not a user's call"
    );
    storage.set_down(false);
    tokio::time::advance(Duration::from_millis(999)).await;
    assert!(
        matches!(callers(&retrying, 1, 1).await[0], Error::CircuitOpen { .. }),
        "open for a whole interval"
    );
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(callers(&retrying, 1, 1).await.is_empty(), "probed, closed, and the call went through");
    assert_eq!(storage.calls(Call::PING), 2);
    assert!(retrying.breaker().unwrap().is_closed());
}

#[tokio::test(start_paused = true)]
async fn a_deadline_cuts_retries_short_without_waiting_out_a_backoff() {
    let storage = down();
    let slow = RetryPolicy::new(10, Duration::from_secs(5), Duration::from_secs(5))
        .with_jitter(false)
        .with_deadline(Some(Duration::from_secs(12)));
    let started = Instant::now();
    let err =
        Retrying::with_policy(Arc::clone(&storage), slow).load_task(TaskId::new(), None).await.unwrap_err();
    assert!(matches!(err, Error::Exhausted { attempts: 3, cause: GaveUp::Deadline, .. }), "{err}");
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(10),
        "two waits of 5 s; a third would pass the deadline"
    );
    assert!(err.to_string().contains("the deadline passed"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn nested_decorators_share_one_deadline() {
    let storage = down();
    let each = RetryPolicy::new(20, Duration::from_secs(1), Duration::from_secs(1)).with_jitter(false);
    let inner =
        Retrying::with_policy(Arc::clone(&storage), each.with_deadline(Some(Duration::from_secs(60))));
    let outer = Retrying::with_policy(inner, each.with_deadline(Some(Duration::from_millis(2500))));
    let started = Instant::now();
    let err = outer.load_task(TaskId::new(), None).await.unwrap_err();
    assert!(started.elapsed() <= Duration::from_millis(2500), "{:?}", started.elapsed());
    assert!(matches!(err, Error::Exhausted { cause: GaveUp::Deadline, .. }), "{err}");
    assert_eq!(storage.calls(Call::LOAD_TASK), 3, "at 0 s, 1 s and 2 s; the outer layer did not retry again");
}
