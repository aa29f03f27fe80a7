//! [`WorkerStats`]: what a worker did, for tests, dashboards and the quickstart's summary; each
//! counter is also a metric (see [`telemetry`](crate::telemetry)), bumped in the same place.

use std::sync::atomic::{AtomicU64, Ordering};

use metrics::counter;

use crate::telemetry::{CONTROL, HELD_ANSWERS, RESCUED, SETTLED, SKIPPED, TAKEOVERS, WORKER_RUNS};

/// The metric a counter feeds: a name, and the one label besides `worker` that tells its series
/// apart.
type Feeds = Option<(&'static str, Option<(&'static str, &'static str)>)>;

macro_rules! counters {
    ($($(#[$doc:meta])* $stat:ident $name:ident => $feeds:expr,)*) => {
        /// Counters of a worker's outcomes (monotonic).
        #[derive(Debug, Default)]
        pub struct WorkerStats {
            $($name: AtomicU64,)*
        }

        /// A copy of the counters at one moment.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct StatsSnapshot {
            $($(#[$doc])* pub $name: u64,)*
        }

        /// One of the counters.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Stat {
            $($stat,)*
        }

        impl WorkerStats {
            /// The counters now.
            pub fn snapshot(&self) -> StatsSnapshot {
                StatsSnapshot { $($name: self.$name.load(Ordering::Relaxed),)* }
            }

            fn counter(&self, stat: Stat) -> &AtomicU64 {
                match stat {
                    $(Stat::$stat => &self.$name,)*
                }
            }
        }

        impl Stat {
            const ALL: &[Stat] = &[$(Stat::$stat,)*];

            const fn feeds(self) -> Feeds {
                match self {
                    $(Self::$stat => $feeds,)*
                }
            }
        }
    };
}

const fn runs(outcome: &'static str) -> Feeds {
    Some((WORKER_RUNS, Some(("outcome", outcome))))
}

const fn settled(disposition: &'static str) -> Feeds {
    Some((SETTLED, Some(("disposition", disposition))))
}

const fn control(action: &'static str) -> Feeds {
    Some((CONTROL, Some(("action", action))))
}

counters! {
    /// Times the agent was called.
    AgentRuns agent_runs => None, // the agent duration histogram counts them, by outcome
    /// Tasks this worker completed.
    Completed completed => runs("completed"),
    /// Tasks that now wait for input or authentication.
    InputRequired input_required => runs("input_required"),
    /// Tasks this worker marked failed (agent errors, timeouts, dead letters, invalid results).
    Failed failed => runs("failed"),
    /// Tasks the agent rejected.
    Rejected rejected => runs("rejected"),
    /// Tasks this worker canceled.
    Canceled canceled => control("cancel"),
    /// Tasks this worker paused.
    Paused paused => control("pause"),
    /// Tasks this worker resumed.
    Resumed resumed => control("resume"),
    /// Operations with nothing to do (task gone, terminal, or run by someone else).
    Skipped skipped => Some((SKIPPED, None)),
    /// Operations acknowledged.
    Acknowledged acknowledged => settled("acknowledged"),
    /// Operations handed back to be delivered later because something they need was unavailable
    /// or the task was held by a live run elsewhere (not counted as deliveries).
    Released released => settled("released"),
    /// Claims taken over from a run whose lease had run out.
    Takeovers takeovers => Some((TAKEOVERS, None)),
    /// Runs stopped because their claim was lost (canceled, paused, continued, taken over).
    ClaimsLost claims_lost => runs("claim_lost"),
    /// Answers held across a storage outage (written once storage was back).
    HeldAnswers held_answers => Some((HELD_ANSWERS, None)),
    /// Agent calls interrupted by the agent deadline.
    TimedOut timed_out => None, // the agent duration histogram's `timeout` outcome
    /// Operations dead-lettered by this worker (delivered too often, or permanently broken).
    DeadLettered dead_lettered => settled("dead_lettered"),
    /// Runs enqueued for tasks left without one.
    Rescued rescued => Some((RESCUED, None)),
    /// Operations left unsettled at shutdown, to be delivered again.
    LeftForRedelivery left_for_redelivery => settled("left"),
}

impl WorkerStats {
    /// A worker named `worker` starts: its metrics' series start at zero (while a recorder is
    /// installed), so that a first takeover is an increase from zero.
    pub(crate) fn start(worker: &'static str) {
        if !crate::telemetry::enabled() {
            return;
        }
        for (name, label) in Stat::ALL.iter().filter_map(|stat| stat.feeds()) {
            match label {
                Some((key, value)) => counter!(name, "worker" => worker, key => value).increment(0),
                None => counter!(name, "worker" => worker).increment(0),
            }
        }
    }

    /// Counts one `stat` of the worker named `worker`, in its counter and its metric.
    pub(crate) fn bump(&self, stat: Stat, worker: &'static str) {
        self.counter(stat).fetch_add(1, Ordering::Relaxed);
        if let Some((name, label)) = stat.feeds()
            && crate::telemetry::enabled()
        {
            match label {
                Some((key, value)) => counter!(name, "worker" => worker, key => value).increment(1),
                None => counter!(name, "worker" => worker).increment(1),
            }
        }
    }
}
