//! A stored task: the task itself, kept whole, with an index of its message ids so that a write
//! costs what it appends however long the conversation is.

use std::collections::HashMap;

use crate::model::{Claim, Message, MessageId, Task};

#[derive(Debug)]
pub(super) struct StoredTask {
    /// The task; its history only grows, at the end.
    pub(super) task: Task,
    pub(super) owner: Option<String>,
    pub(super) created: u64,
    /// Held only while the task is `working` (see [`Claim`]).
    pub(super) claim: Option<Claim>,
    /// Where each message of the history is: membership and lookup without a scan.
    positions: HashMap<MessageId, usize>,
}

impl StoredTask {
    pub(super) fn new(task: Task, owner: Option<String>, created: u64) -> Self {
        let positions = task.history.iter().enumerate().map(|(at, m)| (m.message_id, at)).collect();
        Self { task, owner, created, claim: None, positions }
    }

    /// Drops the claim when the task left `working`.
    pub(super) fn settle_claim(&mut self) {
        if !Claim::survives(self.task.status.state) {
            self.claim = None;
        }
    }

    /// What the model rules need to decide on a write naming `messages`: the task with, as its
    /// history, only the stored messages among them (in stored order), and every artifact.
    pub(super) fn view<'m>(&self, messages: impl IntoIterator<Item = &'m Message>) -> Task {
        let mut found: Vec<usize> =
            messages.into_iter().filter_map(|m| self.positions.get(&m.message_id).copied()).collect();
        found.sort_unstable();
        found.dedup();
        Task {
            id: self.task.id,
            context_id: self.task.context_id,
            status: self.task.status.clone(),
            artifacts: self.task.artifacts.clone(),
            history: found.into_iter().map(|at| self.task.history[at].clone()).collect(),
            metadata: self.task.metadata.clone(),
        }
    }

    /// Takes over what the model rules did to `view` (made by [`StoredTask::view`], which held
    /// `found` messages and every artifact): its status and metadata, and the records it
    /// appended.
    pub(super) fn absorb(&mut self, mut view: Task, found: usize) {
        let artifacts = self.task.artifacts.len();
        self.task.artifacts.extend(view.artifacts.drain(artifacts..));
        for message in view.history.drain(found..) {
            self.positions.insert(message.message_id, self.task.history.len());
            self.task.history.push(message);
        }
        self.task.status = view.status;
        self.task.metadata = view.metadata;
        self.settle_claim();
    }

    /// A copy of the task holding only its last `history_length` messages (`None` or `Some(0)`:
    /// all of them).
    pub(super) fn copy(&self, history_length: Option<usize>) -> Task {
        let task = &self.task;
        let keep = history_length.filter(|&n| n > 0).unwrap_or(usize::MAX);
        let skip = task.history.len().saturating_sub(keep);
        Task {
            id: task.id,
            context_id: task.context_id,
            status: task.status.clone(),
            artifacts: task.artifacts.clone(),
            history: task.history[skip..].to_vec(),
            metadata: task.metadata.clone(),
        }
    }
}
