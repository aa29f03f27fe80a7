//! Tasks, their status and artifacts, and the write requests storage accepts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ArtifactId, Claim, ClaimToken, ContextId, Message, Metadata, Part, TaskId, TaskState};
use crate::error::{Entity, Error, Result};

/// A task as stored and as sent on the wire.
///
/// `artifacts`, `history` and `metadata` are always present (possibly empty), whatever the backend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename = "task", rename_all = "camelCase")]
pub struct Task {
    /// The task's id.
    pub id: TaskId,
    /// The context it belongs to.
    #[serde(alias = "context_id")]
    pub context_id: ContextId,
    /// Current state and when it was entered.
    pub status: TaskStatus,
    /// Results, oldest first.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub artifacts: Vec<Artifact>,
    /// Messages, oldest first.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub history: Vec<Message>,
    /// Free-form metadata.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub metadata: Metadata,
}

/// How [`Storage::submit_task`](crate::Storage::submit_task) treats a message for a task that
/// exists (see [`Task::admit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// The message is already in the history: change nothing.
    Duplicate,
    /// Append it and go back to `submitted` ([`Task::continue_with`]).
    Append,
}

impl Task {
    /// A task created by [`Storage::submit_task`](crate::Storage::submit_task): `submitted` now,
    /// with `message` (already stamped) as its history.
    pub fn submitted(id: TaskId, context_id: ContextId, message: Message) -> Self {
        Self {
            id,
            context_id,
            status: TaskStatus::now(TaskState::Submitted),
            artifacts: Vec::new(),
            history: vec![message],
            metadata: Metadata::new(),
        }
    }

    /// The submit rule for an existing task, which every backend applies inside its own atomic
    /// section: the task must belong to `owner` and to `context_id`
    /// ([`Error::Ownership`]); a message already in its history is a duplicate, even on a
    /// terminal task; otherwise a terminal task refuses it ([`Error::TaskImmutable`]) and any
    /// other accepts it. `stored_owner` is the task's owner.
    pub fn admit(
        &self,
        stored_owner: Option<&str>,
        context_id: ContextId,
        message: &Message,
        owner: Option<&str>,
    ) -> Result<Admission> {
        if stored_owner != owner || self.context_id != context_id {
            return Err(Error::ownership(Entity::Task, self.id));
        }
        if self.has_message(message.message_id) {
            return Ok(Admission::Duplicate);
        }
        if self.status.state.is_terminal() {
            return Err(Error::TaskImmutable { task_id: self.id, state: self.status.state });
        }
        Ok(Admission::Append)
    }

    /// Applies [`Admission::Append`]: appends `message` (already stamped) and goes back to
    /// `submitted`, which drops any claim (a running agent's result is for the old history).
    pub fn continue_with(&mut self, message: Message) {
        self.history.push(message);
        self.status = TaskStatus::now(TaskState::Submitted);
    }

    /// Whether the history already holds a message with this id.
    pub fn has_message(&self, message_id: super::MessageId) -> bool {
        self.history.iter().any(|m| m.message_id == message_id)
    }

    /// Whether an artifact with this id is already stored.
    pub fn has_artifact(&self, artifact_id: ArtifactId) -> bool {
        self.artifacts.iter().any(|a| a.artifact_id == artifact_id)
    }

    /// Applies `update` (which [`TaskUpdate::check`] allowed): sets the state with a fresh
    /// timestamp, appends the messages (stamped with this task's ids) and artifacts it does not
    /// hold yet, and merges the metadata.
    pub fn apply(&mut self, update: &TaskUpdate) {
        self.status = TaskStatus::now(update.state);
        for artifact in &update.artifacts {
            if !self.has_artifact(artifact.artifact_id) {
                self.artifacts.push(artifact.clone());
            }
        }
        for message in &update.messages {
            if !self.has_message(message.message_id) {
                let mut message = message.clone();
                message.task_id = Some(self.id);
                message.context_id = Some(self.context_id);
                self.history.push(message);
            }
        }
        for (key, value) in &update.metadata {
            self.metadata.insert(key.clone(), value.clone());
        }
    }

    /// Whether [`Storage::prune_tasks`](crate::Storage::prune_tasks) may delete it as of `cutoff`
    /// (now less the retention): terminal since `cutoff` or earlier.
    pub fn is_prunable(&self, cutoff: DateTime<Utc>) -> bool {
        self.status.state.is_terminal() && self.status.timestamp <= cutoff
    }

