//! The [`Scheduler`] trait: task operations delivered to workers, acknowledged after handling.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use futures_core::Stream;

use crate::error::Result;
use crate::model::{OperationId, TaskIdParams, TaskOperation, TaskSendParams};

/// The operations a worker receives. The stream does not end while the scheduler is open: a
/// backend that loses its connection reconnects and goes on. Items are errors only for problems
/// the consumer should see (e.g. a backend that was closed ends the stream after one error).
pub type OperationStream = Pin<Box<dyn Stream<Item = Result<Delivery>> + Send>>;

/// Delivers run, cancel, pause and resume operations to workers, at least once.
///
/// **Enqueues are idempotent by operation id**: enqueueing an id that is queued, in flight or
/// recently acknowledged does nothing, so a replay after an uncertain failure never delivers twice.
/// Use [`TaskSendParams::operation_id`] for runs (one run per message) and a fresh
/// [`OperationId::new`] for each cancel, pause or resume request.
///
/// **Delivery is at least once**: an operation stays owned by the scheduler until its
/// [`Delivery`] is acknowledged. A delivery dropped unacknowledged, or whose receiver died, is
/// delivered again (immediately in memory; after the backend's idle time elsewhere). An operation
/// delivered more than the backend's limit, or explicitly rejected, goes to a dead-letter place
/// and is not delivered again. Every backend passes the same
/// [conformance suite](crate::conformance).
#[async_trait]
pub trait Scheduler: Send + Sync {
    /// Schedules a run of `params.task_id`. Idempotent by `id`.
    async fn run_task(&self, id: OperationId, params: &TaskSendParams) -> Result<()>;

    /// Schedules a cancel. Idempotent by `id`.
    async fn cancel_task(&self, id: OperationId, params: &TaskIdParams) -> Result<()>;

    /// Schedules a pause. Idempotent by `id`.
    async fn pause_task(&self, id: OperationId, params: &TaskIdParams) -> Result<()>;

    /// Schedules a resume. Idempotent by `id`.
    async fn resume_task(&self, id: OperationId, params: &TaskIdParams) -> Result<()>;

    /// Opens a stream of deliveries. Several streams (in one process or many) compete: each
    /// operation goes to one of them at a time. Idempotent: opening a stream changes nothing.
    async fn receive_task_operations(&self) -> Result<OperationStream>;
}

/// A received operation. Call [`ack`](Delivery::ack) once its effect is stored; until then the
/// scheduler may deliver it again (to this or another receiver) if the delivery is dropped or the
/// receiver dies.
pub struct Delivery {
    operation: TaskOperation,
    delivery_count: u32,
    receipt: Box<dyn Receipt>,
}

impl Delivery {
    /// Wraps an operation with the backend's receipt. For backend authors.
    pub fn new(operation: TaskOperation, delivery_count: u32, receipt: Box<dyn Receipt>) -> Self {
        Self { operation, delivery_count, receipt }
    }

    /// The operation.
    pub fn operation(&self) -> &TaskOperation {
        &self.operation
    }

    /// How many times this operation has been delivered, this delivery included (1 the first
    /// time). More than 1 means an earlier receiver did not acknowledge it.
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

    /// Tells the scheduler the receiver is still working on it, so that a long-running operation
    /// is not handed to another receiver. Idempotent.
    pub async fn keep_alive(&self) -> Result<()> {
        self.receipt.keep_alive().await
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("operation", &self.operation)
            .field("delivery_count", &self.delivery_count)
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
    /// See [`Delivery::keep_alive`].
    async fn keep_alive(&self) -> Result<()>;
}

macro_rules! forward_scheduler {
    ($($wrapper:ty),*) => {$(
        #[async_trait]
        #[deny(clippy::missing_trait_methods)]
        impl<T: Scheduler + ?Sized> Scheduler for $wrapper {
            async fn run_task(&self, id: OperationId, params: &TaskSendParams) -> Result<()> {
                (**self).run_task(id, params).await
            }
            async fn cancel_task(&self, id: OperationId, params: &TaskIdParams) -> Result<()> {
                (**self).cancel_task(id, params).await
            }
            async fn pause_task(&self, id: OperationId, params: &TaskIdParams) -> Result<()> {
                (**self).pause_task(id, params).await
            }
            async fn resume_task(&self, id: OperationId, params: &TaskIdParams) -> Result<()> {
                (**self).resume_task(id, params).await
            }
            async fn receive_task_operations(&self) -> Result<OperationStream> {
                (**self).receive_task_operations().await
            }
        }
    )*};
}

forward_scheduler!(Arc<T>, Box<T>, &T);
