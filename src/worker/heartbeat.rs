//! The heartbeat of a claimed run: renews the claim's lease and keeps the delivery alive, from a
//! task of its own, so that an agent that blocks its thread does not starve it.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::model::{ClaimToken, Renewal, TaskId};
use crate::scheduler::{Delivery, Hold};
use crate::storage::Storage;

/// Runs until dropped. [`Heartbeat::lost`] fires once storage says the claim is gone (the task
/// left `working`, or another run took it over), which is when the holder must stop.
///
/// It runs on the tokio runtime like any task: on a multi-threaded runtime an agent that blocks
/// one thread does not stop it. An agent that blocks every worker thread (or the only one, on a
/// current-thread runtime) does; such an agent must run its blocking calls with
/// `tokio::task::spawn_blocking`, or the lease must be longer than its longest blocking call.
pub(crate) struct Heartbeat {
    lost: CancellationToken,
    task: JoinHandle<()>,
}

/// What the heartbeat needs.
pub(crate) struct Beat {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) delivery: Arc<Delivery>,
    pub(crate) task_id: TaskId,
    pub(crate) token: ClaimToken,
    pub(crate) lease: Duration,
    pub(crate) every: Duration,
}

impl Heartbeat {
    pub(crate) fn spawn(beat: Beat) -> Self {
        let lost = CancellationToken::new();
        // In the run's span, so that its renewals show up under the run.
        let task = tokio::spawn(beat.run(lost.clone()).in_current_span());
        Self { lost, task }
    }

    /// Fires when the claim is known to be gone.
    pub(crate) fn lost(&self) -> &CancellationToken {
        &self.lost
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Beat {
    async fn run(self, lost: CancellationToken) {
        let mut ticks = tokio::time::interval(self.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            match self.delivery.keep_alive().await {
                Ok(Hold::Held) => {}
                // The scheduler handed the operation to another receiver after it went idle (say,
                // while the scheduler was unreachable). The claim in storage decides who runs the
                // task; the renewal below tells whether it is still ours.
                Ok(Hold::Lost) => {
                    tracing::debug!(task = %self.task_id, "delivery taken over by another receiver; checking the claim")
                }
                Err(err) => {
                    tracing::warn!(task = %self.task_id, error = %err, "could not keep the delivery alive")
                }
            }
            match self.storage.renew_claim(self.task_id, self.token, self.lease).await {
                Ok(Renewal::Held { .. }) => {}
                Ok(Renewal::Lost) => {
                    lost.cancel();
                    return;
                }
                // Storage trouble: the claim may still hold; the lease is there for this.
                Err(err) => tracing::warn!(task = %self.task_id, error = %err, "could not renew the claim"),
            }
        }
    }
}
