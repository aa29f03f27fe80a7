//! [`Retrying`]: a decorator that retries any [`Storage`](crate::Storage) or
//! [`Scheduler`](crate::Scheduler) backend, safely.

mod backoff;
mod breaker;
mod budget;
mod call;
mod deadline;
mod execute;
mod policy;
mod retried;
mod scheduler;
mod storage;

use std::future::Future;
use std::sync::Arc;

use tracing::Instrument;

pub use backoff::Backoff;
pub use breaker::{BreakerOptions, CircuitBreaker};
pub use budget::{BudgetOptions, RetryBudget};
pub use call::Call;
pub use execute::execute_with_retry;
pub use policy::RetryPolicy;

use self::breaker::Admission;
use self::execute::{Guards, execute_guarded};
use crate::error::{Error, Result};
use crate::telemetry::Meter;

/// Wraps a backend and retries its operations with a [`RetryPolicy`].
///
/// It retries only errors the backend classified as transient, retries uncertain errors (the
/// request may have been applied) only for idempotent operations (see [`Call`]), never retries
/// permanent ones, and turns the last retryable failure into
/// [`Error::Exhausted`]. For
/// [`receive`](crate::Scheduler::receive) only opening the stream is retried; a backend's stream
/// reconnects by itself.
///
/// The policy is a value: [`Retrying::new`] uses the documented default of the role the wrapped
/// backend plays ([`RetryPolicy::STORAGE`] for a [`Storage`](crate::Storage),
/// [`RetryPolicy::SCHEDULER`] for a [`Scheduler`](crate::Scheduler)), and
/// [`Retrying::with_policy`] the one you pass. Nothing is read from the environment here: read
/// [`RetrySettings::from_env`](crate::RetrySettings::from_env) yourself, or let
/// [`App`](crate::App) do it.
///
/// Beyond the policy (attempts, waits, a deadline shared by nested layers), a `Retrying` can
/// hold a [`RetryBudget`] ([`Retrying::with_budget`]), so that many callers retrying at once
/// never multiply the load on a failing backend, and a [`CircuitBreaker`]
/// ([`Retrying::with_breaker`]), so that calls fail at once while a backend keeps failing and a
/// cheap probe finds it back. Both belong to the decorator and are shared by its clones: give
/// each backend instance one `Retrying`. [`App`](crate::App) sets them from `RETRY__*`.
///
/// Put per-call timeouts *inside* (in the backend), never around a `Retrying`, or a timeout
/// would cut a retry short in the middle of its wait.
///
/// Every call is observable (see [`telemetry`](crate::telemetry)): a DEBUG span named after the
/// operation, and — while a metrics recorder is installed — its outcome, retries, waits and
/// latency, labelled with the backend's name ([`Retrying::named`]) and the role.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> bindu::Result<()> {
/// use bindu::{InMemoryStorage, Message, RetryPolicy, Retrying, Storage};
/// let storage = Retrying::with_policy(InMemoryStorage::new(), RetryPolicy::STORAGE);
/// let message = Message::user_text("hello").for_task(bindu::TaskId::new());
/// let submitted = storage.submit_task(bindu::ContextId::new(), &message, None).await?;
/// assert_eq!(submitted.task.history.len(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Retrying<S> {
    inner: S,
    policy: Option<RetryPolicy>,
    budget: Option<Arc<RetryBudget>>,
    breaker: Option<Arc<CircuitBreaker>>,
    backend: &'static str,
}

impl<S> Retrying<S> {
    /// Wraps `inner` with the default policy of its role: [`RetryPolicy::STORAGE`] for storage
    /// calls, [`RetryPolicy::SCHEDULER`] for scheduler calls.
    pub const fn new(inner: S) -> Self {
        Self { inner, policy: None, budget: None, breaker: None, backend: UNNAMED }
    }

    /// Wraps `inner` with an explicit policy, for every call.
    pub const fn with_policy(inner: S, policy: RetryPolicy) -> Self {
        Self { inner, policy: Some(policy), budget: None, breaker: None, backend: UNNAMED }
    }

