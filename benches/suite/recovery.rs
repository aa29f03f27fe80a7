//! Section 5, shared by the backends: the time from a restarted server accepting connections to
//! the first successful call through `Retrying`, with that call in flight while the server is down.

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

use crate::Mode;
use crate::stats::{Row, Samples, Table, short};

/// Rounds of kill and restart per backend.
pub fn rounds(mode: Mode) -> usize {
    if mode == Mode::Quick { 1 } else { 5 }
}

/// One round: `kill` the server, start `call` (as a real client's call would be, in flight while
/// the server is down), `restart` the server 300 ms later, and return the milliseconds from the
/// restart returning (the server accepts connections) to the call's success.
pub fn sample<Server, T, E>(
    runtime: &Runtime,
    server: &mut Server,
    kill: impl FnOnce(&mut Server),
    restart: impl FnOnce(&mut Server),
    call: impl Future<Output = Result<T, E>> + Send + 'static,
) -> f64
where
    T: Send + 'static,
    E: Debug + Send + 'static,
{
    kill(server);
    let pending = runtime.spawn(async move {
        let result = call.await;
        (Instant::now(), result)
    });
    std::thread::sleep(Duration::from_millis(300));
    restart(server);
    let accepting = Instant::now();
    let (succeeded, result) = runtime.block_on(pending).unwrap();
    result.unwrap();
    succeeded.saturating_duration_since(accepting).as_secs_f64() * 1000.0
}

/// The table row for one backend's samples.
pub fn add_row(table: &mut Table, name: &str, samples: &Samples) {
    table.add(Row {
        section: "5 recovery",
        name: name.into(),
        baseline: "—".into(),
        measured: format!("{} ms", short(samples.median())),
        comparison: "bounded by the backoff wait in progress".into(),
        spread: samples.spread("ms"),
        target: "reported".into(),
        verdict: "—".into(),
    });
}
