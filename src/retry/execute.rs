//! The retry loop, written once: every retried call in the crate goes through
//! [`execute_with_retry`].

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use backon::Retryable;
use futures_util::future::{self, Either};
use tokio::time::Instant;

use super::breaker::CircuitBreaker;
use super::budget::RetryBudget;
use super::{Call, RetryPolicy, deadline};
use crate::error::{BackendError, Error, GaveUp, Result, Transience};
use crate::telemetry::Meter;

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
pub async fn execute_with_retry<T, F, Fut>(policy: &RetryPolicy, call: Call, operation: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    execute_guarded(policy, call, Guards::NONE, operation).await
}

/// What else a retry consults: the backend's retry budget and circuit breaker, when it has them,
/// and the call's meter while metrics are recorded.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Guards<'a> {
    pub(crate) budget: Option<&'a RetryBudget>,
    pub(crate) breaker: Option<&'a CircuitBreaker>,
    pub(crate) meter: Option<&'a Meter>,
}

impl Guards<'_> {
    pub(crate) const NONE: Guards<'static> = Guards { budget: None, breaker: None, meter: None };
}

/// [`execute_with_retry`] with the guards: successes fill the budget and count in the breaker's
/// window, failures too; retries draw on the budget and stop at the deadline or an open circuit.
/// The first attempt is admitted by the caller (see `Retrying::call`).
pub(crate) async fn execute_guarded<T, F, Fut>(
    policy: &RetryPolicy,
    call: Call,
    guards: Guards<'_>,
    operation: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    match policy.deadline {
        // Inner layers see this call's deadline and share it.
        Some(length) => deadline::within(length, attempts(policy, call, guards, operation)).await,
        None => attempts(policy, call, guards, operation).await,
    }
}

async fn attempts<T, F, Fut>(
    policy: &RetryPolicy,
    call: Call,
    guards: Guards<'_>,
    mut operation: F,
) -> Result<T>
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
        Ok(value) => {
            guards.succeeded();
            return Ok(value);
        }
        Err(err) => err,
    };
    guards.failed(&first);
    if !first.is_retryable(call.idempotent) {
        return Err(first);
    }
    boxed_retry_after(policy, call, guards, first, operation).await
}

impl Guards<'_> {
    fn succeeded(&self) {
        if let Some(budget) = self.budget {
            budget.deposit();
            if let Some(meter) = self.meter {
                meter.budget(budget);
            }
        }
        if let Some(breaker) = self.breaker {
            breaker.record(false);
        }
    }

    fn failed(&self, err: &Error) {
        if let Some(breaker) = self.breaker {
            breaker.record(err.transience() != Transience::Permanent);
            self.breaker_changed();
        }
    }

    /// The breaker may have changed state: its gauge follows.
    pub(crate) fn breaker_changed(&self) {
        if let (Some(breaker), Some(meter)) = (self.breaker, self.meter) {
            meter.breaker(breaker);
        }
    }

    /// Takes a retry from the budget, if any; `false` when it is spent.
    fn withdraw(&self) -> bool {
        let Some(budget) = self.budget else { return true };
        let withdrawn = budget.withdraw();
        if let Some(meter) = self.meter {
            meter.budget(budget);
        }
        withdrawn
    }
}

/// Boxes the retry loop in a plain function, so that the loop is not laid out in every call's
/// future.
fn boxed_retry_after<'a, T, F, Fut>(
    policy: &'a RetryPolicy,
    call: Call,
    guards: Guards<'a>,
    first: Error,
    operation: F,
) -> Pin<Box<impl Future<Output = Result<T>> + 'a>>
where
    F: FnMut() -> Fut + 'a,
    Fut: Future<Output = Result<T>> + 'a,
    T: 'a,
{
    Box::pin(retry_after(policy, call, guards, first, operation))
}

/// The backon loop, entered after the first attempt failed with `first`: that failure counts as
/// attempt 1, so the loop's first "call" hands it back instead of calling again.
async fn retry_after<T, F, Fut>(
    policy: &RetryPolicy,
    call: Call,
    guards: Guards<'_>,
    first: Error,
    mut operation: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let deadline = deadline::start(policy.deadline);
    let mut first = Some(first);
    let mut retries = 0u32;
    // Why the retries stopped, when it was not the attempts (set in `adjust`, read after).
    let gave_up = AtomicU8::new(0);
    let attempt = || {
        if let Some(err) = first.take() {
            return Either::Left(future::ready(Err(err)));
        }
        if let Some(Err(open)) = guards.breaker.map(|breaker| breaker.admit(call.name)) {
            return Either::Left(future::ready(Err(open)));
        }
        let attempt = operation();
        Either::Right(async move {
            let outcome = match deadline {
                Some(at) => match tokio::time::timeout_at(at, attempt).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(cut_short()),
                },
                None => attempt.await,
            };
            match &outcome {
                Ok(_) => guards.succeeded(),
                Err(err) => guards.failed(err),
            }
            outcome
        })
    };
    let outcome = attempt
        .retry(policy.waits())
        // Boxed so that the sleep's state is not inline in the loop's future.
        .sleep(|wait| Box::pin(tokio::time::sleep(wait)))
        .when(|err: &Error| err.is_retryable(call.idempotent) && !matches!(err, Error::CircuitOpen { .. }))
        .adjust(|err: &Error, wait: Option<Duration>| {
            let wait = wait.map(|wait| err.retry_after().map_or(wait, |asked| asked.min(policy.max_wait)))?;
            // No retry that would start past the deadline: give up now rather than wait.
            if deadline.is_some_and(|at| Instant::now() + wait >= at) {
                gave_up.store(1, Ordering::Relaxed);
                return None;
            }
            if !guards.withdraw() {
                gave_up.store(2, Ordering::Relaxed);
                return None;
            }
            Some(wait)
        })
        .notify(|err: &Error, wait: Duration| {
            retries += 1;
            if let Some(meter) = guards.meter {
                meter.retrying(wait);
            }
            tracing::Span::current().record("attempt", retries + 1);
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
        if err.is_retryable(call.idempotent) && !matches!(err, Error::CircuitOpen { .. }) {
            let cause = match gave_up.load(Ordering::Relaxed) {
                1 => GaveUp::Deadline,
                2 => GaveUp::Budget,
                _ => GaveUp::Attempts,
            };
            tracing::warn!(operation = call.name, attempts = retries + 1, error = %err, "giving up: retries exhausted{cause}");
            Error::Exhausted { operation: call.name, attempts: retries + 1, cause, last: Box::new(err) }
        } else {
            err
        }
    })
}

/// The error of an attempt the deadline cut short: it may have been applied.
fn cut_short() -> Error {
    BackendError::new(
        "retry",
        Transience::Uncertain,
        "the call's deadline passed while an attempt was running",
    )
    .into()
}
