//! The retry loop, written once: every retried call in the crate goes through
//! [`execute_with_retry`].

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use backon::Retryable;
use futures_util::future::{self, Either};

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
///   the success path is the bare call: it logs nothing, takes no lock, reads no clock, builds no
///   backoff and allocates nothing.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> bindu::Result<()> {
/// use bindu::{Call, RetryPolicy, execute_with_retry};
/// let value = execute_with_retry(&RetryPolicy::API, Call::idempotent("fetch_card"), || async { Ok(42) }).await?;
/// assert_eq!(value, 42);
/// # Ok(()) }
/// ```
pub async fn execute_with_retry<T, F, Fut>(policy: &RetryPolicy, call: Call, mut operation: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    // The success path is the bare call: no backoff is built and nothing is allocated. The retry
    // machinery (boxed, so its state does not enlarge every call's future) starts only after a
    // retryable failure.
    // Moved out of the result before the next await, so that the (large) result is not kept in
    // the future's state across it.
    let first = match operation().await {
        Ok(value) => return Ok(value),
        Err(err) => err,
    };
    if !first.is_retryable(call.idempotent) {
        return Err(first);
    }
    boxed_retry_after(policy, call, first, operation).await
}

/// Boxes the retry loop in a plain function, so that the loop is not laid out in every call's
/// future.
fn boxed_retry_after<'a, T, F, Fut>(
    policy: &'a RetryPolicy,
    call: Call,
    first: Error,
    operation: F,
) -> Pin<Box<impl Future<Output = Result<T>> + 'a>>
where
    F: FnMut() -> Fut + 'a,
    Fut: Future<Output = Result<T>> + 'a,
    T: 'a,
{
    Box::pin(retry_after(policy, call, first, operation))
}

/// The backon loop, entered after the first attempt failed with `first`: that failure counts as
/// attempt 1, so the loop's first "call" hands it back instead of calling again.
async fn retry_after<T, F, Fut>(policy: &RetryPolicy, call: Call, first: Error, mut operation: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut first = Some(first);
    let mut retries = 0u32;
    let attempt = || match first.take() {
        Some(err) => Either::Left(future::ready(Err(err))),
        None => Either::Right(operation()),
    };
    let outcome = attempt
        .retry(policy.waits())
        // Boxed so that the sleep's state is not inline in the loop's future.
        .sleep(|wait| Box::pin(tokio::time::sleep(wait)))
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
