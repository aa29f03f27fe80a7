//! The [`Scheduler`] trait: task operations delivered to workers, acknowledged after handling.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures_core::Stream;

use crate::error::Result;
use crate::forwarding::{boxed_methods, through_pointer};
use crate::model::{
    DeadLetter, DeadLetterId, Lanes, OperationId, Page, QueueStats, TaskIdParams, TaskOperation,
    TaskSendParams,
};

/// The operations a worker receives. The stream does not end while the scheduler is open: a
/// backend that loses its connection reconnects and goes on. Items are errors only for problems
/// the consumer should see (e.g. a backend that was closed ends the stream after one error).
pub type OperationStream = Pin<Box<dyn Stream<Item = Result<Delivery>> + Send>>;

/// Delivers run, cancel, pause and resume operations to workers, at least once.
///
/// **Enqueues are idempotent by operation id**: enqueueing an id that is queued, in flight or
/// recently acknowledged does nothing, so a replay after an uncertain failure never delivers twice.
/// [`SchedulerExt`] builds the operations: a run's id derives from its message
/// ([`TaskSendParams::operation_id`]), so a resent message schedules one run.
///
/// **Delivery is at least once**: an operation stays owned by the scheduler until its
/// [`Delivery`] is acknowledged or dead-lettered. A delivery dropped unsettled, or whose receiver
/// died, is delivered again (immediately in memory; after the backend's idle time elsewhere),
/// and that counts as a delivery; one handed back with [`Delivery::release`] comes back after
/// the delay and does not count. An operation delivered more than the backend's limit is
/// delivered once more flagged [`Delivery::over_limit`], for its receiver to settle; left
/// unsettled again it goes to the dead-letter place by itself.
///
/// **Lanes**: cancel, pause and resume travel apart from runs ([`Lanes`]), so a receiver of
/// control operations gets them while every run is still waiting.
///
/// **Operations**: the dead letters can be listed, replayed and discarded, the queue's state read
/// ([`QueueStats`]) and acknowledged operations pruned — the same on every backend, so that one
/// tool (`bindu-admin`) serves them all.
///
/// Every backend passes the same [conformance suite](crate::conformance).
#[async_trait]
pub trait Scheduler: Send + Sync {
    /// Schedules `operation`. Idempotent by `operation.id`: an id that is queued, in flight or
    /// recently settled is not delivered again.
    async fn enqueue(&self, operation: &TaskOperation) -> Result<()>;

    /// Opens a stream of deliveries of the operations in `lanes`. Several streams (in one process
    /// or many) compete: each operation goes to one of them at a time. Idempotent: opening a
    /// stream changes nothing.
    async fn receive(&self, lanes: Lanes) -> Result<OperationStream>;

    /// [`receive`](Self::receive), reading up to [`batch.get()`](BatchHint::get) operations per
    /// round trip to the backend (`FOR UPDATE SKIP LOCKED LIMIT n`, `XREADGROUP COUNT n`) and
    /// handing them out one by one. Each is leased to this stream from the read on, so the caller
    /// keeps the hint at what it will take promptly (a worker: its free room) and updates it as
    /// that changes. The default, for backends without round trips, ignores the hint.
    async fn receive_batched(&self, lanes: Lanes, batch: BatchHint) -> Result<OperationStream> {
        let _ = batch;
        self.receive(lanes).await
    }

    /// One cheap round trip to the backend (`SELECT 1`, `PING`): for health checks and the
    /// circuit breaker's probes. Idempotent.
    async fn ping(&self) -> Result<()>;

    /// Dead letters, oldest first (in the order they died), windowed by `page`. Idempotent (a
    /// read).
    async fn dead_letters(&self, page: Page) -> Result<Vec<DeadLetter>>;

    /// Takes dead letter `id` out of the dead letters and enqueues its operation again under its
    /// own operation id, counting deliveries from zero: `true` if this call did; `false` when
    /// there is no such dead letter (unknown, or replayed or discarded already). A replay never
    /// delivers twice: concurrent replays of one dead letter have one winner, and while the
    /// replayed operation is queued an enqueue of its id is a duplicate.
    /// [`Error::Invalid`](crate::Error::Invalid) when its operation cannot be read (discard it).
    /// **Not idempotent**: a repeated call returns `false`.
    async fn replay_dead_letter(&self, id: &DeadLetterId) -> Result<bool>;

    /// Drops dead letter `id` for good: `true` if this call did, `false` when there is no such
    /// dead letter. Its operation counts as settled: an enqueue of its id while the backend
    /// still remembers it is a duplicate. **Not idempotent**: a repeated call returns `false`.
    async fn discard_dead_letter(&self, id: &DeadLetterId) -> Result<bool>;

    /// The queue now: operations waiting per lane, in flight, the age of the oldest deliverable
    /// one, dead letters. Idempotent (a read).
    async fn stats(&self) -> Result<QueueStats>;