    /// Names the wrapped backend in metrics and spans (`backend` label), e.g. `postgres`;
    /// [`App`](crate::App) names its backends after their type. `unknown` until named.
    pub const fn named(mut self, backend: &'static str) -> Self {
        self.backend = backend;
        self
    }

    /// The backend's name in metrics and spans.
    pub const fn backend(&self) -> &'static str {
        self.backend
    }

    /// Adds a retry budget: retries draw from a bucket that successes refill; when it is spent a
    /// retryable failure is returned at once as [`Error::Exhausted`] with
    /// [`GaveUp::Budget`](crate::GaveUp::Budget).
    pub fn with_budget(mut self, options: BudgetOptions) -> Self {
        self.budget = Some(Arc::new(RetryBudget::new(options)));
        self
    }

    /// Adds a circuit breaker: after a window of calls failing at `options.failure_ratio`, calls
    /// fail at once with [`Error::CircuitOpen`] until a probe ([`Storage::ping`](crate::Storage::ping))
    /// finds the backend back.
    pub fn with_breaker(mut self, options: BreakerOptions) -> Self {
        self.breaker = Some(Arc::new(CircuitBreaker::new(options)));
        self
    }

    /// The retry budget, if any.
    pub fn budget(&self) -> Option<&RetryBudget> {
        self.budget.as_deref()
    }

    /// The circuit breaker, if any.
    pub fn breaker(&self) -> Option<&CircuitBreaker> {
        self.breaker.as_deref()
    }

    /// The wrapped backend.
    pub const fn inner(&self) -> &S {
        &self.inner
    }

    /// Unwraps the backend.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The explicit policy; `None` when each role's default applies ([`Retrying::new`]).
    pub const fn policy(&self) -> Option<&RetryPolicy> {
        self.policy.as_ref()
    }

    /// The policy in force for calls of a role whose default is `role_default`.
    pub const fn policy_or<'a>(&'a self, role_default: &'a RetryPolicy) -> &'a RetryPolicy {
        match &self.policy {
            Some(policy) => policy,
            None => role_default,
        }
    }

    /// The single retry helper every forwarded method goes through: admission by the breaker
    /// (probing with `probe` when it is half-open), then the retry loop with the budget, in
    /// `span`, measured while a metrics recorder is installed. A plain function returning the
    /// future (rather than an `async fn` around it) keeps one state machine fewer on every call.
    fn call<'a, T, F, Fut, P, PFut>(
        &'a self,
        role: (&'static str, &'static RetryPolicy),
        call: Call,
        span: tracing::Span,
        operation: F,
        probe: P,
    ) -> impl Future<Output = Result<T>> + 'a
    where
        F: FnMut() -> Fut + 'a,
        Fut: Future<Output = Result<T>> + 'a,
        P: FnOnce() -> PFut + 'a,
        PFut: Future<Output = Result<()>> + 'a,
        T: 'a,
    {
        let (budget, breaker) = (self.budget.as_deref(), self.breaker.as_deref());
        let policy = self.policy_or(role.1);
        let backend = self.backend;
        async move {
            let meter = Meter::start(backend, role.0);
            let guards = Guards { budget, breaker, meter: meter.as_ref() };
            let result = 'call: {
                if let Some(breaker) = breaker {
                    match breaker.admit(role.0) {
                        Ok(Admission::Call) => {}
                        Ok(Admission::Probe) => {
                            guards.breaker_changed();
                            let probed = probe().await;
                            breaker.probed(probed.is_ok());
                            guards.breaker_changed();
                            if let Err(err) = probed {
                                tracing::warn!(role = role.0, error = %err, "circuit probe failed; staying open");
                                let retry_in = breaker.options().open_for;
                                break 'call Err(Error::CircuitOpen { what: role.0, retry_in });
                            }
                            tracing::info!(role = role.0, "circuit probe succeeded; closed");
                        }
                        Err(open) => break 'call Err(open),
                    }
                }
                execute_guarded(policy, call, guards, operation).await
            };
            if let Some(meter) = &meter {
                meter.finish(call.name, &result);
            }
            result
        }
        .instrument(span)
    }
}

/// The backend label of a `Retrying` nobody named.
const UNNAMED: &str = "unknown";