    /// Keeps only the last `history_length` messages; `None` or `Some(0)` keeps them all.
    pub fn truncate_history(&mut self, history_length: Option<usize>) {
        if let Some(keep) = history_length.filter(|&n| n > 0) {
            let drop = self.history.len().saturating_sub(keep);
            self.history.drain(..drop);
        }
    }
}

/// A task's state and the time it was entered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// The state.
    pub state: TaskState,
    /// When the state was written (UTC). Optional in A2A: a status received without one is
    /// taken as of now.
    #[serde(default = "Utc::now")]
    pub timestamp: DateTime<Utc>,
    /// An optional message explaining the state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
}

impl TaskStatus {
    /// `state`, entered now.
    pub fn now(state: TaskState) -> Self {
        Self { state, timestamp: Utc::now(), message: None }
    }
}

/// A result the agent produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// Writing an artifact twice with the same id stores it once.
    #[serde(alias = "artifact_id")]
    pub artifact_id: ArtifactId,
    /// Name, e.g. `result`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Content.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub parts: Vec<Part>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// Streaming: append to an earlier artifact with this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub append: Option<bool>,
    /// Streaming: the last chunk.
    #[serde(default, alias = "last_chunk", skip_serializing_if = "Option::is_none")]
    pub last_chunk: Option<bool>,
    /// URIs of the A2A extensions in use.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "super::null_as_default")]
    pub extensions: Vec<String>,
}

impl Artifact {
    /// An artifact with a fresh id, a name and parts.
    pub fn new(name: impl Into<String>, parts: Vec<Part>) -> Self {
        Self {
            artifact_id: ArtifactId::new(),
            name: Some(name.into()),
            description: None,
            parts,
            metadata: None,
            append: None,
            last_chunk: None,
            extensions: Vec::new(),
        }
    }
}

/// What [`Storage::update_task`](crate::Storage::update_task) writes: a new state, plus
/// artifacts and messages to append and metadata to merge.
///
/// The write is idempotent: messages and artifacts whose ids are already stored are skipped, and
/// replaying an update that was already applied returns the task unchanged.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskUpdate {
    /// The state to set.
    pub state: TaskState,
    /// If set, the update applies only when the task is in this state
    /// ([`Error::StateConflict`](crate::Error::StateConflict) otherwise).
    pub expected: Option<TaskState>,
    /// Artifacts to append.
    pub artifacts: Vec<Artifact>,
    /// Messages to append; storage stamps them with the task's ids.
    pub messages: Vec<Message>,
    /// Keys to merge into the task's metadata (shallow; an empty map changes nothing).
    pub metadata: Metadata,
    /// If not empty, the update applies only when the task's metadata holds all these values
    /// ([`Error::Fenced`](crate::Error::Fenced) otherwise).
    pub expected_metadata: Metadata,
    /// If set, the update applies only while the task is claimed under this token
    /// ([`Error::Fenced`](crate::Error::Fenced) otherwise): a worker writes its result only if
    /// no other run took the task over. See [`Claim`].
    pub claim: Option<ClaimToken>,
}

impl TaskUpdate {
    /// Set the state to `state`, nothing else.
    pub fn to(state: TaskState) -> Self {
        Self {
            state,
            expected: None,
            artifacts: Vec::new(),
            messages: Vec::new(),
            metadata: Metadata::new(),
            expected_metadata: Metadata::new(),
            claim: None,
        }
    }

    /// Apply only while the task is claimed under `token`.
    pub fn fenced_by(mut self, token: ClaimToken) -> Self {
        self.claim = Some(token);
        self
    }

    /// Apply only if the task is currently in `state`.
    pub fn expecting(mut self, state: TaskState) -> Self {
        self.expected = Some(state);
        self
    }

    /// Apply only if the task's metadata holds `key: value`.
    pub fn expecting_metadata(mut self, key: impl Into<String>, value: serde_json::Value) -> Self {
        self.expected_metadata.insert(key.into(), value);
        self
    }

    /// Also append `artifact`.
    pub fn with_artifact(mut self, artifact: Artifact) -> Self {
        self.artifacts.push(artifact);
        self
    }

