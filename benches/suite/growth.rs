//! Section 8: long conversations (issue 21). For each storage (memory; PostgreSQL with production
//! durability, fsync on; Redis), what appending one message and loading the last message cost
//! when the task holds 10, 500 and 2,000 messages, and what loading the whole history costs at
//! 2,000 (over several tasks of each size; see `growth_measure.rs`): the current code ("after") against the previous release ("before", commit 4ffa363,
//! the last one before history and artifacts became append-only rows), side by side in one run.
//!
//! Both sides run the same measurement code (`growth_measure.rs`): the current code here, in
//! process; the previous release in `benches/growth-baseline`, a child process built from that
//! release's source by `scripts/bench`, on the same servers (each side in its own schema or under
//! its own prefix), the rounds alternating which side goes first. Without the baseline binary
//! (e.g. `cargo bench … -- --only growth` before `scripts/bench` built it) only "after" is
//! measured and the table says so.
//!
//! Targets (issue 21): an append, and `load_task(id, Some(1))`, at 2,000 messages within 1.5× of
//! their cost at 10, on every backend.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use bindu_test_support::{PostgresServer, RedisServer};

use crate::Mode;
use crate::growth_measure::{self as measure, Request, Results};
use crate::stats::{Row, Samples, Table, short};

const SECTION: &str = "8 growth (long conversations)";
/// The previous release, which the baseline binary is built from.
const BEFORE: &str = "4ffa363";
/// Issue 21's bound on the cost at the largest size over the cost at the smallest.
const TARGET_RATIO: f64 = 1.5;

/// The previous release, in its child process.
struct Baseline {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Baseline {
    /// `BINDU_GROWTH_BASELINE`, else `growth-baseline` in the profile directory this suite runs
    /// from (where `scripts/bench` builds it, with the same target directory).
    fn find() -> Option<PathBuf> {
        if let Some(path) = std::env::var_os("BINDU_GROWTH_BASELINE") {
            return Some(PathBuf::from(path));
        }
        let exe = std::env::current_exe().ok()?;
        let path = exe.parent()?.parent()?.join("growth-baseline");
        path.is_file().then_some(path)
    }

