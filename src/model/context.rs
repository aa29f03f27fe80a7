//! Contexts: conversations that group tasks.

use serde::{Deserialize, Serialize};

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
