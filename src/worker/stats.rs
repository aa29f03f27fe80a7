//! [`WorkerStats`]: what a worker did, for tests, dashboards and the quickstart's summary.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of a worker's outcomes (monotonic).
#[derive(Debug, Default)]
pub struct WorkerStats {
    pub(crate) agent_runs: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) input_required: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) canceled: AtomicU64,
    pub(crate) paused: AtomicU64,
    pub(crate) resumed: AtomicU64,
    pub(crate) skipped: AtomicU64,
    pub(crate) acknowledged: AtomicU64,
    pub(crate) left_for_redelivery: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Times the agent was called.
    pub agent_runs: u64,
    /// Tasks this worker completed.
    pub completed: u64,
    /// Tasks that now wait for input or authentication.
    pub input_required: u64,
    /// Tasks this worker marked failed.
    pub failed: u64,
    /// Tasks the agent rejected.
    pub rejected: u64,
    /// Tasks this worker canceled.
    pub canceled: u64,
    /// Tasks this worker paused.
    pub paused: u64,
    /// Tasks this worker resumed.
    pub resumed: u64,
    /// Operations with nothing to do (task gone, terminal, or run by someone else).
    pub skipped: u64,
    /// Operations acknowledged.
    pub acknowledged: u64,
    /// Operations left unacknowledged so that the scheduler delivers them again.
    pub left_for_redelivery: u64,
}

impl WorkerStats {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            agent_runs: get(&self.agent_runs),
            completed: get(&self.completed),
            input_required: get(&self.input_required),
            failed: get(&self.failed),
            rejected: get(&self.rejected),
            canceled: get(&self.canceled),
            paused: get(&self.paused),
            resumed: get(&self.resumed),
            skipped: get(&self.skipped),
            acknowledged: get(&self.acknowledged),
            left_for_redelivery: get(&self.left_for_redelivery),
        }
    }
}
