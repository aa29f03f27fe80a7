//! [`PostgresPipeline`]: a submit and the run it calls for, in one transaction; a run's result
//! and its acknowledgement, in one transaction.

use std::sync::Arc;

use async_trait::async_trait;

use super::{PostgresScheduler, PostgresStorage};
use crate::error::{Error, Result};
use crate::model::{ContextId, Message, Submission, Task, TaskId, TaskUpdate};
use crate::scheduler::Delivery;
use crate::worker::Finisher;

/// A [`PostgresStorage`] and a [`PostgresScheduler`] on one database: accepting a message
/// ([`Storage::submit_task`](crate::Storage::submit_task)) and scheduling the run it calls for
/// ([`Submission::run_for`]) commit as one transaction — one commit (one WAL flush) per message
/// instead of two, and never a task without its run. [`App::submit`](crate::App::submit) uses
/// it when both backends are PostgreSQL (they then share `DATABASE_URL`).
///
/// As a [`Finisher`], it stores a run's result and acknowledges the run's delivery in one
/// transaction too; [`App::worker`](crate::App::worker) gives it to the worker.
///
/// Not retried here (like every backend); it is idempotent — a replay finds the message a
/// duplicate and the run already queued — so [`App::submit`](crate::App::submit) retries it
/// under the storage policy.
#[derive(Clone, Debug)]
pub struct PostgresPipeline {
    storage: Arc<PostgresStorage>,
    scheduler: Arc<PostgresScheduler>,
}

impl PostgresPipeline {
    /// Both must use the same database (their schemas may differ: every statement names its
    /// schema).
    pub fn new(storage: Arc<PostgresStorage>, scheduler: Arc<PostgresScheduler>) -> Self {
        Self { storage, scheduler }
    }

    /// Submits `message` (see [`Storage::submit_task`](crate::Storage::submit_task)) and, in the
    /// same transaction, enqueues the run it calls for, if any.
    pub async fn submit(
        &self,
        context_id: ContextId,
        message: &Message,
        owner: Option<&str>,
    ) -> Result<Submission> {
        let scheduler = &self.scheduler;
        self.storage
            .submit_then(context_id, message, owner, async |tx, submission| {
                match submission.run_for(message) {
                    Some(run) => scheduler.enqueue_in(tx, &run).await,
                    None => Ok(()),
                }
            })
            .await
    }
}

#[async_trait]
impl Finisher for PostgresPipeline {
    fn settles(&self, delivery: &Delivery) -> bool {
        self.scheduler.leased(delivery)
    }

    async fn store_and_ack(&self, task_id: TaskId, update: &TaskUpdate, delivery: &Delivery) -> Result<Task> {
        if !self.settles(delivery) {
            return Err(Error::Invalid {
                what: "delivery",
                reason: "it was not received from this pipeline's scheduler".to_owned(),
            });
        }
        let scheduler = &self.scheduler;
        let task = self
            .storage
            .update_then(task_id, update, async |tx| scheduler.ack_in(tx, delivery).await.map(drop))
            .await?;
        delivery.acknowledged_elsewhere();
        Ok(task)
    }
}