    /// Forgets at most `limit` operations acknowledged more than `older_than` ago and returns
    /// how many; queued, in-flight and dead operations are never touched. An enqueue of a
    /// forgotten id is delivered again, so keep `older_than` longer than enqueues are retried.
    /// Backends that forget by themselves return 0: Redis deletes acknowledged entries at once
    /// and lets each id's dedup key expire; memory remembers a bounded number of ids.
    /// Idempotent.
    async fn prune(&self, older_than: Duration, limit: usize) -> Result<u64>;

    /// Releases the backend's resources: open streams end after one
    /// [`Error::Closed`](crate::Error::Closed), later calls fail with it. Queued operations are
    /// kept where the backend persists them; unsettled deliveries are delivered again after the
    /// idle time. Idempotent.
    async fn close(&self) -> Result<()>;
}

/// The conveniences every [`Scheduler`] has: one method per kind of operation, each returning
/// the id it enqueued.
pub trait SchedulerExt: Scheduler {
    /// Schedules a run of `params.task_id` under [`TaskSendParams::operation_id`].
    fn run_task(&self, params: &TaskSendParams) -> impl Future<Output = Result<OperationId>> + Send {
        enqueued(self, TaskOperation::run(params.clone()))
    }

    /// Schedules a cancel (a fresh operation id).
    fn cancel_task(&self, params: &TaskIdParams) -> impl Future<Output = Result<OperationId>> + Send {
        enqueued(self, TaskOperation::cancel(params.clone()))
    }

    /// Schedules a pause (a fresh operation id).
    fn pause_task(&self, params: &TaskIdParams) -> impl Future<Output = Result<OperationId>> + Send {
        enqueued(self, TaskOperation::pause(params.clone()))
    }

    /// Schedules a resume (a fresh operation id).
    fn resume_task(&self, params: &TaskIdParams) -> impl Future<Output = Result<OperationId>> + Send {
        enqueued(self, TaskOperation::resume(params.clone()))
    }

    /// A stream of every operation ([`Lanes::All`]).
    fn receive_task_operations(&self) -> impl Future<Output = Result<OperationStream>> + Send {
        self.receive(Lanes::All)
    }
}

impl<S: Scheduler + ?Sized> SchedulerExt for S {}

/// Enqueues `operation` and returns its id.
async fn enqueued<S: Scheduler + ?Sized>(scheduler: &S, operation: TaskOperation) -> Result<OperationId> {
    scheduler.enqueue(&operation).await?;
    Ok(operation.id)
}

/// What [`Delivery::keep_alive`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// This receiver still holds the delivery; its idle time starts again.
    Held,
    /// It does not any more: it was settled, or another receiver took it over after it went idle.
    Lost,
}

/// A received operation. Call [`ack`](Delivery::ack) once its effect is stored; until then the
/// scheduler may deliver it again (to this or another receiver) if the delivery is dropped or the
/// receiver dies.
pub struct Delivery {
    operation: TaskOperation,
    delivery_count: u32,
    over_limit: bool,
    receipt: Box<dyn Receipt>,
    /// What the backend needs to settle the delivery in a transaction of its own, if anything.
    ticket: Option<Arc<dyn Any + Send + Sync>>,
}

impl Delivery {
    /// Wraps an operation with the backend's receipt. For backend authors.
    pub fn new(operation: TaskOperation, delivery_count: u32, receipt: Box<dyn Receipt>) -> Self {
        Self { operation, delivery_count, over_limit: false, receipt, ticket: None }
    }

    /// Attaches what the backend needs to settle this delivery inside a transaction of its own —
    /// e.g. [`PostgresPipeline`](crate::postgres::PostgresPipeline) acknowledges a run in the
    /// transaction that stores its result. Decorators wrapping the receipt keep it. For backend
    /// authors.
    pub fn with_ticket(mut self, ticket: Arc<dyn Any + Send + Sync>) -> Self {
        self.ticket = Some(ticket);
        self
    }

    /// The ticket the backend attached ([`with_ticket`](Self::with_ticket)), if it is a `T`.
    /// For backend authors.
    pub fn ticket<T: Any>(&self) -> Option<&T> {
        self.ticket.as_deref()?.downcast_ref()
    }

    /// Flags the delivery as past the backend's delivery limit. For backend authors.
    pub fn past_limit(mut self, over_limit: bool) -> Self {
        self.over_limit = over_limit;
        self
    }

    /// Whether the operation was delivered more than the scheduler's limit without being settled
    /// (its receivers crashed or hung each time): the receiver should not attempt the work again
    /// but record the failure and [`dead_letter`](Delivery::dead_letter) it (or acknowledge it
    /// if there is nothing left to do). Left unsettled, it is dead-lettered by the scheduler.
    pub fn over_limit(&self) -> bool {
        self.over_limit
    }

    /// Wraps the receipt, e.g. to observe or fail its calls. For decorators.
    pub fn map_receipt(mut self, wrap: impl FnOnce(Box<dyn Receipt>) -> Box<dyn Receipt>) -> Self {
        self.receipt = wrap(self.receipt);
        self
    }

    /// The operation.
    pub fn operation(&self) -> &TaskOperation {
        &self.operation
    }

    /// How many times this operation has been delivered, this delivery included (1 the first
    /// time); releases do not count. More than 1 means an earlier receiver did not settle it.
    pub fn delivery_count(&self) -> u32 {
        self.delivery_count
    }

