//! [`WorkerOptions`] and [`RescueOptions`].

use std::time::Duration;

use crate::error::{Error, Result};
use crate::retry::RetryPolicy;

/// How a [`Worker`](super::Worker) runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WorkerOptions {
    /// Agent runs at once in this process (cancel, pause and resume never wait for a slot).
    pub concurrency: usize,
    /// Retries of each single worker step (the `RETRY__WORKER_*` policy), e.g. loading
    /// referenced tasks or applying a cancel. When they run out on an unavailable backend the
    /// operation is released for a later delivery; it never fails the task.
    pub retry: RetryPolicy,
    /// Calls in all for a cancel (Bindu used 2).
    pub cancel_attempts: u32,
    /// How long a claim of a task lasts unless the heartbeat renews it. Another run takes over a
    /// task only after its lease ran out, so keep it well above the heartbeat and above the
    /// storage outages the worker should ride out without a second run.
    pub lease: Duration,
    /// How often a claimed task's lease is renewed and its delivery kept alive (from a task of
    /// its own, not the agent's). Keep it well below the lease and the scheduler's idle time.
    pub heartbeat: Duration,
    /// How long an operation that could not start (a backend unavailable, the task held by a
    /// live run elsewhere) waits before it is delivered again.
    pub release_delay: Duration,
    /// Longest wait between attempts to store an answer while storage is unavailable (the answer
    /// is held, and written as soon as storage is back).
    pub hold_max_wait: Duration,
    /// A deadline for one agent call: past it the agent is interrupted and its task fails with
    /// reason `timeout`. `None`: no deadline.
    pub agent_timeout: Option<Duration>,
    /// Re-scheduling of tasks left without a run ([`RescueOptions`]); `None`: off.
    pub rescue: Option<RescueOptions>,
    /// Whether the agent may block its thread (a synchronous SDK call). Then, on a multi-threaded
    /// runtime, each agent call runs on its thread taken out of the worker pool
    /// (`tokio::task::block_in_place`), so that the heartbeat — and every other task — goes on
    /// while it blocks; a blocked worker thread would otherwise stall the runtime's timers. Turn
    /// it off only for agents that never block, to save that hand-off. On a current-thread
    /// runtime a blocking agent stalls everything whatever this says: use a multi-threaded
    /// runtime, `spawn_blocking` inside the agent, or a lease longer than the longest block.
    pub agent_may_block: bool,
}

impl Default for WorkerOptions {
    /// 4 runs at once, Bindu's worker policy, a 30 s lease renewed every 5 s, releases for 5 s,
    /// answers held with waits up to 5 s, no agent deadline, no rescue
    /// ([`App::worker`](crate::App::worker) turns rescue on), agents that may block.
    fn default() -> Self {
        Self {
            concurrency: 4,
            retry: RetryPolicy::WORKER,
            cancel_attempts: 2,
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(5),
            release_delay: Duration::from_secs(5),
            hold_max_wait: Duration::from_secs(5),
            agent_timeout: None,
            rescue: None,
            agent_may_block: true,
        }
    }
}

impl WorkerOptions {
    /// Checks that the options can work, naming what is wrong.
    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Err(Error::Invalid { what: "worker options", reason });
        if self.concurrency == 0 || self.cancel_attempts == 0 {
            return invalid("concurrency and cancel_attempts must be at least 1".into());
        }
        if self.heartbeat.is_zero() || self.release_delay.is_zero() || self.hold_max_wait.is_zero() {
            return invalid("heartbeat, release_delay and hold_max_wait must be above zero".into());
        }
        if self.lease < self.heartbeat * 2 {
            return invalid(format!(
                "the lease ({:?}) must be at least twice the heartbeat ({:?})",
                self.lease, self.heartbeat
            ));
        }
        if self.agent_timeout.is_some_and(|timeout| timeout.is_zero()) {
            return invalid("agent_timeout must be above zero (None for no deadline)".into());
        }
        if let Some(rescue) = &self.rescue {
            rescue.validate()?;
        }
        self.retry.validate()
    }
}

/// How a worker re-schedules tasks that were accepted but have no run: `submitted` or `resumed`
/// for longer than `after` (their `run_task` failed, or the run was lost with its scheduler), or
/// `working` with a lease that ended `after` ago (their worker died and the delivery was lost).
///
/// Every `every` it lists up to `batch` such tasks ([`Storage::stuck_tasks`](crate::Storage::stuck_tasks))
/// and enqueues a run for each under [`StuckTask::rescue_operation_id`](crate::StuckTask::rescue_operation_id),
/// so rescuers in several processes schedule one run per stuck task. Claims are
/// compare-and-swap, so a rescue run of a task whose own run shows up after all does nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RescueOptions {
    /// How long a task may wait without a run before it is rescued.
    pub after: Duration,
    /// How often to look.
    pub every: Duration,
    /// Tasks rescued per look at most.
    pub batch: usize,
}

impl Default for RescueOptions {
    /// After 60 s, looking every 15 s, 100 tasks at a time.
    fn default() -> Self {
        Self { after: Duration::from_secs(60), every: Duration::from_secs(15), batch: 100 }
    }
}

impl RescueOptions {
    /// Checks that the options can work.
    pub fn validate(&self) -> Result<()> {
        if self.every.is_zero() || self.batch == 0 {
            return Err(Error::Invalid {
                what: "rescue options",
                reason: "every must be above zero and batch at least 1".into(),
            });
        }
        Ok(())
    }
}
