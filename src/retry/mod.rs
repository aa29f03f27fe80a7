//! [`Retrying`]: a decorator that retries any [`Storage`](crate::Storage) or
//! [`Scheduler`](crate::Scheduler) backend, safely.

mod backoff;
mod call;
mod execute;
mod forward;
mod policy;
mod scheduler;
mod storage;

use std::future::Future;

pub use backoff::Backoff;
pub use call::Call;
pub use execute::execute_with_retry;
pub use policy::RetryPolicy;

use crate::error::Result;

/// Wraps a backend and retries its operations with a [`RetryPolicy`].
///
/// It retries only errors the backend classified as transient, retries uncertain errors (the
/// request may have been applied) only for idempotent operations (see [`Call`]), never retries
/// permanent ones, and turns the last retryable failure into
/// [`Error::Exhausted`](crate::Error::Exhausted). For
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
/// Put per-call timeouts *inside* (in the backend), never around a `Retrying`, or a timeout
/// would cut a retry short in the middle of its wait.
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
}

impl<S> Retrying<S> {
    /// Wraps `inner` with the default policy of its role: [`RetryPolicy::STORAGE`] for storage
    /// calls, [`RetryPolicy::SCHEDULER`] for scheduler calls.
    pub const fn new(inner: S) -> Self {
        Self { inner, policy: None }
    }

    /// Wraps `inner` with an explicit policy, for every call.
    pub const fn with_policy(inner: S, policy: RetryPolicy) -> Self {
        Self { inner, policy: Some(policy) }
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

    /// The single retry helper every forwarded method goes through. A plain function returning
    /// the retry future (rather than an `async fn` around it) keeps one state machine fewer on
    /// every call.
    fn call<'a, T, F, Fut>(
        &'a self,
        role_default: &'static RetryPolicy,
        call: Call,
        operation: F,
    ) -> impl Future<Output = Result<T>> + 'a
    where
        F: FnMut() -> Fut + 'a,
        Fut: Future<Output = Result<T>> + 'a,
        T: 'a,
    {
        execute_with_retry(self.policy_or(role_default), call, operation)
    }
}
