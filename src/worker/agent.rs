//! The [`Agent`] trait: the user's code that a worker runs on a task.

use std::fmt;
use std::future::Future;

use async_trait::async_trait;

use crate::error::BoxError;
use crate::model::{Artifact, Message, Part, Task};

/// What an agent is given: the task (as stored when the run started) and the conversation to
/// answer — the histories of the tasks it references (same owner only), then its own.
#[derive(Clone, Debug)]
pub struct AgentInput {
    /// The task being run.
    pub task: Task,
    /// The messages to answer, oldest first.
    pub history: Vec<Message>,
}

/// What an agent produced.
#[derive(Clone, Debug, PartialEq)]
pub enum AgentOutput {
    /// Done: the task becomes `completed` with these messages and artifacts.
    Completed {
        /// Agent messages to append.
        messages: Vec<Message>,
        /// Results to append.
        artifacts: Vec<Artifact>,
    },
    /// The agent needs more from the user: the task becomes `input-required`.
    InputRequired(Message),
    /// The agent needs the user to authenticate: the task becomes `auth-required`.
    AuthRequired(Message),
    /// The agent refuses the task: it becomes `rejected`.
    Rejected(Message),
    /// The agent could not do the task and says why: it becomes `failed` with this message
    /// (reason `agent_failed`). The message is what the client reads, so it is the agent's to
    /// word; an `Err` from [`Agent::run`] is logged instead, and the client reads a fixed text.
    Failed(Message),
}

impl AgentOutput {
    /// `completed` with one agent message and one `result` artifact, both holding `text`.
    pub fn text(text: impl Into<String>) -> Self {
        let text = text.into();
        Self::Completed {
            messages: vec![Message::agent_text(text.clone())],
            artifacts: vec![Artifact::new("result", vec![Part::text(text)])],
        }
    }
}

/// The error an agent reports: the task becomes `failed` with reason `agent_error` and a fixed
/// text, and the error is logged with the task id (it may hold a driver's text or a retry chain,
/// which clients must not see). To tell the client why, answer [`AgentOutput::Failed`].
pub type AgentError = BoxError;

/// The user's agent. A worker calls [`Agent::run`] at most once per claim of a task; it is never
/// called again because a later storage write failed. A run may be interrupted (its future
/// dropped) when the task is canceled or paused, or the worker shuts down.
#[async_trait]
pub trait Agent: Send + Sync {
    /// Produces the agent's answer for `input`.
    async fn run(&self, input: AgentInput) -> Result<AgentOutput, AgentError>;
}

/// An [`Agent`] from an async closure.
///
/// ```
/// use std::sync::Arc;
/// use bindu::worker::{Agent, AgentError, AgentInput, AgentOutput, FnAgent};
/// let echo = FnAgent::new(|input: AgentInput| async move {
///     Ok::<_, AgentError>(AgentOutput::text(input.history.last().map(|m| m.text()).unwrap_or_default()))
/// });
/// let agent: Arc<dyn Agent> = Arc::new(echo);
/// # let _ = agent;
/// ```
pub struct FnAgent<F>(F);

impl<F> FnAgent<F> {
    /// Wraps `f`.
    pub fn new(f: F) -> Self {
        Self(f)
    }
}

impl<F> fmt::Debug for FnAgent<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnAgent")
    }
}

#[async_trait]
impl<F, Fut> Agent for FnAgent<F>
where
    F: Fn(AgentInput) -> Fut + Send + Sync,
    Fut: Future<Output = Result<AgentOutput, AgentError>> + Send,
{
    async fn run(&self, input: AgentInput) -> Result<AgentOutput, AgentError> {
        (self.0)(input).await
    }
}
