//! Contexts, webhook configs, feedback and pagination.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{ContextId, Message, Metadata, TaskId};

/// A context: a conversation that groups tasks, with free-form data and a message log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Context {
    /// The context's id.
    pub context_id: ContextId,
    /// Its tasks, oldest first.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub task_ids: Vec<TaskId>,
    /// Data set by [`Storage::update_context`](crate::Storage::update_context).
    #[serde(default)]
    pub data: Metadata,
    /// Messages appended by [`Storage::append_to_context`](crate::Storage::append_to_context).
    #[serde(default)]
    pub messages: Vec<Message>,
}

/// One row of [`Storage::list_contexts`](crate::Storage::list_contexts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextSummary {
    /// The context's id.
    pub context_id: ContextId,
    /// How many tasks it holds.
    pub task_count: u64,
    /// Its tasks, oldest first.
    pub task_ids: Vec<TaskId>,
}

/// A webhook that receives a task's status updates (A2A `PushNotificationConfig`).
///
/// `Debug` never shows the token, nor the URL's path and query (they often hold secrets).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushNotificationConfig {
    /// The config's id.
    pub id: Uuid,
    /// Where updates are POSTed (http or https).
    pub url: String,
    /// Sent as a bearer token when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// An A2A security scheme, kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Value>,
}

impl PushNotificationConfig {
    /// A config with a fresh id for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self { id: Uuid::new_v4(), url: url.into(), token: None, authentication: None }
    }
}

impl fmt::Debug for PushNotificationConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushNotificationConfig")
            .field("id", &self.id)
            .field("url", &crate::redact::origin(&self.url))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("authentication", &self.authentication.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A user's feedback on a task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Feedback {
    /// Storing feedback twice with the same id keeps one copy.
    pub id: Uuid,
    /// The task it is about.
    #[serde(alias = "task_id")]
    pub task_id: TaskId,
    /// The text.
    pub feedback: String,
    /// An optional rating (Bindu uses 1–5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<i32>,
    /// Free-form metadata.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub metadata: Metadata,
    /// When it was given.
    pub timestamp: DateTime<Utc>,
}

impl Feedback {
    /// Feedback with a fresh id, given now.
    pub fn new(task_id: TaskId, feedback: impl Into<String>, rating: Option<i32>) -> Self {
        Self {
            id: Uuid::new_v4(),
            task_id,
            feedback: feedback.into(),
            rating,
            metadata: Metadata::new(),
            timestamp: Utc::now(),
        }
    }
}

/// A window over a list. Every list is ordered oldest first (by creation), so pages are stable
/// while items are only added.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// How many items to skip.
    pub offset: usize,
    /// How many items at most; `None` for all, `Some(0)` for none.
    pub limit: Option<usize>,
}

impl Page {
    /// Everything.
    pub const ALL: Page = Page { offset: 0, limit: None };

    /// At most `limit` items after skipping `offset`.
    pub const fn new(offset: usize, limit: usize) -> Self {
        Self { offset, limit: Some(limit) }
    }

    /// The first `limit` items.
    pub const fn first(limit: usize) -> Self {
        Self { offset: 0, limit: Some(limit) }
    }

    /// Applies the window to an iterator that is already in order.
    pub fn apply<T>(self, items: impl IntoIterator<Item = T>) -> Vec<T> {
        let items = items.into_iter().skip(self.offset);
        match self.limit {
            Some(limit) => items.take(limit).collect(),
            None => items.collect(),
        }
    }
}
