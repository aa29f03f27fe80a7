//! `Retrying<S>` as a [`Scheduler`]: enqueues are retried (they are idempotent by operation id);
//! for a stream only opening it is; replaying and discarding a dead letter only when surely not
//! applied (a repeat reports `false`).

use super::Retrying;
use super::forward::forward;
use std::time::Duration;

use crate::model::{DeadLetter, DeadLetterId, Lanes, Page, QueueStats, TaskOperation};
use crate::scheduler::{OperationStream, Scheduler};

#[deny(clippy::missing_trait_methods)]
impl<S: Scheduler> Scheduler for Retrying<S> {
    forward! {
        role = SCHEDULER, "scheduler";
        ENQUEUE => fn enqueue<'o>(operation: &'o TaskOperation) -> ();
        RECEIVE => fn receive(lanes: Lanes) -> OperationStream;
        PING => fn ping() -> ();
        DEAD_LETTERS => fn dead_letters(page: Page) -> Vec<DeadLetter>;
        REPLAY_DEAD_LETTER => fn replay_dead_letter<'i>(id: &'i DeadLetterId) -> bool;
        DISCARD_DEAD_LETTER => fn discard_dead_letter<'i>(id: &'i DeadLetterId) -> bool;
        STATS => fn stats() -> QueueStats;
        PRUNE => fn prune(older_than: Duration, limit: usize) -> u64;
        CLOSE => fn close() -> ();
    }
}
