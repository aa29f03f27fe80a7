//! What an operator sees of a scheduler: its dead letters and the state of its queue.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{OperationId, TaskId, TaskOperation};

/// The handle of a dead letter in its scheduler, as [`Scheduler::dead_letters`] lists it and
/// [`Scheduler::replay_dead_letter`] and [`Scheduler::discard_dead_letter`] take it: the
/// operation id on memory and PostgreSQL, the dead-letter stream's entry id on Redis (so that
/// an entry whose operation cannot be read has one too).
///
/// [`Scheduler::dead_letters`]: crate::Scheduler::dead_letters
/// [`Scheduler::replay_dead_letter`]: crate::Scheduler::replay_dead_letter
/// [`Scheduler::discard_dead_letter`]: crate::Scheduler::discard_dead_letter
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeadLetterId(pub String);

impl DeadLetterId {
    /// The handle as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeadLetterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for DeadLetterId {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}

impl From<OperationId> for DeadLetterId {
    fn from(id: OperationId) -> Self {
        Self(id.to_string())
    }
}

/// An operation its scheduler will not deliver again unless an operator
/// [replays](crate::Scheduler::replay_dead_letter) it: one delivered more often than the limit
/// without being settled, one its receiver dead-lettered, one that could not be read.
#[derive(Clone, Debug, PartialEq)]
pub struct DeadLetter {
    /// Its handle in the scheduler.
    pub id: DeadLetterId,
    /// The operation, when it can be read.
    pub operation: Option<TaskOperation>,
    /// The task it is about, when known.
    pub task_id: Option<TaskId>,
    /// How many times it was delivered before it died.
    pub deliveries: u32,
    /// Why it died: the receiver's reason, the delivery limit, or why it could not be read.
    pub last_error: String,
    /// When it died.
    pub dead_at: DateTime<Utc>,
}

/// The state of a scheduler's queue at one moment ([`Scheduler::stats`](crate::Scheduler::stats)),
/// for health checks and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Runs waiting for a receiver: queued, released for later, or left by a receiver whose hold
    /// ran out.
    pub waiting_runs: u64,
    /// Cancels, pauses and resumes waiting for a receiver.
    pub waiting_control: u64,
    /// Operations delivered and not settled yet.
    pub in_flight: u64,
    /// How long the oldest operation that could be delivered now has waited; `None` when there
    /// is none. A growing age means no receiver is taking work.
    pub oldest_waiting_age: Option<Duration>,
    /// Dead letters kept.
    pub dead_letters: u64,
}

impl QueueStats {
    /// Operations waiting, in both lanes.
    pub fn waiting(&self) -> u64 {
        self.waiting_runs + self.waiting_control
    }
}
