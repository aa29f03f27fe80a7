//! Push notifications that were not delivered, kept so that an operator can see and redeliver
//! them ([`Storage::failed_notifications`](crate::Storage::failed_notifications)).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ContextId, TaskId, TaskStatus};

/// Why a notification was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// Every attempt the retry policy allows failed with a retryable error.
    Exhausted,
    /// The webhook refused it for good (e.g. 400, 401, 404); it was not retried.
    Rejected,
    /// The stored config cannot be used: not an http(s) URL, or a token that is no header value.
    InvalidConfig,
    /// The task's webhook config could not be read from storage.
    Storage,
    /// The notifier's backlog was full (or it was shut down); the state was never queued.
    Dropped,
    /// The webhook's address is not public and not allowed (`WEBHOOK_ALLOWED_NETWORKS`).
    Forbidden,
}

impl FailureReason {
    /// The reason as a metric label: `exhausted`, `rejected`, `invalid_config`, `storage`,
    /// `dropped`, `forbidden`.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Exhausted => "exhausted",
            Self::Rejected => "rejected",
            Self::InvalidConfig => "invalid_config",
            Self::Storage => "storage",
            Self::Dropped => "dropped",
            Self::Forbidden => "forbidden",
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Exhausted => "exhausted",
            Self::Rejected => "rejected",
            Self::InvalidConfig => "invalid config",
            Self::Storage => "storage",
            Self::Dropped => "dropped",
            Self::Forbidden => "forbidden address",
        })
    }
}

/// A notification that was not delivered: the state it reported (enough to send it again,
/// byte for byte, under the same idempotency key) and how it failed. Holds the webhook's host
/// only, never its URL or token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedNotification {
    /// The notification's id (its `Idempotency-Key`).
    pub notification_id: Uuid,
    /// The task it was about.
    pub task_id: TaskId,
    /// The task's context.
    pub context_id: ContextId,
    /// The status it reported.
    pub status: TaskStatus,
    /// `host[:port]` of the webhook, when one was looked up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_host: Option<String>,
    /// HTTP requests made.
    pub attempts: u32,
    /// Why it failed.
    pub reason: FailureReason,
    /// The last error, free of secrets.
    pub error: String,
    /// When the notifier gave up.
    pub failed_at: DateTime<Utc>,
}