    /// Also append `message`.
    pub fn with_message(mut self, message: Message) -> Self {
        self.messages.push(message);
        self
    }

    /// Also merge `key: value` into the metadata.
    pub fn with_metadata(mut self, key: impl Into<String>, value: serde_json::Value) -> Self {
        self.metadata.insert(key.into(), value);
        self
    }

    /// How many of the task's last messages [`Storage::update_task`](crate::Storage::update_task)
    /// returns: as many as the update names, at least one.
    pub fn returned_history(&self) -> usize {
        self.messages.len().max(1)
    }

    /// Whether this update may be applied to `task` (holding `claim`) under the state machine:
    /// `Ok(true)` to apply, `Ok(false)` when it is already applied (an idempotent replay: nothing
    /// to do), [`Error::TaskImmutable`] on a terminal task, [`Error::StateConflict`] when
    /// [`TaskUpdate::expected`] does not match, [`Error::Fenced`] when
    /// [`TaskUpdate::expected_metadata`] or [`TaskUpdate::claim`] does not.
    ///
    /// Of `task`'s history and artifacts only membership is looked at (here and in
    /// [`Task::apply`]): a backend may pass a task holding just the stored records whose ids this
    /// update names, never the whole conversation.
    ///
    /// After applying, the backend keeps the claim only if [`Claim::survives`] the new state.
    pub fn check(&self, task: &Task, claim: Option<&Claim>) -> Result<bool> {
        if self.is_applied_to(task) {
            return Ok(false);
        }
        let current = task.status.state;
        if current.is_terminal() {
            return Err(Error::TaskImmutable { task_id: task.id, state: current });
        }
        if let Some(expected) = self.expected.filter(|&expected| expected != current) {
            return Err(Error::StateConflict { task_id: task.id, expected, actual: current });
        }
        if let Some((key, _)) = self.expected_metadata.iter().find(|(k, v)| task.metadata.get(*k) != Some(*v))
        {
            return Err(Error::Fenced { task_id: task.id, key: key.clone() });
        }
        if let Some(token) = self.claim
            && claim.is_none_or(|claim| claim.token != token)
        {
            return Err(Error::Fenced { task_id: task.id, key: "claim".to_owned() });
        }
        Ok(true)
    }

    /// Whether applying this update to `task` would change nothing: the task is already in the
    /// target state and holds every message, artifact and metadata value. Such a replay succeeds
    /// even on a terminal task, which is what makes the write safe to retry.
    pub fn is_applied_to(&self, task: &Task) -> bool {
        task.status.state == self.state
            && self.messages.iter().all(|m| task.has_message(m.message_id))
            && self.artifacts.iter().all(|a| task.has_artifact(a.artifact_id))
            && self.metadata.iter().all(|(k, v)| task.metadata.get(k) == Some(v))
    }
}

/// How [`Storage::submit_task`](crate::Storage::submit_task) treated a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// A new task was created in `submitted`.
    Created,
    /// The message was appended to an existing non-terminal task, which went back to `submitted`.
    Continued,
    /// The message was already in the task's history (a resend or a replay): nothing changed.
    Duplicate,
}

/// The result of [`Storage::submit_task`](crate::Storage::submit_task).
#[derive(Clone, Debug, PartialEq)]
pub struct Submission {
    /// The task after the submit.
    pub task: Task,
    /// What the submit did.
    pub outcome: SubmitOutcome,
}

impl Submission {
    /// The run this submit of `message` calls for: a created or continued task's; a duplicate's
    /// only while the task still waits for that very message's run (a resend healing a first
    /// submit whose scheduling failed). The run's id derives from the message, so scheduling it
    /// again never runs the task twice. `None`: nothing to schedule.
    pub fn run_for(&self, message: &Message) -> Option<super::TaskOperation> {
        let waits_for_it = self.task.status.state == TaskState::Submitted
            && self.task.history.last().is_some_and(|last| last.message_id == message.message_id);
        let needed = match self.outcome {
            SubmitOutcome::Created | SubmitOutcome::Continued => true,
            SubmitOutcome::Duplicate => waits_for_it,
        };
        let params = super::TaskSendParams::new(self.task.id, self.task.context_id, Some(message.clone()));
        needed.then(|| super::TaskOperation::run(params))
    }
}
