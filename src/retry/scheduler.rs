//! `Retrying<S>` as a [`Scheduler`]: enqueues are retried (they are idempotent by operation id);
//! for a stream only opening it is.

use super::Retrying;
use super::forward::forward;
use crate::model::{Lanes, TaskOperation};
use crate::scheduler::{OperationStream, Scheduler};

#[deny(clippy::missing_trait_methods)]
impl<S: Scheduler> Scheduler for Retrying<S> {
    forward! {
        role = SCHEDULER, "scheduler";
        ENQUEUE => fn enqueue<'o>(operation: &'o TaskOperation) -> ();
        RECEIVE => fn receive(lanes: Lanes) -> OperationStream;
        PING => fn ping() -> ();
        CLOSE => fn close() -> ();
    }
}
