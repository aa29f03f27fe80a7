//! One error type whose every value knows whether retrying it is safe.
//!
//! Errors are classified where they are born: each backend maps its driver's errors to
//! [`Error::Backend`] with a [`Transience`]. [`Retrying`](crate::Retrying) only reads that
//! classification, together with whether the operation is idempotent.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use crate::model::{TaskId, TaskState};

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A boxed error source.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Whether an error may go away on its own, and whether the failed request may have taken effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transience {
    /// The request surely was not applied and may succeed later: connection refused, pool wait
    /// timed out, the server said "try again". Always safe to retry.
    Transient,
    /// The request may have been applied: a timeout or a reset after it was sent. Safe to retry
    /// only when the operation is idempotent.
    Uncertain,
    /// Retrying will not help: not found, conflict, invalid input, bad credentials, decode
    /// failures, retries already exhausted, and everything unclassified.
    Permanent,
}

impl Transience {
    /// Whether a failure of this kind may be retried by an operation that is (or is not)
    /// idempotent.
    pub const fn allows_retry(self, idempotent: bool) -> bool {
        match self {
            Self::Transient => true,
            Self::Uncertain => idempotent,
            Self::Permanent => false,
        }
    }
}

impl fmt::Display for Transience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Transient => "transient",
            Self::Uncertain => "uncertain",
            Self::Permanent => "permanent",
        })
    }
}

/// What kind of record an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Entity {
    /// A task.
    Task,
    /// A context.
    Context,
    /// A webhook config.
    WebhookConfig,
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Task => "task",
            Self::Context => "context",
            Self::WebhookConfig => "webhook config",
        })
    }
}

/// Everything that can go wrong in `bindu`.
///
/// No value ever carries a password or token in its message or `Debug` output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The record does not exist.
    #[error("{entity} {id} not found")]
    NotFound {
        /// What kind of record.
        entity: Entity,
        /// Its id.
        id: String,
    },
    /// The task is in a terminal state and can no longer change.
    #[error(
        "task {task_id} is {state}, a terminal state, and cannot change; \
         create a new task that lists it in referenceTaskIds"
    )]
    TaskImmutable {
        /// The task.
        task_id: TaskId,
        /// Its terminal state.
        state: TaskState,
    },
    /// A conditional write found the task in another state.
    #[error("task {task_id} is {actual}, not {expected}")]
    StateConflict {
        /// The task.
        task_id: TaskId,
        /// The state the write required.
        expected: TaskState,
        /// The state it found.
        actual: TaskState,
    },
    /// A fenced write found the task's metadata changed: another run has taken the task over.
    #[error("task {task_id} was taken over: its metadata {key:?} no longer matches")]
    Fenced {
        /// The task.
        task_id: TaskId,
        /// The metadata key that did not match.
        key: String,
    },
    /// The caller does not own the record. Servers report this as "not found" so that the
    /// record's existence is not revealed.
    #[error("{entity} {id} belongs to another owner")]
    Ownership {
        /// What kind of record.
        entity: Entity,
        /// Its id.
        id: String,
    },
    /// The input was rejected.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was invalid.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A setting is malformed or missing.
    #[error("{setting}: {reason}")]
    Config {
        /// The environment variable or option, e.g. `RETRY__WORKER_MAX_ATTEMPTS`.
        setting: String,
        /// What was wrong with it (the value, with secrets redacted).
        reason: String,
    },
    /// A stored or received value could not be decoded.
    #[error("could not decode {what}: {reason}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// A bounded queue stayed full for the whole enqueue timeout; nothing was enqueued.
    #[error("the queue is full ({capacity} operations) and stayed full for {waited:?}")]
    QueueFull {
        /// The queue's capacity.
        capacity: usize,
        /// How long the enqueue waited.
        waited: Duration,
    },
    /// The backend was closed.
    #[error("{0} is closed")]
    Closed(&'static str),
    /// A backend (database, broker, HTTP peer) failed; the backend classified the failure.
    #[error("{0}")]
    Backend(#[from] BackendError),
    /// Retries ran out. Permanent, so that an outer retry never multiplies the attempts.
    #[error("{operation} failed after {attempts} attempts{cause}: {last}")]
    Exhausted {
        /// The operation that was retried.
        operation: &'static str,
        /// How many calls were made in all.
        attempts: u32,
        /// What ran out: the attempts, the retry budget or the deadline.
        cause: GaveUp,
        /// The last attempt's error.
        #[source]
        last: Box<Error>,
    },
    /// The backend's circuit breaker is open: it kept failing, and calls fail at once until a
    /// probe finds it back. Transient (nothing was sent); [`Retrying`](crate::Retrying) does not
    /// retry it.
    #[error("{what}: the circuit is open (the backend kept failing); probing again in {retry_in:?}")]
    CircuitOpen {
        /// The role of the backend: `storage` or `scheduler`.
        what: &'static str,
        /// When the next probe may run.
        retry_in: Duration,
    },
}

/// Why retries stopped ([`Error::Exhausted`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GaveUp {
    /// The policy's attempts were all made.
    Attempts,
    /// The retry budget was spent: the backend is failing for many callers.
    Budget,
    /// The call's deadline left no time for another attempt.
    Deadline,
}