    fn start(path: PathBuf) -> Self {
        let mut child = Command::new(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the growth baseline {}: {e}", path.display()));
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self { child, stdin, stdout }
    }

    fn round(&mut self, request: &Request) -> Results {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(request.line().as_bytes()).expect("send the baseline a round");
        stdin.flush().expect("send the baseline a round");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read the baseline's answer");
        measure::parse_results(&line).unwrap_or_else(|e| {
            panic!("the growth baseline failed: {e} (an old build? scripts/bench --baseline rebuilds it)")
        })
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        drop(self.stdin.take()); // end of input: the child returns
        let _ = self.child.wait();
    }
}

pub fn run(mode: Mode, table: &mut Table) {
    let (sizes, rounds) = match mode {
        Mode::Quick => (vec![10, 200], 3),
        Mode::Full => (vec![10, 500, 2_000], 7),
    };
    let postgres = PostgresServer::start_durable();
    let redis = RedisServer::spawn(Default::default());
    let runtime = measure::runtime();
    let mut baseline = Baseline::find().map(Baseline::start);
    if baseline.is_none() {
        println!("growth: no baseline binary (scripts/bench builds it); measuring the current code only");
    }
    for (backend, url) in [("memory", None), ("postgres", Some(postgres.url())), ("redis", Some(redis.url()))]
    {
        // Tasks per size, appends per task, loads: memory calls take microseconds, the servers'
        // (an fsync per PostgreSQL commit) milliseconds. Memory keeps to 10 tasks (the issue
        // measured one): with 50 tasks of 2,000 messages the working set (tens of MB, growing each
        // round) leaves the caches, and the append at 2,000 measured cache misses, not work.
        let (tasks, appends, loads) = match (mode, backend) {
            (Mode::Quick, "memory") => (10, 2, 200),
            (Mode::Quick, _) => (2, 2, 5),
            (Mode::Full, "memory") => (10, 20, 2_000),
            (Mode::Full, _) => (10, 4, 40),
        };
        let request = Request {
            backend: backend.into(),
            url: url.map(str::to_string),
            sizes: sizes.clone(),
            tasks,
            appends,
            loads,
        };
        let storage = runtime.block_on(measure::open(backend, url)).unwrap();
        let ours = || runtime.block_on(measure::round(storage.as_ref(), &request)).unwrap();
        let (mut before, mut after) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            // Alternate which side goes first.
            if round % 2 == 0 {
                after.push(ours());
            }
            if let Some(baseline) = baseline.as_mut() {
                before.push(baseline.round(&request));
            }
            if round % 2 == 1 {
                after.push(ours());
            }
        }
        rows(table, backend, &sizes, &before, &after);
    }
}

/// A message count as the issue writes it: 2,000.
fn count(n: usize) -> String {
    if n >= 1_000 { format!("{},{:03}", n / 1_000, n % 1_000) } else { n.to_string() }
}

/// Microseconds per call of `key`, one sample per round.
fn micros(results: &[Results], key: &str) -> Samples {
    Samples(results.iter().map(|r| r[key] / 1_000.0).collect())
}

/// `numerator / denominator` per round.
fn ratios(results: &[Results], numerator: &str, denominator: &str) -> Samples {
    Samples(results.iter().map(|r| r[numerator] / r[denominator]).collect())
}

fn rows(table: &mut Table, backend: &str, sizes: &[usize], before: &[Results], after: &[Results]) {
    let (smallest, largest) = (sizes[0], sizes[sizes.len() - 1]);
    let measured = !before.is_empty();
    let cost_row = |table: &mut Table, name: String, key: &str| {
        let ours = micros(after, key);
        let (baseline, comparison) = if measured {
            // Per round: after ÷ before, the two measured next to each other.
            let paired = Samples(after.iter().zip(before).map(|(a, b)| a[key] / b[key]).collect());
            (
                format!("{} µs ({BEFORE})", short(micros(before, key).median())),
                format!("{:.2}× before", paired.median()),
            )
        } else {
            ("not built".into(), "—".into())
        };
        table.add(Row {
            section: SECTION,
            name,
            baseline,
            measured: format!("{} µs", short(ours.median())),
            comparison,
            spread: ours.spread("µs"),
            target: "reported".into(),
            verdict: "—".into(),
        });
    };
    let ratio_row = |table: &mut Table, name: String, numerator: &str, denominator: &str| {
        // Per round, within each side: the cost at the largest size over the cost at the smallest.
        let ours = ratios(after, numerator, denominator);
        let verdict = |r: f64| if r <= TARGET_RATIO { "met" } else { "MISSED" };
        let (baseline, comparison) = if measured {
            let theirs = ratios(before, numerator, denominator).median();
            (format!("{theirs:.2}× ({BEFORE})"), format!("before: {}", verdict(theirs)))
        } else {
            ("not built".into(), "—".into())
        };
        table.add(Row {
            section: SECTION,
            name,
            baseline,
            measured: format!("{:.2}×", ours.median()),
            comparison,
            spread: ours.spread("×"),
            target: format!("≤ {TARGET_RATIO}×"),
            verdict: verdict(ours.median()).into(),
        });
    };
    for &size in sizes {
        cost_row(
            table,
            format!("{backend}: append 1 message, task of {}", count(size)),
            &format!("append@{size}"),
        );
    }
    ratio_row(
        table,
        format!("{backend}: append at {} ÷ at {smallest} messages", count(largest)),
        &format!("append@{largest}"),
        &format!("append@{smallest}"),
    );
    for size in [smallest, largest] {
        cost_row(
            table,
            format!("{backend}: load_task(id, Some(1)), task of {}", count(size)),
            &format!("load1@{size}"),
        );
    }
    ratio_row(
        table,
        format!("{backend}: load_task(id, Some(1)) at {} ÷ at {smallest}", count(largest)),
        &format!("load1@{largest}"),
        &format!("load1@{smallest}"),
    );
    cost_row(
        table,
        format!("{backend}: load_task(id, None), task of {}", count(largest)),
        &format!("loadall@{largest}"),
    );
}