    /// Marks the operation handled: it will not be delivered again. Idempotent.
    pub async fn ack(&self) -> Result<()> {
        self.receipt.ack().await
    }

    /// Moves the operation to the dead-letter place with `reason`: it will not be delivered
    /// again. For operations that can never succeed. Idempotent.
    pub async fn dead_letter(&self, reason: &str) -> Result<()> {
        self.receipt.dead_letter(reason).await
    }

    /// Hands the operation back unsettled, to be delivered again (to any receiver) after
    /// `delay` — at most the backend's idle time — without counting a delivery: for work that
    /// could not start because something it needs is unavailable. Idempotent; does nothing once
    /// the delivery is settled or taken over.
    pub async fn release(&self, delay: Duration) -> Result<()> {
        self.receipt.release(delay).await
    }

    /// Records that the operation was acknowledged inside a backend's own transaction (through
    /// its [ticket](Self::ticket)), so that the receipt's wrappers — the metrics — see it like
    /// [`ack`](Self::ack). Sends nothing. For backend authors.
    pub fn acknowledged_elsewhere(&self) {
        self.receipt.acknowledged_elsewhere();
    }

    /// Tells the scheduler the receiver is still working on it, so that a long-running operation
    /// is not handed to another receiver; [`Hold::Lost`] once it was settled or taken over.
    /// Idempotent.
    pub async fn keep_alive(&self) -> Result<Hold> {
        self.receipt.keep_alive().await
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("operation", &self.operation)
            .field("delivery_count", &self.delivery_count)
            .field("over_limit", &self.over_limit)
            .finish_non_exhaustive()
    }
}

/// A backend's handle on one delivered operation. For backend authors; consumers use
/// [`Delivery`]. Dropping a receipt that was neither acknowledged nor dead-lettered must leave the
/// operation to be delivered again.
#[async_trait]
pub trait Receipt: Send + Sync {
    /// See [`Delivery::ack`].
    async fn ack(&self) -> Result<()>;
    /// See [`Delivery::dead_letter`].
    async fn dead_letter(&self, reason: &str) -> Result<()>;
    /// See [`Delivery::release`].
    async fn release(&self, delay: Duration) -> Result<()>;
    /// See [`Delivery::keep_alive`].
    async fn keep_alive(&self) -> Result<Hold>;
    /// See [`Delivery::acknowledged_elsewhere`]. Nothing is sent; wrappers pass it on (and may
    /// count it as an acknowledgement). The default does nothing.
    fn acknowledged_elsewhere(&self) {}
}

/// How many operations a stream's reader can take now: see [`Scheduler::receive_batched`].
/// Clones share the value; it is never below one.
#[derive(Clone, Debug)]
pub struct BatchHint(Arc<AtomicUsize>);

impl BatchHint {
    /// A hint of `count` (at least one).
    pub fn new(count: usize) -> Self {
        Self(Arc::new(AtomicUsize::new(count.max(1))))
    }

    /// Sets it to `count` (at least one).
    pub fn set(&self, count: usize) {
        self.0.store(count.max(1), Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// The [`Scheduler`] methods every wrapper forwards alike, one line each (see `forwarding.rs`):
/// `scheduler_methods!(writer! { prefix })` is `writer! { prefix CALL => fn …; … }`, `CALL` naming
/// the method's [`Call`](crate::retry::Call) entry. `enqueue`, `receive` and `receive_batched` are
/// not in it: wrappers treat them each in their own way (counting enqueues, wrapping streams).
macro_rules! scheduler_methods {
    ($writer:ident! { $($prefix:tt)* }) => {
        $writer! { $($prefix)*
            PING => fn ping() -> ();
            DEAD_LETTERS => fn dead_letters(page: Page) -> Vec<DeadLetter>;
            REPLAY_DEAD_LETTER => fn replay_dead_letter<'i>(id: &'i DeadLetterId) -> bool;
            DISCARD_DEAD_LETTER => fn discard_dead_letter<'i>(id: &'i DeadLetterId) -> bool;
            STATS => fn stats() -> QueueStats;
            PRUNE => fn prune(older_than: Duration, limit: usize) -> u64;
            CLOSE => fn close() -> ();
        }
    };
}

pub(crate) use scheduler_methods;

macro_rules! forward_scheduler {
    ($($wrapper:ty),*) => {$(
        #[async_trait]
        #[deny(clippy::missing_trait_methods)]
        impl<T: Scheduler + ?Sized> Scheduler for $wrapper {
            async fn enqueue(&self, operation: &TaskOperation) -> Result<()> {
                (**self).enqueue(operation).await
            }
            async fn receive(&self, lanes: Lanes) -> Result<OperationStream> {
                (**self).receive(lanes).await
            }
            async fn receive_batched(&self, lanes: Lanes, batch: BatchHint) -> Result<OperationStream> {
                (**self).receive_batched(lanes, batch).await
            }
            scheduler_methods!(boxed_methods! { body = through_pointer(); });
        }
    )*};
}

forward_scheduler!(Arc<T>, Box<T>, &T);
