//! `Retrying<S>` as a [`Scheduler`]: enqueues are retried (they are idempotent by operation id);
//! for the stream only opening it is.

use super::Retrying;
use super::forward::forward;
use crate::model::{OperationId, TaskIdParams, TaskSendParams};
use crate::scheduler::{OperationStream, Scheduler};

#[deny(clippy::missing_trait_methods)]
impl<S: Scheduler> Scheduler for Retrying<S> {
    forward! {
        RUN_TASK => fn run_task<'p>(id: OperationId, params: &'p TaskSendParams) -> ();
        CANCEL_TASK => fn cancel_task<'p>(id: OperationId, params: &'p TaskIdParams) -> ();
        PAUSE_TASK => fn pause_task<'p>(id: OperationId, params: &'p TaskIdParams) -> ();
        RESUME_TASK => fn resume_task<'p>(id: OperationId, params: &'p TaskIdParams) -> ();
        RECEIVE_TASK_OPERATIONS => fn receive_task_operations() -> OperationStream;
    }
}
