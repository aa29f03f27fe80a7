//! `Retrying<InMemoryStorage>` against bare `InMemoryStorage`, per operation, on the success path.
//!
//! Futures are polled once on this thread with a no-op waker (in-memory operations finish in one
//! poll), so the numbers hold the operation and the decorator, not a runtime's scheduling.
//! Run: `cargo bench --bench decorator` (or `scripts/bench` for the whole table).

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bindu::{
    ContextId, InMemoryStorage, Message, RetryPolicy, Retrying, Storage, TaskId, TaskState, TaskUpdate,
};
use criterion::{Criterion, criterion_group, criterion_main};

fn ready<T>(future: impl Future<Output = T>) -> T {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
    }
}

struct Fixture {
    storage: Box<dyn Storage>,
    message: Message,
    context: ContextId,
    task_id: TaskId,
}

fn fixtures() -> [(&'static str, Fixture); 2] {
    let make = |storage: Box<dyn Storage>| {
        let context = ContextId::new();
        let message = Message::user_text("a short question for the agent").for_task(TaskId::new());
        let task_id = ready(storage.submit_task(context, &message, None)).unwrap().task.id;
        // A realistic task: a few messages and an artifact to copy on every load.
        let mut update = TaskUpdate::to(TaskState::Working);
        for i in 0..4 {
            update =
                update.with_message(Message::agent_text(format!("message number {i} of the conversation")));
        }
        ready(storage.update_task(task_id, &update)).unwrap();
        Fixture { storage, message, context, task_id }
    };
    [
        ("bare", make(Box::new(InMemoryStorage::new()))),
        ("retrying", make(Box::new(Retrying::with_policy(InMemoryStorage::new(), RetryPolicy::STORAGE)))),
    ]
}

fn decorator(c: &mut Criterion) {
    let fixtures = fixtures();

    let mut group = c.benchmark_group("load_task");
    for (name, f) in &fixtures {
        group.bench_function(*name, |b| {
            b.iter(|| ready(f.storage.load_task(black_box(f.task_id), None)).unwrap())
        });
    }
    group.finish();

    let mut group = c.benchmark_group("update_task");
    let updates = [TaskUpdate::to(TaskState::InputRequired), TaskUpdate::to(TaskState::Working)];
    for (name, f) in &fixtures {
        let mut turn = 0usize;
        group.bench_function(*name, |b| {
            b.iter(|| {
                turn ^= 1;
                ready(f.storage.update_task(black_box(f.task_id), &updates[turn])).unwrap()
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("submit_task");
    for (name, f) in &fixtures {
        // A resent message: the idempotent path every retry of a submit takes.
        group.bench_function(*name, |b| {
            b.iter(|| ready(f.storage.submit_task(black_box(f.context), &f.message, None)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, decorator);
criterion_main!(benches);
