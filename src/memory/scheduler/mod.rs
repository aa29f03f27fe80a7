//! [`InMemoryScheduler`]: a bounded, acknowledged, multi-consumer queue in process memory.

mod admin;

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::model::{DeadLetter, DeadLetterId, Lane, Lanes, OperationId, Page, QueueStats, TaskOperation};
use crate::scheduler::{Delivery, Hold, OperationStream, Receipt, Scheduler};

/// Tuning of an [`InMemoryScheduler`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InMemorySchedulerOptions {
    /// Operations queued or in flight at most (Bindu's buffer was 100).
    pub capacity: usize,
    /// How long an enqueue waits for room before failing with
    /// [`Error::QueueFull`](crate::Error::QueueFull).
    pub enqueue_timeout: Duration,
    /// Deliveries after which an unsettled operation is delivered once more flagged
    /// [`Delivery::over_limit`], then dead-lettered.
    pub max_deliveries: u32,
    /// How many recent operation ids are remembered to drop duplicate enqueues.
    pub dedup_window: usize,
}

impl Default for InMemorySchedulerOptions {
    fn default() -> Self {
        Self {
            capacity: 100,
            enqueue_timeout: Duration::from_secs(5),
            max_deliveries: 5,
            dedup_window: 100_000,
        }
    }
}

/// A scheduler in process memory: operations are lost when the process ends.
///
/// Bounded: an enqueue into a full queue waits up to `enqueue_timeout`, then fails with the
/// transient [`Error::QueueFull`](crate::Error::QueueFull). A delivery dropped unsettled goes
/// back to the front of its lane at once; a released one after its delay. Cloning gives another
/// handle on the same queue.
#[derive(Clone, Debug)]
pub struct InMemoryScheduler {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    options: InMemorySchedulerOptions,
    /// Never held across an await.
    queue: Mutex<Queue>,
    /// One permit per free slot; taken by an enqueue, given back by ack or dead-letter.
    free_slots: Semaphore,
    /// Wakes one receiver of a lane per operation queued in it: control, runs.
    queued: [Notify; 2],
}

#[derive(Debug, Default)]
struct Queue {
    /// Ready operations per lane: control, runs.
    ready: [VecDeque<Entry>; 2],
    /// Released operations, invisible until their instant.
    delayed: Vec<(Instant, Entry)>,
    seen: HashSet<OperationId>,
    seen_order: VecDeque<OperationId>,
    dead: Vec<DeadLetter>,
    closed: bool,
}

#[derive(Debug)]
struct Entry {
    operation: TaskOperation,
    deliveries: u32,
    /// Since when it could be delivered (for [`QueueStats::oldest_waiting_age`]).
    since: Instant,
}

impl Entry {
    fn new(operation: TaskOperation) -> Self {
        Self { operation, deliveries: 0, since: Instant::now() }
    }

    /// The dead letter this entry becomes, after `deliveries`, for `reason`.
    fn bury(self, deliveries: u32, reason: String) -> DeadLetter {
        DeadLetter {
            id: DeadLetterId::from(self.operation.id),
            task_id: Some(self.operation.action.task_id()),
            operation: Some(self.operation),
            deliveries,
            last_error: reason,
            dead_at: Utc::now(),
        }
    }
}

const fn slot(lane: Lane) -> usize {
    match lane {
        Lane::Control => 0,
        Lane::Runs => 1,
    }
}

impl Default for InMemoryScheduler {
    fn default() -> Self {
        Self::with_options(InMemorySchedulerOptions::default())
    }
}

impl InMemoryScheduler {
    /// A scheduler with the default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// A scheduler with `options`.
    pub fn with_options(options: InMemorySchedulerOptions) -> Self {
        Self {
            shared: Arc::new(Shared {
                options,
                queue: Mutex::new(Queue::default()),
                free_slots: Semaphore::new(options.capacity),
                queued: [Notify::new(), Notify::new()],
            }),
        }
    }

