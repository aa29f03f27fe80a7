//! Queue depth and age, sampled: a scheduler is asked how much waits every few seconds, and the
//! answer becomes gauges.

use std::future::Future;
use std::time::Duration;

use ::metrics::gauge;
use tokio::task::JoinHandle;

use super::names::{QUEUE_DEPTH, QUEUE_OLDEST_AGE};
use crate::error::Result;
use crate::model::Lane;

/// What waits in a scheduler's queue at one moment: the numbers [`QueueSampler`] records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueLevels {
    /// Runs waiting for a receiver.
    pub waiting_runs: u64,
    /// Cancels, pauses and resumes waiting for a receiver.
    pub waiting_control: u64,
    /// How long the oldest waiting operation has waited; `None` when none waits or it is unknown.
    pub oldest_waiting_age: Option<Duration>,
}

impl QueueLevels {
    /// Sets the queue gauges of `backend` to these levels (when a recorder is installed).
    pub fn record(&self, backend: &'static str) {
        if !super::enabled() {
            return;
        }
        for (lane, waiting) in [(Lane::Runs, self.waiting_runs), (Lane::Control, self.waiting_control)] {
            gauge!(QUEUE_DEPTH, "backend" => backend, "lane" => lane.as_str()).set(waiting as f64);
        }
        let age = self.oldest_waiting_age.unwrap_or_default();
        gauge!(QUEUE_OLDEST_AGE, "backend" => backend).set(age.as_secs_f64());
    }
}

/// A background task recording a scheduler's [`QueueLevels`] every few seconds. Stops when
/// dropped, or when its probe says the scheduler is gone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use bindu::InMemoryScheduler;
/// use bindu::telemetry::{QueueLevels, QueueSampler};
///
/// let scheduler = InMemoryScheduler::new();
/// let probed = scheduler.clone();
/// let sampler = QueueSampler::spawn("memory", Duration::from_secs(5), move || {
///     let probed = probed.clone();
///     Some(async move { Ok(QueueLevels { waiting_runs: probed.pending() as u64, ..QueueLevels::default() }) })
/// });
/// # drop(sampler);
/// # }
/// ```
#[derive(Debug)]
pub struct QueueSampler {
    task: Option<JoinHandle<()>>,
}

impl QueueSampler {
    /// Starts sampling on the current tokio runtime, at once and then every `every`: `probe`
    /// gives a future of the levels to record under `backend`, awaited only while a recorder is
    /// installed (one that fails is logged at DEBUG and skipped), or `None` to end the sampling.
    pub fn spawn<P, Fut>(backend: &'static str, every: Duration, mut probe: P) -> Self
    where
        P: FnMut() -> Option<Fut> + Send + 'static,
        Fut: Future<Output = Result<QueueLevels>> + Send,
    {
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(levels) = probe() else { return };
                // Unawaited, the probe's future does nothing.
                if !super::enabled() {
                    continue;
                }
                match levels.await {
                    Ok(levels) => levels.record(backend),
                    Err(err) => tracing::debug!(backend, error = %err, "could not sample the queue"),
                }
            }
        });
        Self { task: Some(task) }
    }

    /// Lets the sampling run on its own, until its probe returns `None`.
    pub fn detach(mut self) {
        self.task = None;
    }
}

impl Drop for QueueSampler {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
