//! [`Retrying`]: a decorator that retries any [`Storage`](crate::Storage) or
//! [`Scheduler`](crate::Scheduler) backend, safely.

mod call;
mod execute;
mod forward;
mod policy;
mod scheduler;
mod storage;

use std::future::Future;
use std::sync::Arc;

pub use call::Call;
pub use execute::execute_with_retry;
pub use policy::RetryPolicy;

use crate::error::Result;
use crate::settings::RetrySettings;

/// Wraps a backend and retries its operations with a [`RetryPolicy`].
///
/// It retries only errors the backend classified as transient, retries uncertain errors (the
/// request may have been applied) only for idempotent operations (see [`Call`]), never retries
/// permanent ones, and turns the last retryable failure into
/// [`Error::Exhausted`](crate::Error::Exhausted). For
/// [`receive_task_operations`](crate::Scheduler::receive_task_operations) only opening the stream is
/// retried; a backend's stream reconnects by itself.
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
    policy: RetryPolicy,
}

impl<S> Retrying<S> {
    /// Wraps `inner` with the policy of its role (storage or scheduler) from the process's
    /// [`RetrySettings`] (the `RETRY__*` environment variables and `.env`).
    ///
    /// # Panics
    /// If the settings are malformed; the message names the variable and its value. Use
    /// [`Retrying::try_new`] to get the error instead.
    pub fn new(inner: S) -> Self
    where
        S: DefaultRetryPolicy,
    {
        match Self::try_new(inner) {
            Ok(retrying) => retrying,
            Err(err) => panic!("invalid retry settings: {err}"),
        }
    }

    /// Like [`Retrying::new`], but returns malformed settings as an error.
    pub fn try_new(inner: S) -> Result<Self>
    where
        S: DefaultRetryPolicy,
    {
        let policy = inner.default_retry_policy(RetrySettings::global()?);
        Ok(Self { inner, policy })
    }

    /// Wraps `inner` with an explicit policy.
    pub const fn with_policy(inner: S, policy: RetryPolicy) -> Self {
        Self { inner, policy }
    }

    /// The wrapped backend.
    pub const fn inner(&self) -> &S {
        &self.inner
    }

    /// Unwraps the backend.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The policy in force.
    pub const fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The single retry helper every forwarded method goes through. A plain function returning
    /// the retry future (rather than an `async fn` around it) keeps one state machine fewer on
    /// every call.
    fn call<'a, T, F, Fut>(&'a self, call: Call, operation: F) -> impl Future<Output = Result<T>> + 'a
    where
        F: FnMut() -> Fut + 'a,
        Fut: Future<Output = Result<T>> + 'a,
        T: 'a,
    {
        execute_with_retry(&self.policy, call, operation)
    }
}

/// The retry policy a backend gets from [`Retrying::new`]: its role's policy in the settings.
pub trait DefaultRetryPolicy {
    /// Picks this backend's policy from `settings`.
    fn default_retry_policy(&self, settings: &RetrySettings) -> RetryPolicy;
}

impl DefaultRetryPolicy for dyn crate::Storage {
    fn default_retry_policy(&self, settings: &RetrySettings) -> RetryPolicy {
        settings.storage
    }
}

impl DefaultRetryPolicy for dyn crate::Scheduler {
    fn default_retry_policy(&self, settings: &RetrySettings) -> RetryPolicy {
        settings.scheduler
    }
}

impl<T: DefaultRetryPolicy + ?Sized> DefaultRetryPolicy for Arc<T> {
    fn default_retry_policy(&self, settings: &RetrySettings) -> RetryPolicy {
        (**self).default_retry_policy(settings)
    }
}

impl<T: DefaultRetryPolicy + ?Sized> DefaultRetryPolicy for Box<T> {
    fn default_retry_policy(&self, settings: &RetrySettings) -> RetryPolicy {
        (**self).default_retry_policy(settings)
    }
}

impl<S: DefaultRetryPolicy> DefaultRetryPolicy for Retrying<S> {
    fn default_retry_policy(&self, settings: &RetrySettings) -> RetryPolicy {
        self.inner.default_retry_policy(settings)
    }
}
