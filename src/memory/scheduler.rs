//! [`InMemoryScheduler`]: a bounded, acknowledged, multi-consumer queue in process memory.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, Semaphore};

use crate::error::{Error, Result};
use crate::model::{Action, OperationId, TaskIdParams, TaskOperation, TaskSendParams};
use crate::retry::{DefaultRetryPolicy, RetryPolicy};
use crate::scheduler::{Delivery, OperationStream, Receipt, Scheduler};
use crate::settings::RetrySettings;

/// Tuning of an [`InMemoryScheduler`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InMemorySchedulerOptions {
    /// Operations queued or in flight at most (Bindu's buffer was 100).
    pub capacity: usize,
    /// How long an enqueue waits for room before failing with
    /// [`Error::QueueFull`](crate::Error::QueueFull).
    pub enqueue_timeout: Duration,
    /// Deliveries after which an unacknowledged operation is dead-lettered instead.
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

/// An operation that will not be delivered again, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct DeadLetter {
    /// The operation.
    pub operation: TaskOperation,
    /// How many times it was delivered.
    pub deliveries: u32,
    /// Why it was dead-lettered.
    pub reason: String,
}

/// A scheduler in process memory: operations are lost when the process ends.
///
/// Bounded: an enqueue into a full queue waits up to `enqueue_timeout`, then fails with the
/// transient [`Error::QueueFull`](crate::Error::QueueFull). A delivery dropped without
/// acknowledgement goes back to the front of the queue at once; after `max_deliveries` it is
/// dead-lettered ([`InMemoryScheduler::dead_letters`]). Cloning gives another handle on the same
/// queue.
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
    /// Wakes one receiver per queued operation.
    queued: Notify,
}

#[derive(Debug, Default)]
struct Queue {
    pending: VecDeque<Entry>,
    seen: HashSet<OperationId>,
    seen_order: VecDeque<OperationId>,
    dead: Vec<DeadLetter>,
}

#[derive(Debug)]
struct Entry {
    operation: TaskOperation,
    deliveries: u32,
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
                queued: Notify::new(),
            }),
        }
    }

    /// Operations that will not be delivered again.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.shared.lock().dead.clone()
    }

    /// Operations waiting for a receiver (not counting those in flight).
    pub fn pending(&self) -> usize {
        self.shared.lock().pending.len()
    }

    async fn enqueue(&self, id: OperationId, action: Action) -> Result<()> {
        let shared = &self.shared;
        if shared.lock().seen.contains(&id) {
            return Ok(());
        }
        let wait = shared.options.enqueue_timeout;
        match tokio::time::timeout(wait, shared.free_slots.acquire()).await {
            Ok(Ok(permit)) => permit.forget(),
            _ => return Err(Error::QueueFull { capacity: shared.options.capacity, waited: wait }),
        }
        {
            let mut queue = shared.lock();
            if !queue.remember(id, shared.options.dedup_window) {
                drop(queue);
                shared.free_slots.add_permits(1);
                return Ok(());
            }
            queue.pending.push_back(Entry { operation: TaskOperation::new(id, action), deliveries: 0 });
        }
        shared.queued.notify_one();
        Ok(())
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue's invariants hold between statements, so a panic elsewhere cannot break them.
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next deliverable operation, dead-lettering those delivered too often.
    fn take(self: &Arc<Self>) -> Option<Delivery> {
        let mut queue = self.lock();
        while let Some(mut entry) = queue.pending.pop_front() {
            entry.deliveries += 1;
            if entry.deliveries > self.options.max_deliveries {
                let reason = format!("not acknowledged after {} deliveries", self.options.max_deliveries);
                queue.dead.push(DeadLetter {
                    operation: entry.operation,
                    deliveries: entry.deliveries - 1,
                    reason,
                });
                self.free_slots.add_permits(1);
                continue;
            }
            if !queue.pending.is_empty() {
                // Pass the baton: another receiver may be waiting for the next one.
                self.queued.notify_one();
            }
            let (operation, count) = (entry.operation.clone(), entry.deliveries);
            let receipt = MemoryReceipt { shared: Arc::clone(self), entry: Mutex::new(Some(entry)) };
            return Some(Delivery::new(operation, count, Box::new(receipt)));
        }
        None
    }

    async fn next_delivery(self: Arc<Self>) -> Option<(Result<Delivery>, Arc<Self>)> {
        loop {
            if let Some(delivery) = self.take() {
                return Some((Ok(delivery), self));
            }
            self.queued.notified().await;
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
            let dead = DeadLetter {
                operation: entry.operation,
                deliveries: entry.deliveries,
                reason: reason.to_owned(),
            };
            self.shared.lock().dead.push(dead);
            self.shared.free_slots.add_permits(1);
        }
        Ok(())
    }

    async fn keep_alive(&self) -> Result<()> {
        Ok(())
    }
}

impl Drop for MemoryReceipt {
    fn drop(&mut self) {
        if let Some(entry) = self.settle() {
            self.shared.lock().pending.push_front(entry);
            self.shared.queued.notify_one();
        }
    }
}

#[async_trait]
impl Scheduler for InMemoryScheduler {
    async fn run_task(&self, id: OperationId, params: &TaskSendParams) -> Result<()> {
        self.enqueue(id, Action::Run(params.clone())).await
    }

    async fn cancel_task(&self, id: OperationId, params: &TaskIdParams) -> Result<()> {
        self.enqueue(id, Action::Cancel(params.clone())).await
    }

    async fn pause_task(&self, id: OperationId, params: &TaskIdParams) -> Result<()> {
        self.enqueue(id, Action::Pause(params.clone())).await
    }

    async fn resume_task(&self, id: OperationId, params: &TaskIdParams) -> Result<()> {
        self.enqueue(id, Action::Resume(params.clone())).await
    }

    async fn receive_task_operations(&self) -> Result<OperationStream> {
        Ok(Box::pin(futures_util::stream::unfold(Arc::clone(&self.shared), Shared::next_delivery)))
    }
}

impl DefaultRetryPolicy for InMemoryScheduler {
    /// The scheduler policy's attempts with a 0.1–1 s window (unless the waits were configured).
    fn default_retry_policy(&self, settings: &RetrySettings) -> RetryPolicy {
        RetrySettings::in_memory(settings.scheduler, RetryPolicy::SCHEDULER)
    }
}
