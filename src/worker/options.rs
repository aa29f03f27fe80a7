//! [`WorkerOptions`].

use std::time::Duration;

use crate::retry::RetryPolicy;

/// How a [`Worker`](super::Worker) runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WorkerOptions {
    /// Agent runs at once in this process (cancel, pause and resume never wait for a slot).
    pub concurrency: usize,
    /// Retries of each worker step (the `RETRY__WORKER_*` policy): loading and claiming the task
    /// before the agent starts, and the idempotent write of its result after.
    pub retry: RetryPolicy,
    /// Calls in all for a cancel (Bindu used 2).
    pub cancel_attempts: u32,
    /// How often a running task tells the scheduler it is alive and checks storage for a cancel,
    /// pause or takeover by another run. Keep it below the scheduler's redelivery idle time.
    pub heartbeat: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            retry: RetryPolicy::WORKER,
            cancel_attempts: 2,
            heartbeat: Duration::from_secs(5),
        }
    }
}
