//! [`TaskListener`]: told about every state a worker writes, e.g. to send push notifications.

use crate::model::Task;

/// Receives each task state a worker stored. Called on the worker's path, so it must return at
/// once (hand slow work, such as HTTP calls, to a background task) and must not fail the task.
pub trait TaskListener: Send + Sync {
    /// `task` was just stored in a new state.
    fn task_changed(&self, task: &Task);
}
