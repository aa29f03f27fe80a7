//! A task's updates as a stream: the task first, then a status or artifact update for each change
//! the worker stores, ending with a final status update once the task is done or needs input.

use std::collections::{HashSet, VecDeque};
use std::pin::Pin;

use bindu::{Artifact, ArtifactId, ContextId, MessageId, Role, Task, TaskId, TaskState, TaskStatus};
use futures_core::Stream;
use futures_util::stream;

use super::service::{Failure, Follower};

/// One event of a task's stream, in the crate's model; each protocol version encodes it.
#[derive(Clone, Debug)]
pub enum Update {
    /// The task as it is when the stream starts.
    Task(Task),
    /// The task entered a state. `status.message` is the agent message stored with it, if any.
    Status {
        /// The task.
        task_id: TaskId,
        /// Its context.
        context_id: ContextId,
        /// The new status.
        status: TaskStatus,
        /// The last event of the stream: the task is done or waits for the client.
        last: bool,
    },
    /// The task gained an artifact.
    Artifact {
        /// The task.
        task_id: TaskId,
        /// Its context.
        context_id: ContextId,
        /// The artifact.
        artifact: Artifact,
    },
}

/// The events of a stream; an error ends it.
pub type Updates = Pin<Box<dyn Stream<Item = Result<Update, Failure>> + Send>>;

/// Whether a task in `state` is done for now: terminal, or waiting for the client (or paused).
/// A blocking send returns there, and a stream ends there.
pub fn settled(state: TaskState) -> bool {
    state.is_terminal()
        || matches!(
            state,
            TaskState::InputRequired
                | TaskState::AuthRequired
                | TaskState::PaymentRequired
                | TaskState::TrustVerificationRequired
                | TaskState::Suspended
        )
}

/// The stream of `task`, told of its next states by `follower`.
pub fn follow(task: Task, follower: Follower) -> Updates {
    let mut changes = Changes::since(&task);
    let mut pending = VecDeque::from([Update::Task(task.clone())]);
    if settled(task.status.state) {
        // Nothing will follow: say so, so that every stream ends with a final status update.
        let said = task.history.iter().rev().find(|m| m.role != Role::User).cloned();
        pending.push_back(changes.status(&task, said));
    }
    let state = Following { follower, changes, pending, current: task };
    Box::pin(stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        loop {
            if let Some(update) = state.pending.pop_front() {
                return Some((Ok(update), Some(state)));
            }
            if state.changes.ended {
                return None;
            }
            match state.follower.next_state(&state.current).await {
                Ok(task) => {
                    state.pending.extend(state.changes.between(&task));
                    state.current = task;
                }
                Err(failure) => return Some((Err(failure), None)),
            }
        }
    }))
}

struct Following {
    follower: Follower,
    changes: Changes,
    pending: VecDeque<Update>,
    current: Task,
}

/// What a stream has told so far, to turn stored states into the updates between them.
struct Changes {
    artifacts: HashSet<ArtifactId>,
    messages: HashSet<MessageId>,
    ended: bool,
}

impl Changes {
    fn since(task: &Task) -> Self {
        Self {
            artifacts: task.artifacts.iter().map(|a| a.artifact_id).collect(),
            messages: task.history.iter().map(|m| m.message_id).collect(),
            ended: false,
        }
    }

    /// The new artifacts, then the new status (carrying the newest agent message stored with it).
    fn between(&mut self, task: &Task) -> Vec<Update> {
        let mut updates: Vec<Update> = task
            .artifacts
            .iter()
            .filter(|artifact| self.artifacts.insert(artifact.artifact_id))
            .map(|artifact| Update::Artifact {
                task_id: task.id,
                context_id: task.context_id,
                artifact: artifact.clone(),
            })
            .collect();
        let said = task
            .history
            .iter()
            .filter(|m| self.messages.insert(m.message_id))
            .filter(|m| m.role != Role::User)
            .last();
        updates.push(self.status(task, said.cloned()));
        updates
    }

    fn status(&mut self, task: &Task, said: Option<bindu::Message>) -> Update {
        let mut status = task.status.clone();
        if status.message.is_none() {
            status.message = said;
        }
        let last = settled(status.state);
        self.ended |= last;
        Update::Status { task_id: task.id, context_id: task.context_id, status, last }
    }
}
