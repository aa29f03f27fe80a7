//! What a scheduler carries: run, cancel, pause and resume, each with its parameters.

use serde::{Deserialize, Serialize};

use super::{ContextId, Message, Metadata, OperationId, TaskId};

/// Parameters of a run: which task, and the message that caused it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSendParams {
    /// The task to run.
    #[serde(alias = "task_id")]
    pub task_id: TaskId,
    /// Its context.
    #[serde(alias = "context_id")]
    pub context_id: ContextId,
    /// The message that caused the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    /// How much history the client wants back (not used by the worker).
    #[serde(default, alias = "history_length", skip_serializing_if = "Option::is_none")]
    pub history_length: Option<u32>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

impl TaskSendParams {
    /// A run of `task_id` in `context_id`, caused by `message`.
    pub fn new(task_id: TaskId, context_id: ContextId, message: Option<Message>) -> Self {
        Self { task_id, context_id, message, history_length: None, metadata: None }
    }

    /// The idempotency key of this run: derived from the task and message ids, so scheduling the
    /// same message twice delivers one run. Without a message it is random.
    pub fn operation_id(&self) -> OperationId {
        match &self.message {
            Some(message) => OperationId::for_message(self.task_id, message.message_id),
            None => OperationId::new(),
        }
    }
}

/// Parameters naming a task (cancel, pause, resume).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskIdParams {
    /// The task.
    #[serde(alias = "task_id")]
    pub task_id: TaskId,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

impl TaskIdParams {
    /// Names `task_id`.
    pub fn new(task_id: TaskId) -> Self {
        Self { task_id, metadata: None }
    }
}

/// The four operations a scheduler delivers to workers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "operation", content = "params", rename_all = "lowercase")]
pub enum Action {
    /// Run the agent on the task.
    Run(TaskSendParams),
    /// Cancel the task, interrupting a running agent.
    Cancel(TaskIdParams),
    /// Pause the task, keeping its progress.
    Pause(TaskIdParams),
    /// Resume a paused task.
    Resume(TaskIdParams),
}

impl Action {
    /// The task the operation is about.
    pub fn task_id(&self) -> TaskId {
        match self {
            Self::Run(params) => params.task_id,
            Self::Cancel(params) | Self::Pause(params) | Self::Resume(params) => params.task_id,
        }
    }

    /// `run`, `cancel`, `pause` or `resume`.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Run(_) => "run",
            Self::Cancel(_) => "cancel",
            Self::Pause(_) => "pause",
            Self::Resume(_) => "resume",
        }
    }
}

/// One scheduled operation: its idempotency key, the action, and the W3C trace context of the
/// caller so a worker can continue the trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskOperation {
    /// The enqueue's idempotency key.
    pub id: OperationId,
    /// What to do.
    #[serde(flatten)]
    pub action: Action,
    /// W3C `traceparent` of the enqueuing span, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl TaskOperation {
    /// `action` under the key `id`.
    pub fn new(id: OperationId, action: Action) -> Self {
        Self { id, action, traceparent: None }
    }
}
