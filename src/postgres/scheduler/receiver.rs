//! One stream of deliveries: claim, else wait for a notification (or the poll interval), and
//! ride out a lost database with a jittered backoff. The stream ends after one
//! [`Error::Closed`] once the scheduler is closed.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::Shared;
use super::listener::{Listener, Wake};
use super::queries::Claimed;
use super::receipt::{Lease, LeaseReceipt};
use crate::error::{Error, Result};
use crate::model::Lanes;
use crate::retry::Backoff;
use crate::scheduler::{BatchHint, Delivery, OperationStream};

const BACKOFF: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));

/// The most operations one claim takes, whatever the hint.
const MAX_BATCH: usize = 64;

/// A receiver's state: the scheduler, the lanes it reads, and the wake-ups from its LISTEN
/// connection.
pub(crate) struct Receiver {
    shared: Arc<Shared>,
    lanes: Lanes,
    /// How many a claim may take; one when there is no hint.
    batch: Option<BatchHint>,
    /// Deliveries claimed together, handed out one by one (each leased meanwhile).
    claimed: VecDeque<Delivery>,
    wake: Arc<Wake>,
    _listener: Arc<Listener>,
    /// The last claim took fewer than it asked for: the lane held no more then.
    drained: bool,
    failures: u32,
    ended: bool,
}

impl Receiver {
    /// The stream of deliveries of `lanes`.
    pub(crate) fn stream(shared: Arc<Shared>, lanes: Lanes, batch: Option<BatchHint>) -> OperationStream {
        let (wake, listener) = shared.listeners.subscribe(
            &shared.options.postgres,
            shared.queue.channel(),
            lanes,
            &shared.closed,
        );
        let receiver = Self {
            shared,
            lanes,
            batch,
            claimed: VecDeque::new(),
            wake,
            _listener: listener,
            drained: false,
            failures: 0,
            ended: false,
        };
        Box::pin(futures_util::stream::unfold(receiver, Self::next))
    }

    async fn next(mut self) -> Option<(Result<Delivery>, Self)> {
        if self.ended {
            return None;
        }
        let closed = self.shared.closed.clone();
        loop {
            if closed.is_cancelled() {
                return Some(self.end());
            }
            if let Some(delivery) = self.claimed.pop_front() {
                return Some((Ok(delivery), self));
            }
            // Anything enqueued since the last claim notifies a receiver, and a notification that
            // comes before the wait begins is kept: wait for it rather than spend a transaction
            // finding the lane empty (the poll still runs, for releases and lapsed leases).
            if std::mem::take(&mut self.drained) {
                tokio::select! {
                    () = self.wake.idle_for(self.shared.options.poll_interval) => {}
                    () = closed.cancelled() => {}
                }
                continue;
            }
            let wait = match self.claim().await {
                Ok(Some(delivery)) => {
                    self.failures = 0;
                    return Some((Ok(delivery), self));
                }
                Ok(None) => {
                    self.failures = 0;
                    self.shared.options.poll_interval
                }
                // The pool was closed under us (a shared pool closed by its other user).
                Err(Error::Closed(_)) => return Some(self.end()),
                Err(err) => {
                    // The stream does not end on a lost database: wait and claim again.
                    self.failures += 1;
                    tracing::warn!(error = %err, attempt = self.failures, "could not claim an operation; retrying");
                    BACKOFF.wait(self.failures)
                }
            };
            tokio::select! {
                () = self.wake.idle_for(wait) => {}
                () = closed.cancelled() => {}
            }
        }
    }

    /// The last item: one `Closed`, after which the stream ends.
    fn end(mut self) -> (Result<Delivery>, Self) {
        self.ended = true;
        (Err(Error::Closed("postgres scheduler")), self)
    }

    async fn claim(&mut self) -> Result<Option<Delivery>> {
        let shared = &self.shared;
        let options = &shared.options;
        let batch = self.batch.as_ref().map_or(1, BatchHint::get).min(MAX_BATCH);
        loop {
            // Unique per claim, so that with the row's id it names one delivery: a receipt acts
            // only while this very delivery holds the row.
            let holder = format!("{}/{}", options.consumer, uuid::Uuid::new_v4().simple());
            let claimed = shared
                .run(async |client| {
                    shared
                        .queue
                        .claim(&*client, self.lanes, &holder, options.lease, options.max_deliveries, batch)
                        .await
                })
                .await?;
            if claimed.is_empty() {
                // Nothing claimable: the caller waits anyway (a batch of only poison left
                // `drained` set, which would make it wait twice).
                self.drained = false;
                return Ok(None);
            }
            self.drained = claimed.len() < batch;
            for row in claimed {
                match row {
                    Claimed::Delivery { id, operation, deliveries } => {
                        let lease =
                            Arc::new(Lease { shared: Arc::clone(shared), id, holder: holder.clone() });
                        let delivery =
                            Delivery::new(*operation, deliveries, Box::new(LeaseReceipt(Arc::clone(&lease))))
                                .with_ticket(lease);
                        self.claimed.push_back(delivery.past_limit(deliveries > options.max_deliveries));
                    }
                    Claimed::Buried(reason) => {
                        tracing::warn!(
                            reason,
                            "dead-lettered an operation that cannot be delivered; going on"
                        );
                    }
                }
            }
            if let Some(delivery) = self.claimed.pop_front() {
                return Ok(Some(delivery));
            }
        }
    }
}
