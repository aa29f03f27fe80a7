//! What every handler of a worker shares: the backends, the agent, the options, the running
//! agents' interrupt tokens and the counters.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::stats::Stat;
use super::{Agent, Finisher, TaskListener, WorkerOptions, WorkerStats};
use crate::error::Result;
use crate::model::{OperationId, Task, TaskId};
use crate::retry::{Call, RetryPolicy, execute_with_retry};
use crate::scheduler::{Delivery, Scheduler};
use crate::storage::Storage;

/// Metadata key holding the state a paused task was paused from.
pub const PAUSED_FROM_KEY: &str = "bindu.pausedFrom";
/// Metadata key holding why a task failed, in a stable word a client can test: `agent_error`,
/// `agent_failed` (the agent answered [`AgentOutput::Failed`](super::AgentOutput::Failed)),
/// `agent_panic`, `timeout`, `dead_lettered`, `invalid_result`, `invalid_task`. The failure's
/// message is as stable: what went wrong in detail is logged with the task id.
pub const FAILURE_KEY: &str = "bindu.failureReason";

/// How a handled operation ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Disposition {
    /// Its effect is stored (or there was nothing to do): acknowledge it.
    Ack,
    /// Its effect is stored and it was acknowledged with it ([`Finisher`]): nothing left to do.
    Acknowledged,
    /// It could not start (something it needs is unavailable, or the task is held elsewhere):
    /// hand it back, to be delivered again after the delay, not counted as a delivery.
    Release(Duration),
    /// It can never succeed: record it in the dead-letter place with the reason.
    DeadLetter(String),
    /// Stopped by a shutdown: leave it unsettled, so it is delivered again.
    Leave,
}

pub(crate) struct Context {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) scheduler: Arc<dyn Scheduler>,
    pub(crate) agent: Arc<dyn Agent>,
    pub(crate) options: WorkerOptions,
    pub(crate) listener: Option<Arc<dyn TaskListener>>,
    /// Stores a run's answer and acknowledges its delivery in one transaction, where it can.
    pub(crate) finisher: Option<Arc<dyn Finisher>>,
    pub(crate) stats: Arc<WorkerStats>,
    /// The `worker` label of its metrics.
    pub(crate) name: &'static str,
    /// Fired when the worker goes away without finishing (a shutdown past its grace, a dropped
    /// handle): running agents are dropped at once, even those driven off the worker pool, which
    /// a task abort would not reach.
    pub(crate) halt: CancellationToken,
    running: Mutex<HashMap<TaskId, (u64, CancellationToken)>>,
    runs_started: AtomicU64,
    /// Rescue runs this worker enqueued lately, oldest first: a task still stuck since the same
    /// moment is not rescued again (the scheduler would drop the duplicate anyway).
    rescues: Mutex<std::collections::VecDeque<OperationId>>,
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
            finisher: None,
            stats: Arc::default(),
            name: "default",
            running: Mutex::default(),
            runs_started: AtomicU64::new(0),
            rescues: Mutex::default(),
            halt: CancellationToken::new(),
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

    /// Counts one `stat`, in the worker's counters and metrics.
    pub(crate) fn count(&self, stat: Stat) {
        self.stats.bump(stat, self.name);
    }

    /// Tells the listener about a stored state.
    pub(crate) fn stored(&self, task: &Task) {
        if let Some(listener) = &self.listener {
            listener.task_changed(task);
        }
    }

    /// Settles a delivery as `disposition` says, under the worker policy. A settlement that
    /// cannot be stored leaves the delivery to come back after its idle time, which is safe: the
    /// next delivery finds the effect stored, or the task still claimable.
    pub(crate) async fn settle(&self, delivery: &Delivery, disposition: Disposition) {
        let operation = delivery.operation().id;
        let (what, stat, settled) = match disposition {
            Disposition::Ack => {
                ("acknowledge", Stat::Acknowledged, self.step(Call::ACK, || delivery.ack()).await)
            }
            Disposition::Release(delay) => {
                ("release", Stat::Released, self.step(Call::RELEASE, || delivery.release(delay)).await)
            }
            Disposition::DeadLetter(reason) => {
                tracing::error!(%operation, reason, "dead-lettering the operation");
                let dead = self.step(Call::DEAD_LETTER, || delivery.dead_letter(&reason)).await;
                ("dead-letter", Stat::DeadLettered, dead)
            }
            Disposition::Acknowledged => {
                self.count(Stat::Acknowledged);
                return;
            }
            Disposition::Leave => {
                self.count(Stat::LeftForRedelivery);
                return;
            }
        };
        match settled {
            Ok(()) => self.count(stat),
            Err(err) => {
                tracing::warn!(%operation, error = %err, "could not {what} the operation; it comes back after its idle time")
            }
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

    /// Whether this worker enqueued rescue run `id` lately.
    pub(crate) fn rescued_before(&self, id: OperationId) -> bool {
        self.rescues.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).contains(&id)
    }

    /// Remembers rescue run `id` (the last few thousand).
    pub(crate) fn remember_rescue(&self, id: OperationId) {
        let mut rescues = self.rescues.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if rescues.len() >= 4096 {
            rescues.pop_front();
        }
        rescues.push_back(id);
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, HashMap<TaskId, (u64, CancellationToken)>> {
        self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
