//! [`Hub`]: hands each task state the worker stores to the requests watching that task, so that
//! blocking sends, cancels and SSE streams learn of it at once instead of polling storage.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bindu::worker::TaskListener;
use bindu::{Task, TaskId};
use tokio::sync::broadcast;

/// States kept for a watcher that is slow to read; one that falls further behind reloads the
/// task from storage.
const BACKLOG: usize = 64;

/// A [`TaskListener`] that broadcasts stored states to the watchers of each task. Only watched
/// tasks cost anything: the others are skipped after one map look-up.
#[derive(Debug, Default)]
pub struct Hub {
    watched: Mutex<HashMap<TaskId, broadcast::Sender<Arc<Task>>>>,
}

impl Hub {
    /// Starts watching `task_id`: every state stored from now on is seen by the [`Watch`].
    pub fn watch(self: &Arc<Self>, task_id: TaskId) -> Watch {
        let updates = self.lock().entry(task_id).or_insert_with(|| broadcast::channel(BACKLOG).0).subscribe();
        Watch { hub: Arc::clone(self), task_id, updates }
    }

    /// Tells the watchers of `task.id` about `task` (also used for the states the server itself
    /// stores, such as `submitted`).
    pub fn publish(&self, task: &Task) {
        if let Some(sender) = self.lock().get(&task.id) {
            // No receiver left means the last watch is being dropped: nothing to tell.
            let _ = sender.send(Arc::new(task.clone()));
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<TaskId, broadcast::Sender<Arc<Task>>>> {
        self.watched.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl TaskListener for Hub {
    fn task_changed(&self, task: &Task) {
        self.publish(task);
    }
}

/// One request's view of a task's stored states.
#[derive(Debug)]
pub struct Watch {
    hub: Arc<Hub>,
    task_id: TaskId,
    updates: broadcast::Receiver<Arc<Task>>,
}

impl Watch {
    /// The next state stored, or `None` when some were missed (this watcher fell behind): the
    /// caller then reads the task from storage.
    pub async fn next(&mut self) -> Option<Arc<Task>> {
        self.updates.recv().await.ok()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut watched = self.hub.lock();
        // This watch's receiver still counts: it is the last one when the count is 1.
        if watched.get(&self.task_id).is_some_and(|sender| sender.receiver_count() <= 1) {
            watched.remove(&self.task_id);
        }
    }
}

/// Several listeners as one: the worker takes a single [`TaskListener`].
pub struct Listeners(pub Vec<Arc<dyn TaskListener>>);

impl TaskListener for Listeners {
    fn task_changed(&self, task: &Task) {
        for listener in &self.0 {
            listener.task_changed(task);
        }
    }
}
