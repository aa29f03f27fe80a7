//! Criterion view of section 1 of the suite: `Retrying<InMemoryStorage>` against bare
//! `InMemoryStorage`, per operation, on the success path. Futures are polled once on this thread
//! with a no-op waker, so the numbers hold the operation and the decorator, not a runtime.
//! Run: `cargo bench --bench decorator` (`scripts/bench` produces the published table).

#[path = "suite/fixture.rs"]
#[allow(dead_code)]
mod fixture;

use bindu::{InMemoryStorage, RetryPolicy, Retrying};
use criterion::{Criterion, criterion_group, criterion_main};
use fixture::Side;

fn decorator(c: &mut Criterion) {
    let sides = [
        ("bare", Side::new(Box::new(InMemoryStorage::new()))),
        (
            "retrying",
            Side::new(Box::new(Retrying::with_policy(InMemoryStorage::new(), RetryPolicy::STORAGE))),
        ),
    ];
    for operation in ["load_task", "update_task", "submit_task"] {
        let mut group = c.benchmark_group(operation);
        for (name, side) in &sides {
            let mut turn = 0usize;
            group.bench_function(*name, |b| {
                b.iter(|| {
                    turn += 1;
                    side.call(operation, turn)
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, decorator);
criterion_main!(benches);
