//! The worker's gauges and its agent's latency (its counters are `WorkerStats`'s).

use std::time::Instant;

use ::metrics::{gauge, histogram};

use super::names::{AGENT_DURATION, SLOTS, SLOTS_IN_USE};

/// An agent call being timed, while a recorder is installed.
#[derive(Debug)]
pub(crate) struct AgentTimer(Option<Instant>);

impl AgentTimer {
    pub(crate) fn start() -> Self {
        Self(super::enabled().then(Instant::now))
    }

    /// The call ended with `outcome`: `answered`, `error`, `panic`, `timeout` or `interrupted`.
    pub(crate) fn stop(self, worker: &'static str, outcome: &'static str) {
        if let Some(started) = self.0 {
            histogram!(AGENT_DURATION, "worker" => worker, "outcome" => outcome)
                .record(started.elapsed().as_secs_f64());
        }
    }
}

/// Adds `slots` to a gauge of `worker` until dropped: the slots a running worker allows
/// (`bindu_worker_slots`) or the run holding one (`bindu_worker_slots_in_use`). Added, not set,
/// so that workers sharing a name add up.
#[derive(Debug)]
pub(crate) struct SlotGauge {
    /// The gauge and what was added, when a recorder was installed then.
    added: Option<(&'static str, &'static str, f64)>,
}

impl SlotGauge {
    /// The slots a worker allows.
    pub(crate) fn capacity(worker: &'static str, slots: usize) -> Self {
        Self::add(SLOTS, worker, slots as f64)
    }

    /// A slot in use.
    pub(crate) fn in_use(worker: &'static str) -> Self {
        Self::add(SLOTS_IN_USE, worker, 1.0)
    }

    fn add(name: &'static str, worker: &'static str, slots: f64) -> Self {
        let added = super::enabled().then(|| {
            gauge!(name, "worker" => worker).increment(slots);
            (name, worker, slots)
        });
        Self { added }
    }
}

impl Drop for SlotGauge {
    fn drop(&mut self) {
        if let Some((name, worker, slots)) = self.added {
            gauge!(name, "worker" => worker).decrement(slots);
        }
    }
}
