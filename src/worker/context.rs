//! What every handler of a worker shares: the backends, the agent, the options, the running
//! agents' interrupt tokens and the counters.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::{Agent, TaskListener, WorkerOptions, WorkerStats};
use crate::error::Result;
use crate::model::{Task, TaskId};
use crate::retry::{Call, RetryPolicy, execute_with_retry};
use crate::scheduler::{Delivery, Scheduler};
use crate::storage::Storage;

/// Metadata key holding the id of the run operation that claimed a task: the fencing token of
/// the result write.
pub const RUN_KEY: &str = "bindu.runId";
/// Metadata key holding the state a paused task was paused from.
pub const PAUSED_FROM_KEY: &str = "bindu.pausedFrom";

/// How a handled operation ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Disposition {
    /// Its effect is stored (or there was nothing to do): acknowledge it.
    Ack,
    /// Its effect could not be stored: leave it unacknowledged so it is delivered again.
    Leave,
}

pub(crate) struct Context {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) scheduler: Arc<dyn Scheduler>,
    pub(crate) agent: Arc<dyn Agent>,
    pub(crate) options: WorkerOptions,
    pub(crate) listener: Option<Arc<dyn TaskListener>>,
    pub(crate) stats: Arc<WorkerStats>,
    running: Mutex<HashMap<TaskId, (u64, CancellationToken)>>,
    runs_started: AtomicU64,
}

impl Context {
    pub(crate) fn new(
        storage: Arc<dyn Storage>,
        scheduler: Arc<dyn Scheduler>,
        agent: Arc<dyn Agent>,
        options: WorkerOptions,
        listener: Option<Arc<dyn TaskListener>>,
    ) -> Self {
        Self {
            storage,
            scheduler,
            agent,
            options,
            listener,
            stats: Arc::default(),
            running: Mutex::default(),
            runs_started: AtomicU64::new(0),
        }
    }

    /// One worker step under the worker policy.
    pub(crate) async fn step<T, F, Fut>(&self, call: Call, operation: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.step_with(&self.options.retry, call, operation).await
    }

    /// One step under `policy`.
    pub(crate) async fn step_with<T, F, Fut>(
        &self,
        policy: &RetryPolicy,
        call: Call,
        operation: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        execute_with_retry(policy, call, operation).await
    }

    /// Tells the listener about a stored state.
    pub(crate) fn stored(&self, task: &Task) {
        if let Some(listener) = &self.listener {
            listener.task_changed(task);
        }
    }

    /// Settles a delivery: acknowledged once, or left for redelivery.
    pub(crate) async fn settle(&self, delivery: &Delivery, disposition: Disposition) {
        match disposition {
            Disposition::Ack => {
                match self.step(Call::idempotent("ack"), || delivery.ack()).await {
                    Ok(()) => WorkerStats::bump(&self.stats.acknowledged),
                    // The effect is stored; a redelivery will find nothing to do.
                    Err(err) => {
                        tracing::warn!(operation = %delivery.operation().id, error = %err, "could not acknowledge")
                    }
                }
            }
            Disposition::Leave => WorkerStats::bump(&self.stats.left_for_redelivery),
        }
    }

    /// Registers a running agent: the token interrupts it, the number identifies this run.
    pub(crate) fn start_run(&self, task_id: TaskId) -> (u64, CancellationToken) {
        let run = self.runs_started.fetch_add(1, Ordering::Relaxed);
        let token = CancellationToken::new();
        self.lock_running().insert(task_id, (run, token.clone()));
        (run, token)
    }

    /// Unregisters run `run` of `task_id` (unless a newer run replaced it).
    pub(crate) fn end_run(&self, task_id: TaskId, run: u64) {
        let mut running = self.lock_running();
        if running.get(&task_id).is_some_and(|(current, _)| *current == run) {
            running.remove(&task_id);
        }
    }

    /// Interrupts the agent running `task_id` in this process, if any.
    pub(crate) fn interrupt(&self, task_id: TaskId) {
        if let Some((_, token)) = self.lock_running().remove(&task_id) {
            token.cancel();
        }
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, HashMap<TaskId, (u64, CancellationToken)>> {
        self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
