//! Users' feedback on tasks.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Metadata, TaskId};

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
