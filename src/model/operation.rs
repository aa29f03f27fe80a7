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

/// The lane an operation travels in. Control operations (cancel, pause, resume) have a lane of
/// their own, so that a worker whose run slots are all busy still reads them at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Runs of the agent.
    Runs,
    /// Cancel, pause and resume.
    Control,
}

impl Lane {
    /// `runs` or `control`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Runs => "runs",
            Self::Control => "control",
        }
    }
}

/// Which lanes a stream of deliveries reads (see [`Scheduler::receive`](crate::Scheduler::receive)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lanes {
    /// Every operation.
    All,
    /// Runs only.
    Runs,
    /// Cancel, pause and resume only.
    Control,
}

impl Lanes {
    /// Whether an operation in `lane` is read.
    pub const fn includes(self, lane: Lane) -> bool {
        matches!((self, lane), (Self::All, _) | (Self::Runs, Lane::Runs) | (Self::Control, Lane::Control))
    }

    /// The lanes read, in the order they are served (control first).
    pub fn lanes(self) -> impl Iterator<Item = Lane> {
        [Lane::Control, Lane::Runs].into_iter().filter(move |lane| self.includes(*lane))
    }
}

impl Action {
    /// The lane the operation travels in.
    pub const fn lane(&self) -> Lane {
        match self {
            Self::Run(_) => Lane::Runs,
            Self::Cancel(_) | Self::Pause(_) | Self::Resume(_) => Lane::Control,
        }
    }

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

    /// A run under its idempotency key ([`TaskSendParams::operation_id`]): scheduling the same
    /// message twice delivers one run. The operation carries ids only — the message is left out
    /// (it is in storage, where the worker reads the task it claims), so queues stay small.
    pub fn run(mut params: TaskSendParams) -> Self {
        let id = params.operation_id();
        params.message = None;
        Self::new(id, Action::Run(params))
    }

    /// A cancel with a fresh id.
    pub fn cancel(params: TaskIdParams) -> Self {
        Self::new(OperationId::new(), Action::Cancel(params))
    }

    /// A pause with a fresh id.
    pub fn pause(params: TaskIdParams) -> Self {
        Self::new(OperationId::new(), Action::Pause(params))
    }

    /// A resume with a fresh id.
    pub fn resume(params: TaskIdParams) -> Self {
        Self::new(OperationId::new(), Action::Resume(params))
    }

    /// The lane it travels in.
    pub const fn lane(&self) -> Lane {
        self.action.lane()
    }
}
