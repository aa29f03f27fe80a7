//! Section 1: `Retrying<InMemoryStorage>` against bare `InMemoryStorage`, per call, success path;
//! then the same decorator with a metrics recorder installed (the Prometheus exporter's), against
//! itself without one.
//!
//! All sides run in alternating batches (paired rounds), so drift in the machine affects them
//! alike; each round gives one overhead sample. Futures are polled once with a no-op waker: the
//! numbers hold the operation and the decorator, not a runtime. The recorder is installed for
//! this thread only while its side runs, so the other sides run with none, as an application
//! without a recorder does.

use bindu::{InMemoryStorage, RetryPolicy, Retrying};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};

use crate::Mode;
use crate::alloc::allocations;
use crate::fixture::Side;
use crate::stats::{Row, Samples, Table, short};

/// The sides, in the order their batches rotate.
const BARE: usize = 0;
const RETRYING: usize = 1;
const PASSTHROUGH: usize = 2;
const METERED: usize = 3;

pub fn run(mode: Mode, table: &mut Table) {
    let sides = [
        Side::new(Box::new(InMemoryStorage::new())),
        Side::new(Box::new(Retrying::with_policy(InMemoryStorage::new(), RetryPolicy::STORAGE))),
        // `Box<T>`'s forwarding impl is a wrapper that adds one dynamic call and hands back the
        // inner future as it is (no box of its own): Retrying minus it is what the retry logic
        // and Retrying's one box add.
        Side::new(Box::new(Box::new(InMemoryStorage::new()))),
        Side::new(Box::new(
            Retrying::with_policy(InMemoryStorage::new(), RetryPolicy::STORAGE).named("memory"),
        )),
    ];
    let recorder = PrometheusBuilder::new().build_recorder();
    let (rounds, calls) = match mode {
        Mode::Quick => (5, 200),
        Mode::Full => (301, 2_000),
    };
    for operation in ["load_task", "update_task", "submit_task"] {
        // Warm up every side.
        for index in 0..sides.len() {
            batch(&sides, index, &recorder, operation, calls);
        }
        let mut samples: [Samples; 4] = Default::default();
        let (mut overhead_ns, mut logic_ns, mut metered_ns) =
            (Samples::default(), Samples::default(), Samples::default());
        for round in 0..rounds {
            // Rotate which side goes first, so none always runs on a warmer cache.
            let mut times = [0.0; 4];
            for k in 0..sides.len() {
                let index = (round + k) % sides.len();
                times[index] = batch(&sides, index, &recorder, operation, calls);
            }
            for (side, time) in samples.iter_mut().zip(times) {
                side.push(time);
            }
            overhead_ns.push(times[RETRYING] - times[BARE]);
            logic_ns.push(times[RETRYING] - times[PASSTHROUGH]);
            metered_ns.push(times[METERED] - times[RETRYING]);
        }
        let overhead = overhead_ns.median();
        let base = samples[BARE].median();
        let allowed = (base * 0.05).max(50.0);
        let extra_allocations = allocations(|| sides[RETRYING].call(operation, 1)) as i64
            - allocations(|| sides[BARE].call(operation, 1)) as i64;
        table.add(Row {
            section: "1 decorator overhead",
            name: format!("{operation}: Retrying vs bare InMemoryStorage, no recorder"),
            baseline: format!("{} ns/call", short(base)),
            measured: format!("{} ns/call", short(samples[RETRYING].median())),
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
        let metered = metered_ns.median();
        let metered_allocations = {
            let _local = metrics::set_default_local_recorder(&recorder);
            allocations(|| sides[METERED].call(operation, 1)) as i64
        } - allocations(|| sides[RETRYING].call(operation, 1)) as i64;
        table.add(Row {
            section: "1 decorator overhead",
            name: format!("{operation}: Retrying with a Prometheus recorder installed vs without"),
            baseline: format!("{} ns/call", short(samples[RETRYING].median())),
            measured: format!("{} ns/call", short(samples[METERED].median())),
            comparison: format!(
                "{metered:+.1} ns ({:+.1} %), {metered_allocations:+} alloc",
                metered / samples[RETRYING].median() * 100.0
            ),
            spread: metered_ns.spread("ns added"),
            target: "reported".into(),
            verdict: "—".into(),
        });
    }
}

/// Nanoseconds per call of side `index` over a batch, the metered side under the recorder.
fn batch(
    sides: &[Side; 4],
    index: usize,
    recorder: &PrometheusRecorder,
    operation: &str,
    calls: usize,
) -> f64 {
    if index == METERED {
        let _local = metrics::set_default_local_recorder(recorder);
        sides[index].batch(operation, calls)
    } else {
        sides[index].batch(operation, calls)
    }
}
