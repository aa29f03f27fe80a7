//! What an operator does with the in-memory queue: replay dead letters, read its state.

use std::collections::VecDeque;

use tokio::time::Instant;

use super::{Entry, Shared, slot};
use crate::error::Result;
use crate::model::{DeadLetterId, Lane, QueueStats};

impl Shared {
    /// Puts dead letter `id` back at the end of its lane with no deliveries counted. Its id is
    /// remembered again, in case the dedup window forgot it meanwhile.
    pub(super) async fn replay(&self, id: &DeadLetterId) -> Result<bool> {
        self.check_open()?;
        // A replayed operation takes a slot like any enqueue; taken first, so that no lock is
        // held across the wait.
        self.take_slot().await?;
        let lane = {
            let mut queue = self.lock();
            let found = queue.dead.iter().position(|dead| dead.id == *id);
            let operation = found.map(|at| queue.dead.remove(at)).and_then(|dead| dead.operation);
            let Some(operation) = operation else {
                drop(queue);
                self.free_slots.add_permits(1);
                return Ok(false);
            };
            queue.remember(operation.id, self.options.dedup_window);
            let lane = operation.lane();
            queue.ready[slot(lane)].push_back(Entry::new(operation));
            lane
        };
        self.wake(lane);
        Ok(true)
    }

    /// Counts what is queued, released, in flight and dead. Every operation holds a slot from
    /// its enqueue until it is settled, so those in flight are the slots taken less those queued.
    pub(super) fn stats(&self) -> QueueStats {
        let queue = self.lock();
        let now = Instant::now();
        let waiting = |lane: Lane| {
            let delayed = queue.delayed.iter().filter(|(_, entry)| entry.operation.lane() == lane).count();
            (queue.ready[slot(lane)].len() + delayed) as u64
        };
        let (waiting_runs, waiting_control) = (waiting(Lane::Runs), waiting(Lane::Control));
        let taken = self.options.capacity.saturating_sub(self.free_slots.available_permits()) as u64;
        let oldest = queue
            .ready
            .iter()
            .flat_map(VecDeque::iter)
            .map(|entry| entry.since)
            .chain(queue.delayed.iter().map(|(due, _)| *due).filter(|due| *due <= now))
            .min();
        QueueStats {
            waiting_runs,
            waiting_control,
            in_flight: taken.saturating_sub(waiting_runs + waiting_control),
            oldest_waiting_age: oldest.map(|since| now.saturating_duration_since(since)),
            dead_letters: queue.dead.len() as u64,
        }
    }
}
