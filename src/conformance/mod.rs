//! The shared conformance suite: one `pub async fn` per contract of [`Storage`](crate::Storage)
//! and [`Scheduler`](crate::Scheduler), run against every backend, plain, under
//! [`Retrying`](crate::Retrying) and through `Arc<dyn …>`.
//!
//! Enabled by the `conformance` feature so that other crates (and third-party backends) can run
//! it. Not a stable API. **It writes to the backend and calls `clear_all`**: give it a backend
//! of its own (an empty schema, a fresh key prefix).
//!
//! Every await is under a timeout, so a backend that hangs fails the case instead of the run.

pub mod scheduler;
pub mod storage;

use std::future::Future;
use std::time::Duration;

/// How long one backend call may take before the case fails.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Awaits `future` for at most [`STEP_TIMEOUT`], panicking with `what` if it takes longer.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP_TIMEOUT, future).await {
        Ok(value) => value,
        Err(_) => panic!("conformance: `{what}` did not finish within {STEP_TIMEOUT:?}"),
    }
}

/// `within`, naming the call by its source text.
#[macro_export]
#[doc(hidden)]
macro_rules! step {
    ($call:expr) => {
        $crate::conformance::within(stringify!($call), $call).await
    };
}

pub(crate) use step;

/// A fresh owner identity, so a case's lists see only its own records.
pub fn unique_owner() -> String {
    format!("did:conformance:{}", uuid::Uuid::new_v4())
}
