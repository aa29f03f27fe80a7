//! Call deadlines: the time one call may spend retrying, shared by nested retry layers.
//!
//! A deadline starts at a call's first failure — reading the clock only then keeps the success
//! path free of it; the first attempt is bounded by the backend's own request timeout. The
//! outermost layer with a deadline opens a scope for its task; layers inside it lower the
//! scope's deadline to theirs (never raise it), and the first failure anywhere inside fixes the
//! instant. So nested layers — a worker step around a `Retrying` storage, say — share one
//! deadline instead of adding theirs.

use std::cell::Cell;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

tokio::task_local! {
    static SCOPE: Shared;
}

/// The scope's deadline: a length until the first failure, an instant after.
#[derive(Debug)]
struct Shared {
    length: Cell<Duration>,
    at: Cell<Option<Instant>>,
}

/// Runs `call` with `length` as its deadline, inside the enclosing scope if there is one.
pub(crate) async fn within<T>(length: Duration, call: impl Future<Output = T>) -> T {
    let joined = SCOPE.try_with(|shared| {
        if shared.at.get().is_none() {
            shared.length.set(shared.length.get().min(length));
        }
    });
    match joined {
        Ok(()) => call.await,
        Err(_) => SCOPE.scope(Shared { length: Cell::new(length), at: Cell::new(None) }, call).await,
    }
}

/// The instant retries must stop by, fixed now (at a first failure): the earlier of this
/// layer's `length` from now and the scope's deadline.
pub(crate) fn start(length: Option<Duration>) -> Option<Instant> {
    let now = Instant::now();
    let own = length.map(|length| now + length);
    let shared = SCOPE
        .try_with(|shared| {
            let at = shared.at.get().unwrap_or_else(|| now + shared.length.get());
            shared.at.set(Some(at));
            at
        })
        .ok();
    match (own, shared) {
        (Some(own), Some(shared)) => Some(own.min(shared)),
        (own, shared) => own.or(shared),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_innermost_first_failure_fixes_the_outermost_shortest_deadline() {
        let now = Instant::now();
        assert_eq!(start(None), None, "no scope, no deadline");
        assert_eq!(start(Some(Duration::from_secs(5))), Some(now + Duration::from_secs(5)));
        let inner = within(Duration::from_secs(10), async {
            within(Duration::from_secs(3), async {
                tokio::time::advance(Duration::from_secs(1)).await;
                start(Some(Duration::from_secs(30)))
            })
            .await
        })
        .await;
        assert_eq!(inner, Some(now + Duration::from_secs(4)), "3 s from the first failure, at 1 s");
        let shared = within(Duration::from_secs(10), async {
            let first = start(None);
            tokio::time::advance(Duration::from_secs(2)).await;
            (first, start(Some(Duration::from_secs(60))))
        })
        .await;
        let at = now + Duration::from_secs(1 + 10);
        assert_eq!(shared, (Some(at), Some(at)), "a later failure keeps the instant the first fixed");
    }
}
