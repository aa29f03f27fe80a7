//! The retry loop, written once: every retried call in the crate goes through
//! [`execute_with_retry`].

use std::future::Future;
use std::time::Duration;

use backon::Retryable;

use super::{Call, RetryPolicy};
use crate::error::{Error, Result};

/// Calls `operation` until it succeeds, fails with an error that may not be retried, or
/// `policy.max_attempts` calls have been made.
///
/// - Transient errors are retried; uncertain ones only when `call.idempotent`; permanent ones are
///   returned unchanged.
/// - A retryable error on the last attempt becomes [`Error::Exhausted`] (permanent, with the
///   attempt count and the last error), so an outer retry never multiplies the attempts.
/// - A delay the server asked for ([`Error::retry_after`]) replaces the computed wait, capped at
///   `policy.max_wait`.
/// - Each retry is logged at WARN through `tracing` with the operation, attempt, delay and error;
///   the success path logs nothing, takes no lock, reads no clock and allocates nothing.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> bindu::Result<()> {
/// use bindu::{Call, RetryPolicy, execute_with_retry};
/// let value = execute_with_retry(&RetryPolicy::API, Call::idempotent("fetch_card"), || async { Ok(42) }).await?;
/// assert_eq!(value, 42);
/// # Ok(()) }
/// ```
pub async fn execute_with_retry<T, F, Fut>(policy: &RetryPolicy, call: Call, operation: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut retries = 0u32;
    let outcome = operation
        .retry(policy.backoff())
        .sleep(tokio::time::sleep)
        .when(|err: &Error| err.is_retryable(call.idempotent))
        .adjust(|err: &Error, wait: Option<Duration>| {
            wait.map(|wait| err.retry_after().map_or(wait, |asked| asked.min(policy.max_wait)))
        })
        .notify(|err: &Error, wait: Duration| {
            retries += 1;
            tracing::warn!(
                operation = call.name,
                attempt = retries,
                max_attempts = policy.max_attempts,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                transience = %err.transience(),
                error = %err,
                "retrying after a retryable failure",
            );
        })
        .await;
    outcome.map_err(|err| {
        if err.is_retryable(call.idempotent) {
            tracing::warn!(operation = call.name, attempts = retries + 1, error = %err, "giving up: retries exhausted");
            Error::Exhausted { operation: call.name, attempts: retries + 1, last: Box::new(err) }
        } else {
            err
        }
    })
}
