//! `Retrying<S>` as a [`Scheduler`]: enqueues are retried (they are idempotent by operation id);
//! for the stream only opening it is.

use async_trait::async_trait;

use super::{Call, Retrying};
use crate::error::Result;
use crate::model::{OperationId, TaskIdParams, TaskSendParams};
use crate::scheduler::{OperationStream, Scheduler};

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Scheduler> Scheduler for Retrying<S> {
    async fn run_task(&self, id: OperationId, params: &TaskSendParams) -> Result<()> {
        self.call(Call::RUN_TASK, || self.inner.run_task(id, params)).await
    }
    async fn cancel_task(&self, id: OperationId, params: &TaskIdParams) -> Result<()> {
        self.call(Call::CANCEL_TASK, || self.inner.cancel_task(id, params)).await
    }
    async fn pause_task(&self, id: OperationId, params: &TaskIdParams) -> Result<()> {
        self.call(Call::PAUSE_TASK, || self.inner.pause_task(id, params)).await
    }
    async fn resume_task(&self, id: OperationId, params: &TaskIdParams) -> Result<()> {
        self.call(Call::RESUME_TASK, || self.inner.resume_task(id, params)).await
    }
    async fn receive_task_operations(&self) -> Result<OperationStream> {
        self.call(Call::RECEIVE_TASK_OPERATIONS, || self.inner.receive_task_operations()).await
    }
}
