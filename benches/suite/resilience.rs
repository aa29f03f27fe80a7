//! Section 6: the retry budget, the circuit breaker and their cost. Against real servers that are
//! really stopped: how many backend calls a fleet makes per logical call during an outage (with
//! and without the budget), how long a call takes while the breaker is open (and how long a
//! caller waits without it), and how soon after the restart the first user call succeeds. In
//! memory: what budget and breaker add to the success path.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bindu::testing::Faulty;
use bindu::{BreakerOptions, BudgetOptions, Call, InMemoryStorage, RetryPolicy, Retrying, Storage, TaskId};
use tokio::runtime::Runtime;

use crate::Mode;
use crate::alloc::allocations;
use crate::fixture::Side;
use crate::stats::{Row, Samples, Table, short};

/// How a backend of one kind is stopped and started for this section.
pub trait Server {
    fn stop(&mut self);
    fn start(&mut self);
}

const CALLERS: usize = 64;
/// Each caller's pace: one logical call, then this pause.
const PACE: Duration = Duration::from_millis(100);

fn outage(mode: Mode) -> Duration {
    if mode == Mode::Quick { Duration::from_secs(1) } else { Duration::from_secs(30) }
}

/// 64 callers, each making a logical call every 100 ms through `storage` while the server is
/// stopped for the outage: backend calls ÷ logical calls.
fn amplification(
    runtime: &Runtime,
    server: &mut dyn Server,
    counted: &Arc<Faulty<Box<dyn Storage>>>,
    storage: Arc<dyn Storage>,
    outage: Duration,
) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let logical = Arc::new(AtomicU64::new(0));
    let before = counted.calls(Call::LOAD_TASK);
    server.stop();
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (storage, stop, logical) = (Arc::clone(&storage), Arc::clone(&stop), Arc::clone(&logical));
            runtime.spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let _ = storage.load_task(TaskId::new(), None).await;
                    logical.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(PACE).await;
                }
            })
        })
        .collect();
    std::thread::sleep(outage);
    stop.store(true, Ordering::SeqCst);
    // Calls still retrying finish on the stopped server: their attempts count.
    for caller in callers {
        runtime.block_on(caller).unwrap();
    }
    let backend = counted.calls(Call::LOAD_TASK) - before;
    server.start();
    f64::from(backend) / logical.load(Ordering::Relaxed).max(1) as f64
}

/// Runs the section for one backend: `connect` gives a fresh storage on `server`.
pub fn run_backend(
    mode: Mode,
    table: &mut Table,
    runtime: &Runtime,
    name: &str,
    server: &mut dyn Server,
    connect: &dyn Fn() -> Box<dyn Storage>,
) {
    let outage = outage(mode);
    let policy = RetryPolicy::STORAGE;
    let mut ratios = Vec::new();
    for budget in [false, true] {
        let counted = Arc::new(Faulty::new(connect()));
        let mut retrying = Retrying::with_policy(Arc::clone(&counted), policy);
        if budget {
            retrying = retrying.with_budget(BudgetOptions::default());
        }
        // Warm the pool and fill the budget with successes, as a live process would have.
        for _ in 0..200 {
            runtime.block_on(retrying.load_task(TaskId::new(), None)).unwrap();
        }
        ratios.push(amplification(runtime, server, &counted, Arc::new(retrying), outage));
    }
    let (without, with) = (ratios[0], ratios[1]);
    table.add(Row {
        section: "6 resilience",
        name: format!("{name} down {} s, 64 callers: backend ÷ logical calls", outage.as_secs()),
        baseline: format!("{} without the budget", short(without)),
        measured: format!("{} with it", short(with)),
        comparison: format!("{:.1}× fewer backend calls", without / with),
        spread: "one run".into(),
        target: "≤ 1.2 with the budget".into(),
        verdict: if with <= 1.2 { "met".into() } else { "MISSED".into() },
    });

    // Fast failure: the breaker open, against the wait of a caller without it. The guarded
    // decorator makes one attempt per call, so that tripping it takes one window of calls.
    let breaker = BreakerOptions { window: 20, failure_ratio: 0.5, open_for: Duration::from_secs(1) };
    let plain = Retrying::with_policy(connect(), policy);
    let guarded = Arc::new(Retrying::with_policy(connect(), RetryPolicy::never()).with_breaker(breaker));
    runtime.block_on(guarded.load_task(TaskId::new(), None)).unwrap();
    server.stop();
    let started = Instant::now();
    let _ = runtime.block_on(plain.load_task(TaskId::new(), None));
    let waited = started.elapsed();
    while guarded.breaker().unwrap().is_closed() {
        let _ = runtime.block_on(guarded.load_task(TaskId::new(), None));
    }
    let mut open = Samples::default();
    for _ in 0..if mode == Mode::Quick { 100 } else { 10_000 } {
        let started = Instant::now();
        let result = runtime.block_on(guarded.load_task(TaskId::new(), None));
        open.push(started.elapsed().as_secs_f64() * 1e6);
        assert!(matches!(result, Err(bindu::Error::CircuitOpen { .. })), "{result:?}");
    }
    let p99 = quantile(&open, 0.99);
    table.add(Row {
        section: "6 resilience",
        name: format!("{name} down: one call while the breaker is open"),
        baseline: format!("{} ms waited without it", short(waited.as_secs_f64() * 1e3)),
        measured: format!("{} µs p50, {} µs p99", short(open.median()), short(p99)),
        comparison: "fails at once".into(),
        spread: open.spread("µs"),
        target: "< 1 ms p99".into(),
        verdict: if p99 < 1000.0 { "met".into() } else { "MISSED".into() },
    });

    // Recovery: callers every 10 ms; from the server accepting again to the first success.
    let mut recovery = Samples::default();
    for _ in 0..if mode == Mode::Quick { 1 } else { 5 } {
        let stop = Arc::new(AtomicBool::new(false));
        let first_ok: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
        let callers: Vec<_> = (0..8)
            .map(|_| {
                let (guarded, stop, first_ok) =
                    (Arc::clone(&guarded), Arc::clone(&stop), Arc::clone(&first_ok));
                runtime.spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        if guarded.load_task(TaskId::new(), None).await.is_ok() {
                            first_ok.lock().unwrap().get_or_insert_with(Instant::now);
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1500));
        server.start();
        let accepting = Instant::now();
        while first_ok.lock().unwrap().is_none() && accepting.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::SeqCst);
        for caller in callers {
            runtime.block_on(caller).unwrap();
        }
        let first = first_ok.lock().unwrap().expect("a call succeeded after the restart");
        recovery.push(first.saturating_duration_since(accepting).as_secs_f64() * 1e3);
        server.stop();
    }
    server.start();
    let probe_ms = breaker.open_for.as_secs_f64() * 1e3;
    table.add(Row {
        section: "6 resilience",
        name: format!("{name} restarted: accepting → first successful call, breaker on"),
        baseline: format!("{} ms probe interval", short(probe_ms)),
        measured: format!("{} ms", short(recovery.median())),
        comparison: "the next probe closes it".into(),
        spread: recovery.spread("ms"),
        target: "≤ one probe interval".into(),
        verdict: if recovery.median() <= probe_ms { "met".into() } else { "MISSED".into() },
    });
}

