//! [`Finisher`]: a run's result and the acknowledgement of its delivery in one transaction.

use async_trait::async_trait;

use crate::error::Result;
use crate::model::{Task, TaskId, TaskUpdate};
use crate::scheduler::Delivery;

/// Stores a run's result and acknowledges its delivery as one write, both or neither, where the
/// storage and the scheduler share a database
/// ([`PostgresPipeline`](crate::postgres::PostgresPipeline)). It saves the acknowledgement's own
/// transaction, and a crash between the two can no longer leave a stored result whose run is
/// delivered again (which was already safe: the next delivery finds the task finished).
///
/// A worker given one ([`Worker::with_finisher`](super::Worker::with_finisher);
/// [`App::worker`](crate::App::worker) does when both backends are PostgreSQL) makes its first
/// attempt to store a run's answer through it. After any failure it goes back to its usual path,
/// unchanged: the answer is held and written through the storage (its retries, budget and
/// breaker), then the delivery is acknowledged. Only the update's own verdicts (fenced, state
/// conflict, immutable task, not found) stand; any other failure may be the acknowledgement's,
/// so the plain write decides, at once — an answer is never failed for the queue's sake. Runs it
/// cannot settle ([`settles`](Self::settles) is `false`) take the usual path from the start.
#[async_trait]
pub trait Finisher: Send + Sync + std::fmt::Debug {
    /// Whether [`store_and_ack`](Self::store_and_ack) can acknowledge `delivery`: it came from
    /// this finisher's scheduler.
    fn settles(&self, delivery: &Delivery) -> bool;

    /// [`Storage::update_task`](crate::Storage::update_task)`(task_id, update)` and
    /// [`Delivery::ack`] committed together; the task as `update_task` returns it. Refused
    /// exactly as `update_task` would refuse it (and then nothing is acknowledged); an
    /// acknowledgement of a delivery whose lease has gone to another does nothing, as
    /// [`Delivery::ack`] would. [`Error::Invalid`](crate::Error::Invalid) for a delivery it does
    /// not [settle](Self::settles). Not retried here; as safe to replay as the update (a fenced
    /// update is: its replay finds it applied, or the claim gone).
    async fn store_and_ack(&self, task_id: TaskId, update: &TaskUpdate, delivery: &Delivery) -> Result<Task>;
}
