//! The decorator's success path allocates nothing beyond its own async-trait box. Counted with a
//! global counting allocator (exact, so this is a test; the time overhead is a benchmark).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};

use bindu::{
    ContextId, InMemoryScheduler, InMemoryStorage, Message, RetryPolicy, Retrying, Scheduler, Storage,
    TaskId, TaskIdParams, TaskOperation, TaskState, TaskUpdate,
};

#[path = "../benches/suite/alloc.rs"]
mod alloc;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

/// Makes the call's future (async-trait boxes it right away), polls it to completion on this
/// thread (in-memory operations finish in one poll), and counts the allocations made meanwhile.
fn allocations<F: Future>(call: impl FnOnce() -> F) -> usize {
    alloc::allocations(|| {
        let mut future = pin!(call());
        let mut cx = Context::from_waker(Waker::noop());
        while future.as_mut().poll(&mut cx).is_pending() {}
    })
}

// One test function, so no other test thread allocates while counting.
#[test]
fn retrying_adds_exactly_one_allocation_per_call() {
    let bare = InMemoryStorage::new();
    let retrying = Retrying::with_policy(InMemoryStorage::new(), RetryPolicy::STORAGE);
    let message = Message::user_text("hello").for_task(TaskId::new());
    let context = ContextId::new();
    let task_id = message.task_id.unwrap();
    let update = TaskUpdate::to(TaskState::Working);
    // Create the task and apply the update once on each side, so what follows is repeatable.
    for storage in [&bare as &dyn Storage, &retrying] {
        allocations(|| storage.submit_task(context, &message, None));
        allocations(|| storage.update_task(task_id, &update));
    }

    for _ in 0..3 {
        // Same work on both sides: a duplicate submit, a no-op update, a load.
        let bare_submit = allocations(|| bare.submit_task(context, &message, None));
        let retrying_submit = allocations(|| retrying.submit_task(context, &message, None));
        assert_eq!(retrying_submit, bare_submit + 1, "submit_task");
        let bare_update = allocations(|| bare.update_task(task_id, &update));
        let retrying_update = allocations(|| retrying.update_task(task_id, &update));
        assert_eq!(retrying_update, bare_update + 1, "update_task");
        let bare_load = allocations(|| bare.load_task(task_id, None));
        let retrying_load = allocations(|| retrying.load_task(task_id, None));
        assert_eq!(retrying_load, bare_load + 1, "load_task");
        let bare_count = allocations(|| bare.count_tasks(None));
        assert_eq!(bare_count, 1, "the bare call: just its async-trait box");
        assert_eq!(allocations(|| retrying.count_tasks(None)), 2, "plus the decorator's box");
    }

    // The scheduler's enqueue arms a timer: give it a runtime context (nothing drives it).
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let _context = runtime.enter();
    let scheduler = Retrying::with_policy(InMemoryScheduler::new(), RetryPolicy::SCHEDULER);
    let bare_scheduler = InMemoryScheduler::new();
    let operation = TaskOperation::cancel(TaskIdParams::new(TaskId::new()));
    allocations(|| bare_scheduler.enqueue(&operation));
    allocations(|| scheduler.enqueue(&operation));
    // A duplicate enqueue is a lookup: compare like with like.
    let bare_dup = allocations(|| bare_scheduler.enqueue(&operation));
    assert_eq!(allocations(|| scheduler.enqueue(&operation)), bare_dup + 1, "enqueue");
}