fn quantile(samples: &Samples, q: f64) -> f64 {
    let mut values = samples.0.clone();
    values.sort_by(f64::total_cmp);
    values.get(((values.len() - 1) as f64 * q).round() as usize).copied().unwrap_or(f64::NAN)
}

/// The success path in memory: `Retrying` with budget and breaker against without.
pub fn overhead(mode: Mode, table: &mut Table) {
    let plain = Side::new(Box::new(Retrying::with_policy(InMemoryStorage::new(), RetryPolicy::STORAGE)));
    let guarded = Side::new(Box::new(
        Retrying::with_policy(InMemoryStorage::new(), RetryPolicy::STORAGE)
            .with_budget(BudgetOptions::default())
            .with_breaker(BreakerOptions::default()),
    ));
    let (rounds, calls) = if mode == Mode::Quick { (5, 200) } else { (301, 2_000) };
    for side in [&plain, &guarded] {
        side.batch("load_task", calls);
    }
    let mut added = Samples::default();
    let mut base = Samples::default();
    for round in 0..rounds {
        let (a, b) = if round % 2 == 0 {
            let a = plain.batch("load_task", calls);
            (a, guarded.batch("load_task", calls))
        } else {
            let b = guarded.batch("load_task", calls);
            (plain.batch("load_task", calls), b)
        };
        base.push(a);
        added.push(b - a);
    }
    let extra = allocations(|| guarded.call("load_task", 1)) as i64
        - allocations(|| plain.call("load_task", 1)) as i64;
    let ns = added.median();
    table.add(Row {
        section: "6 resilience",
        name: "load_task success path: budget and breaker vs neither".into(),
        baseline: format!("{} ns/call without", short(base.median())),
        measured: format!("{ns:+.1} ns/call"),
        comparison: format!("{extra:+} alloc"),
        spread: added.spread("ns"),
        target: "≤ 10 ns, 0 allocations".into(),
        verdict: if ns <= 10.0 && extra == 0 { "met".into() } else { "MISSED".into() },
    });
}

/// The section on PostgreSQL and Redis storages, each on a server of its own.
#[cfg(all(feature = "postgres", feature = "redis"))]
pub fn run(mode: Mode, table: &mut Table) {
    use bindu::postgres::PostgresStorage;
    use bindu::redis::RedisStorage;
    use bindu_test_support::{PostgresServer, RedisServer};

    struct Postgres(PostgresServer);
    impl Server for Postgres {
        fn stop(&mut self) {
            self.0.kill();
        }
        fn start(&mut self) {
            self.0.restart();
        }
    }
    struct Redis(RedisServer);
    impl Server for Redis {
        fn stop(&mut self) {
            self.0.kill();
        }
        fn start(&mut self) {
            self.0.restart();
        }
    }

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut postgres = Postgres(PostgresServer::start());
    let mut options = postgres.0.options();
    options.pool_size = 64;
    let connect = || -> Box<dyn Storage> {
        Box::new(runtime.block_on(PostgresStorage::connect_with(options.clone())).unwrap())
    };
    run_backend(mode, table, &runtime, "PostgreSQL", &mut postgres, &connect);

    let mut redis = Redis(RedisServer::spawn(Default::default()));
    let mut options = redis.0.quick_options();
    options.pool_size = 64;
    let connect = || -> Box<dyn Storage> {
        Box::new(runtime.block_on(RedisStorage::connect_with(options.clone())).unwrap())
    };
    run_backend(mode, table, &runtime, "Redis", &mut redis, &connect);
}
