//! [`WorkerStats`]: what a worker did, for tests, dashboards and the quickstart's summary.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// Counters of a worker's outcomes (monotonic).
        #[derive(Debug, Default)]
        pub struct WorkerStats {
            $(pub(crate) $name: AtomicU64,)*
        }

        /// A copy of the counters at one moment.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct StatsSnapshot {
            $($(#[$doc])* pub $name: u64,)*
        }

        impl WorkerStats {
            /// The counters now.
            pub fn snapshot(&self) -> StatsSnapshot {
                StatsSnapshot { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }
    };
}

counters! {
    /// Times the agent was called.
    agent_runs,
    /// Tasks this worker completed.
    completed,
    /// Tasks that now wait for input or authentication.
    input_required,
    /// Tasks this worker marked failed (agent errors, timeouts, dead letters, invalid results).
    failed,
    /// Tasks the agent rejected.
    rejected,
    /// Tasks this worker canceled.
    canceled,
    /// Tasks this worker paused.
    paused,
    /// Tasks this worker resumed.
    resumed,
    /// Operations with nothing to do (task gone, terminal, or run by someone else).
    skipped,
    /// Operations acknowledged.
    acknowledged,
    /// Operations handed back to be delivered later because something they need was unavailable
    /// or the task was held by a live run elsewhere (not counted as deliveries).
    released,
    /// Claims taken over from a run whose lease had run out.
    takeovers,
    /// Runs stopped because their claim was lost (canceled, paused, continued, taken over).
    claims_lost,
    /// Answers held across a storage outage (written once storage was back).
    held_answers,
    /// Agent calls interrupted by the agent deadline.
    timed_out,
    /// Operations dead-lettered by this worker (delivered too often, or permanently broken).
    dead_lettered,
    /// Runs enqueued for tasks left without one.
    rescued,
    /// Operations left unsettled at shutdown, to be delivered again.
    left_for_redelivery,
}

impl WorkerStats {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