impl fmt::Display for GaveUp {
    /// Empty for [`GaveUp::Attempts`]: the attempt count says it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Attempts => "",
            Self::Budget => " (the retry budget is spent)",
            Self::Deadline => " (the deadline passed)",
        })
    }
}

impl Error {
    /// How this error should be treated by a retry.
    pub fn transience(&self) -> Transience {
        match self {
            Self::Backend(err) => err.transience,
            Self::QueueFull { .. } | Self::CircuitOpen { .. } => Transience::Transient,
            _ => Transience::Permanent,
        }
    }

    /// Whether this error says a backend is unavailable for now rather than that the request is
    /// wrong: a transient or uncertain failure, or retries that ran out on one. Work that failed
    /// this way should be tried again later, never recorded as a failure.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Exhausted { last, .. } => last.is_unavailable(),
            other => other.transience() != Transience::Permanent,
        }
    }

    /// Whether an operation that failed with this error may be retried.
    pub fn is_retryable(&self, idempotent: bool) -> bool {
        self.transience().allows_retry(idempotent)
    }

    /// A delay the server asked for before the next attempt (e.g. HTTP `Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Backend(err) => err.retry_after,
            _ => None,
        }
    }

    /// A [`Error::NotFound`].
    pub fn not_found(entity: Entity, id: impl fmt::Display) -> Self {
        Self::NotFound { entity, id: id.to_string() }
    }

    /// A [`Error::Ownership`].
    pub fn ownership(entity: Entity, id: impl fmt::Display) -> Self {
        Self::Ownership { entity, id: id.to_string() }
    }

    /// A [`Error::Config`].
    pub fn config(setting: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Config { setting: setting.into(), reason: reason.into() }
    }
}

/// A failure reported by a backend, already classified.
#[derive(Debug)]
pub struct BackendError {
    /// `postgres`, `redis`, `http`, …
    pub backend: &'static str,
    /// Whether retrying is safe.
    pub transience: Transience,
    /// A short description, free of secrets.
    pub message: String,
    /// A delay the peer asked for before the next attempt.
    pub retry_after: Option<Duration>,
    /// The driver's error.
    pub source: Option<BoxError>,
}

impl BackendError {
    /// A classified backend failure.
    pub fn new(backend: &'static str, transience: Transience, message: impl Into<String>) -> Self {
        Self { backend, transience, message: message.into(), retry_after: None, source: None }
    }

    /// Attaches the driver's error.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Records a delay the peer asked for.
    pub fn with_retry_after(mut self, delay: Duration) -> Self {
        self.retry_after = Some(delay);
        self
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error ({}): {}", self.backend, self.transience, self.message)
    }
}

impl StdError for BackendError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_backend_and_queue_full_errors_can_be_retried() {
        let transient = Error::from(BackendError::new("postgres", Transience::Transient, "refused"));
        let uncertain = Error::from(BackendError::new("redis", Transience::Uncertain, "reset"));
        assert!(transient.is_retryable(false));
        assert!(uncertain.is_retryable(true));
        assert!(!uncertain.is_retryable(false));
        let full = Error::QueueFull { capacity: 1, waited: Duration::from_secs(1) };
        assert!(full.is_retryable(false));
        for permanent in [
            Error::not_found(Entity::Task, "x"),
            Error::Closed("memory storage"),
            Error::Exhausted {
                operation: "load_task",
                attempts: 3,
                cause: GaveUp::Attempts,
                last: Box::new(transient),
            },
        ] {
            assert_eq!(permanent.transience(), Transience::Permanent, "{permanent}");
            assert!(!permanent.is_retryable(true));
        }
    }

    #[test]
    fn messages_say_what_happened() {
        let err = Error::Exhausted {
            operation: "submit_task",
            attempts: 5,
            cause: GaveUp::Attempts,
            last: Box::new(BackendError::new("postgres", Transience::Transient, "connection refused").into()),
        };
        assert_eq!(
            err.to_string(),
            "submit_task failed after 5 attempts: postgres error (transient): connection refused"
        );
        assert!(std::error::Error::source(&err).is_some());
    }
}