    /// Operations waiting for a receiver (not counting those in flight).
    pub fn pending(&self) -> usize {
        let queue = self.shared.lock();
        queue.ready.iter().map(VecDeque::len).sum::<usize>() + queue.delayed.len()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue's invariants hold between statements, so a panic elsewhere cannot break them.
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn check_open(&self) -> Result<()> {
        if self.lock().closed {
            return Err(Error::Closed("in-memory scheduler"));
        }
        Ok(())
    }

    /// Takes a free slot for an operation, waiting up to `enqueue_timeout`; given back when it is
    /// settled.
    async fn take_slot(&self) -> Result<()> {
        let wait = self.options.enqueue_timeout;
        match tokio::time::timeout(wait, self.free_slots.acquire()).await {
            Ok(Ok(permit)) => {
                permit.forget();
                Ok(())
            }
            _ => Err(Error::QueueFull { capacity: self.options.capacity, waited: wait }),
        }
    }

    fn wake(&self, lane: Lane) {
        self.queued[slot(lane)].notify_one();
    }

    /// The next deliverable operation of `lanes`, dead-lettering those past the limit; else when
    /// the next released one is due.
    fn take(self: &Arc<Self>, lanes: Lanes) -> std::result::Result<Delivery, Option<Instant>> {
        let mut queue = self.lock();
        queue.promote_due(Instant::now());
        for lane in lanes.lanes() {
            while let Some(mut entry) = queue.ready[slot(lane)].pop_front() {
                entry.deliveries += 1;
                let limit = self.options.max_deliveries;
                if entry.deliveries > limit.saturating_add(1) {
                    let done = entry.deliveries - 1;
                    let reason = format!("not settled after {done} deliveries");
                    queue.dead.push(entry.bury(done, reason));
                    self.free_slots.add_permits(1);
                    continue;
                }
                if !queue.ready[slot(lane)].is_empty() {
                    // Pass the baton: another receiver may be waiting for the next one.
                    self.wake(lane);
                }
                let (operation, count) = (entry.operation.clone(), entry.deliveries);
                let receipt = MemoryReceipt { shared: Arc::clone(self), entry: Mutex::new(Some(entry)) };
                return Ok(Delivery::new(operation, count, Box::new(receipt)).past_limit(count > limit));
            }
        }
        Err(queue
            .delayed
            .iter()
            .filter(|(_, entry)| lanes.includes(entry.operation.lane()))
            .map(|(due, _)| *due)
            .min())
    }

    async fn next_delivery(self: Arc<Self>, lanes: Lanes) -> Option<(Result<Delivery>, Arc<Self>)> {
        loop {
            // Registered before looking, so that an enqueue or a close in between still wakes us.
            let waker = Arc::clone(&self);
            let [control, runs] = &waker.queued;
            let (control, runs) = (control.notified(), runs.notified());
            tokio::pin!(control, runs);
            if lanes.includes(Lane::Control) {
                control.as_mut().enable();
            }
            if lanes.includes(Lane::Runs) {
                runs.as_mut().enable();
            }
            if self.lock().closed {
                return None;
            }
            let next_due = match self.take(lanes) {
                Ok(delivery) => return Some((Ok(delivery), self)),
                Err(next_due) => next_due,
            };
            let woken = async {
                match lanes {
                    Lanes::Control => control.await,
                    Lanes::Runs => runs.await,
                    Lanes::All => tokio::select! {
                        () = control => {}
                        () = runs => {}
                    },
                }
            };
            match next_due {
                Some(due) => drop(tokio::time::timeout_at(due, woken).await),
                None => woken.await,
            }
        }
    }
}

impl Queue {
    /// Records `id`; `false` if it was already known.
    fn remember(&mut self, id: OperationId, window: usize) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        self.seen_order.push_back(id);
        if self.seen_order.len() > window
            && let Some(oldest) = self.seen_order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        true
    }

    /// Moves released operations whose delay is over back to the front of their lanes.
    fn promote_due(&mut self, now: Instant) {
        if self.delayed.is_empty() {
            return;
        }
        let (due, later): (Vec<_>, Vec<_>) = self.delayed.drain(..).partition(|(at, _)| *at <= now);
        self.delayed = later;
        for (at, mut entry) in due {
            entry.since = at;
            self.ready[slot(entry.operation.lane())].push_front(entry);
        }
    }
}

/// The handle on one in-flight operation; dropping it unsettled puts the operation back.
struct MemoryReceipt {
    shared: Arc<Shared>,
    entry: Mutex<Option<Entry>>,
}

