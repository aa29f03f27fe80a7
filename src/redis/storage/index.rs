//! What every task write queues besides the task's head and conversation, so that its indexes never disagree with
//! it: the state sets (for counts), the claim (only while `working`), the due set (for
//! [`stuck_tasks`](crate::Storage::stuck_tasks)) and the finished set (for
//! [`prune_tasks`](crate::Storage::prune_tasks)).

use chrono::{DateTime, Utc};
use deadpool_redis::redis::Pipeline;

use super::RedisStorage;
use super::codec::{StoredTask, claim_fields, encode_head, millis};
use super::conversation::Extent;
use crate::error::Result;
use crate::model::{Claim, StuckTask, Task, TaskState};

/// Since when `task` (holding `claim`) counts as stuck once the threshold has passed, if it can
/// get stuck at all: the score of its entry in the due set. [`StuckTask::of`] is the rule, asked
/// about the farthest cutoff there is.
pub(super) fn stuck_since(task: &Task, claim: Option<&Claim>) -> Option<DateTime<Utc>> {
    StuckTask::of(task, claim, DateTime::<Utc>::MAX_UTC).map(|stuck| stuck.since)
}

impl RedisStorage {
    /// Queues the writes that store `stored` as it now is — its head, and what its task holds
    /// beyond `extent` (what the write appended) — holding `claim` (`None` drops any), after
    /// being in state `before` (`None` for a new task). The head is written even when only the
    /// conversation changed: writers watch the head alone.
    pub(super) fn queue_task(
        &self,
        pipe: &mut Pipeline,
        stored: &StoredTask,
        extent: Extent,
        before: Option<TaskState>,
        claim: Option<&Claim>,
    ) -> Result<()> {
        let task = &stored.task;
        let id = task.id.to_string();
        pipe.set(self.keys.task(task.id), encode_head(stored)?).ignore();
        self.queue_append(pipe, task, extent)?;
        match before {
            None => {
                pipe.sadd(self.keys.state(task.status.state), &id).ignore();
            }
            Some(before) if before != task.status.state => {
                pipe.smove(self.keys.state(before), self.keys.state(task.status.state), &id).ignore();
            }
            Some(_) => {}
        }
        let claim = claim.filter(|_| Claim::survives(task.status.state));
        let claim_key = self.keys.claim(task.id);
        match claim {
            Some(claim) => pipe.hset_multiple(&claim_key, &claim_fields(claim)).ignore(),
            None => pipe.del(&claim_key).ignore(),
        };
        match stuck_since(task, claim) {
            Some(since) => pipe.zadd(self.keys.due(), &id, millis(since)).ignore(),
            None => pipe.zrem(self.keys.due(), &id).ignore(),
        };
        // A terminal task never changes again: it enters the finished set once.
        if task.status.state.is_terminal() {
            pipe.zadd(self.keys.finished(), &id, millis(task.status.timestamp)).ignore();
        }
        Ok(())
    }

    /// Queues the removal of a task's indexes, claim and due entry (not its head nor its
    /// conversation).
    pub(super) fn queue_unindex(&self, pipe: &mut Pipeline, stored: &StoredTask) {
        let id = stored.task.id;
        pipe.del(self.keys.claim(id)).ignore();
        pipe.zrem(self.keys.due(), id.to_string()).ignore();
        pipe.zrem(self.keys.finished(), id.to_string()).ignore();
        pipe.zrem(self.keys.tasks(), id.to_string()).ignore();
        pipe.srem(self.keys.state(stored.task.status.state), id.to_string()).ignore();
        if let Some(owner) = &stored.owner {
            pipe.zrem(self.keys.owner_tasks(owner), id.to_string()).ignore();
        }
    }
}
