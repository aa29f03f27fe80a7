//! Section 1: `Retrying<InMemoryStorage>` against bare `InMemoryStorage`, per call, success path.
//!
//! Bare and decorated calls run in alternating batches (paired rounds), so drift in the machine
//! affects both sides alike; each round gives one overhead sample. Futures are polled once with a
//! no-op waker: the numbers hold the operation and the decorator, not a runtime.

use bindu::{InMemoryStorage, RetryPolicy, Retrying};

use crate::Mode;
use crate::alloc::allocations;
use crate::fixture::Side;
use crate::stats::{Row, Samples, Table, short};

pub fn run(mode: Mode, table: &mut Table) {
    let bare = Side::new(Box::new(InMemoryStorage::new()));
    let retrying = Side::new(Box::new(Retrying::with_policy(InMemoryStorage::new(), RetryPolicy::STORAGE)));
    // `Box<T>`'s forwarding impl is a decorator that does nothing but its own async-trait call:
    // it separates what any async-trait decorator costs from what the retry logic adds.
    let passthrough = Side::new(Box::new(Box::new(InMemoryStorage::new())));
    let (rounds, calls) = match mode {
        Mode::Quick => (5, 200),
        Mode::Full => (301, 2_000),
    };
    for operation in ["load_task", "update_task", "submit_task"] {
        // Warm up both sides.
        for side in [&bare, &retrying, &passthrough] {
            side.batch(operation, calls);
        }
        let (mut bare_ns, mut retrying_ns, mut overhead_ns) =
            (Samples::default(), Samples::default(), Samples::default());
        let mut logic_ns = Samples::default();
        for round in 0..rounds {
            // Rotate which side goes first, so none always runs on a warmer cache.
            let mut times = [0.0; 3];
            for k in 0..3 {
                let index = (round + k) % 3;
                times[index] = [&bare, &retrying, &passthrough][index].batch(operation, calls);
            }
            let [b, r, p] = times;
            bare_ns.push(b);
            retrying_ns.push(r);
            overhead_ns.push(r - b);
            logic_ns.push(r - p);
        }
        let overhead = overhead_ns.median();
        let base = bare_ns.median();
        let allowed = (base * 0.05).max(50.0);
        let extra_allocations = allocations(|| retrying.call(operation, 1)) as i64
            - allocations(|| bare.call(operation, 1)) as i64;
        table.add(Row {
            section: "1 decorator overhead",
            name: format!("{operation}: Retrying vs bare InMemoryStorage"),
            baseline: format!("{} ns/call", short(base)),
            measured: format!("{} ns/call", short(retrying_ns.median())),
            comparison: format!(
                "{overhead:+.1} ns ({:+.1} %), {extra_allocations:+} alloc; retry logic alone {:+.1} ns",
                overhead / base * 100.0,
                logic_ns.median()
            ),
            spread: overhead_ns.spread("ns overhead"),
            target: "≤ max(5 %, 50 ns); +1 alloc (the async-trait box)".into(),
            verdict: if overhead <= allowed && extra_allocations == 1 {
                "met".into()
            } else {
                "MISSED".into()
            },
        });
    }
}