impl MemoryReceipt {
    fn settle(&self) -> Option<Entry> {
        self.entry.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take()
    }
}

#[async_trait]
impl Receipt for MemoryReceipt {
    async fn ack(&self) -> Result<()> {
        if self.settle().is_some() {
            self.shared.free_slots.add_permits(1);
        }
        Ok(())
    }

    async fn dead_letter(&self, reason: &str) -> Result<()> {
        if let Some(entry) = self.settle() {
            let deliveries = entry.deliveries;
            self.shared.lock().dead.push(entry.bury(deliveries, reason.to_owned()));
            self.shared.free_slots.add_permits(1);
        }
        Ok(())
    }

    async fn release(&self, delay: Duration) -> Result<()> {
        if let Some(mut entry) = self.settle() {
            // A release is not a delivery.
            entry.deliveries = entry.deliveries.saturating_sub(1);
            let lane = entry.operation.lane();
            self.shared.lock().delayed.push((Instant::now() + delay, entry));
            // A waiting receiver recomputes when to look again.
            self.shared.wake(lane);
        }
        Ok(())
    }

    async fn keep_alive(&self) -> Result<Hold> {
        let held = self.entry.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).is_some();
        Ok(if held { Hold::Held } else { Hold::Lost })
    }
}

impl Drop for MemoryReceipt {
    fn drop(&mut self) {
        if let Some(mut entry) = self.settle() {
            let lane = entry.operation.lane();
            entry.since = Instant::now();
            self.shared.lock().ready[slot(lane)].push_front(entry);
            self.shared.wake(lane);
        }
    }
}

#[async_trait]
impl Scheduler for InMemoryScheduler {
    async fn enqueue(&self, operation: &TaskOperation) -> Result<()> {
        let shared = &self.shared;
        {
            let queue = shared.lock();
            if queue.closed {
                return Err(Error::Closed("in-memory scheduler"));
            }
            if queue.seen.contains(&operation.id) {
                return Ok(());
            }
        }
        shared.take_slot().await?;
        let lane = operation.lane();
        {
            let mut queue = shared.lock();
            if !queue.remember(operation.id, shared.options.dedup_window) {
                drop(queue);
                shared.free_slots.add_permits(1);
                return Ok(());
            }
            queue.ready[slot(lane)].push_back(Entry::new(operation.clone()));
        }
        shared.wake(lane);
        Ok(())
    }

    async fn receive(&self, lanes: Lanes) -> Result<OperationStream> {
        self.shared.check_open()?;
        let deliveries = futures_util::stream::unfold(Arc::clone(&self.shared), move |shared| {
            Shared::next_delivery(shared, lanes)
        });
        // A closed scheduler ends every stream after one error.
        let closed = futures_util::stream::once(async { Err(Error::Closed("in-memory scheduler")) });
        Ok(Box::pin(futures_util::StreamExt::chain(deliveries, closed)))
    }

    async fn ping(&self) -> Result<()> {
        self.shared.check_open()
    }

    async fn dead_letters(&self, page: Page) -> Result<Vec<DeadLetter>> {
        self.shared.check_open()?;
        Ok(page.apply(self.shared.lock().dead.iter().cloned()))
    }

    async fn replay_dead_letter(&self, id: &DeadLetterId) -> Result<bool> {
        self.shared.replay(id).await
    }

    async fn discard_dead_letter(&self, id: &DeadLetterId) -> Result<bool> {
        self.shared.check_open()?;
        let mut queue = self.shared.lock();
        let found = queue.dead.iter().position(|dead| dead.id == *id);
        Ok(found.map(|at| queue.dead.remove(at)).is_some())
    }

    async fn stats(&self) -> Result<QueueStats> {
        self.shared.check_open()?;
        Ok(self.shared.stats())
    }

    /// Nothing to forget: the ids of settled operations live in a window of `dedup_window` ids.
    async fn prune(&self, _older_than: Duration, _limit: usize) -> Result<u64> {
        self.shared.check_open()?;
        Ok(0)
    }

    async fn close(&self) -> Result<()> {
        self.shared.lock().closed = true;
        for notify in &self.shared.queued {
            notify.notify_waiters();
        }
        Ok(())
    }
}
