//! Failed notifications and pruning of finished tasks.

use std::time::Duration;

use chrono::Utc;
use dashmap::mapref::entry::Entry;
use uuid::Uuid;

use super::InMemoryStorage;
use crate::error::{Entity, Error, Result};
use crate::model::{FailedNotification, Page, StuckTask};

impl InMemoryStorage {
    pub(super) fn record_failure(&self, failure: &FailedNotification) -> Result<()> {
        let task_id = failure.task_id;
        // Holding the task keeps a concurrent delete from leaving an orphan record.
        let _task = self.tasks.get(&task_id).ok_or_else(|| Error::not_found(Entity::Task, task_id))?;
        let mut kept = self.failed.entry(task_id).or_default();
        match kept.iter_mut().find(|(_, kept)| kept.notification_id == failure.notification_id) {
            Some((_, kept)) => *kept = failure.clone(),
            None => kept.push((self.next_sequence(), failure.clone())),
        }
        Ok(())
    }

    pub(super) fn failures(&self, page: Page) -> Vec<FailedNotification> {
        let mut all: Vec<(u64, FailedNotification)> =
            self.failed.iter().flat_map(|kept| kept.value().clone()).collect();
        all.sort_unstable_by_key(|(sequence, _)| *sequence);
        page.apply(all.into_iter().map(|(_, failure)| failure))
    }

    pub(super) fn remove_failure(&self, notification_id: Uuid) -> bool {
        self.failed.iter_mut().any(|mut kept| {
            let before = kept.len();
            kept.retain(|(_, failure)| failure.notification_id != notification_id);
            kept.len() < before
        })
    }

    /// Deletes the longest finished tasks first; each under its context's lock (contexts, then
    /// tasks: the one lock order), so that a task submitted into the context meanwhile keeps it.
    pub(super) fn prune(&self, older_than: Duration, limit: usize) -> u64 {
        let cutoff = StuckTask::cutoff(Utc::now(), older_than);
        let mut doomed: Vec<_> = self
            .tasks
            .iter()
            .filter(|stored| stored.task.is_prunable(cutoff))
            .map(|stored| (stored.task.status.timestamp, stored.task.id, stored.task.context_id))
            .collect();
        doomed.sort_unstable();
        doomed.truncate(limit);
        let mut pruned = 0;
        for (_, task_id, context_id) in doomed {
            let context = self.contexts.entry(context_id);
            if self.tasks.remove(&task_id).is_none() {
                continue;
            }
            self.webhooks.remove(&task_id);
            self.feedback.remove(&task_id);
            self.failed.remove(&task_id);
            if let Entry::Occupied(mut context) = context {
                context.get_mut().task_ids.retain(|id| *id != task_id);
                if context.get().task_ids.is_empty() {
                    context.remove();
                }
            }
            pruned += 1;
        }
        pruned
    }
}
