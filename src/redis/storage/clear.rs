//! Deleting: a context with everything of its tasks, or every key of the prefix.

use deadpool_redis::redis::{self, Pipeline};

use super::RedisStorage;
use super::codec::StoredTask;
use super::migration::SCHEMA_VERSION;
use super::tx::{MAX_CONFLICTS, abandon, contention, exec, scan, watch, write_error};
use crate::error::{Entity, Error, Result};
use crate::model::{ContextId, Page, TaskState};

impl RedisStorage {
    pub(super) async fn clear_context(&self, context_id: ContextId) -> Result<()> {
        let mut conn = self.connection().await?;
        let (key, members) = (self.keys.context(context_id), self.keys.context_tasks(context_id));
        for _ in 0..MAX_CONFLICTS {
            watch(&mut conn, &[&key, &members]).await?;
            let Some(context) = self.stored_context(&mut conn, context_id).await? else {
                return abandon(&mut conn, Err(Error::not_found(Entity::Context, context_id))).await;
            };
            let ids = self.ids(&mut conn, &members, Page::ALL).await?;
            let tasks = self.read_heads(&mut conn, &ids).await?;
            let mut pipe = redis::pipe();
            for (id, stored) in &tasks {
                self.queue_remove_task(&mut pipe, id, stored.as_ref().ok());
            }
            self.queue_remove_context(&mut pipe, context_id, context.owner.as_deref());
            if exec(&mut conn, &mut pipe, "clear_context").await? {
                return Ok(());
            }
        }
        Err(contention("clear_context"))
    }

    /// Queues the removal of context `context_id` (owned by `owner`) and its task list.
    pub(super) fn queue_remove_context(
        &self,
        pipe: &mut Pipeline,
        context_id: ContextId,
        owner: Option<&str>,
    ) {
        pipe.del(self.keys.context(context_id)).ignore().del(self.keys.context_tasks(context_id)).ignore();
        pipe.zrem(self.keys.contexts(), context_id.to_string()).ignore();
        if let Some(owner) = owner {
            pipe.zrem(self.keys.owner_contexts(owner), context_id.to_string()).ignore();
        }
    }

    /// Queues the removal of task `id` with everything hanging off it. Without its record (it
    /// cannot be read) it is taken out of every state set.
    pub(super) fn queue_remove_task(&self, pipe: &mut Pipeline, id: &str, stored: Option<&StoredTask>) {
        pipe.del(self.keys.task(id)).ignore();
        self.queue_remove_conversation(pipe, id);
        pipe.del(self.keys.webhook(id)).ignore().srem(self.keys.webhooks(), id).ignore();
        pipe.del(self.keys.feedback(id)).ignore();
        self.queue_remove_failures(pipe, id);
        match stored {
            Some(stored) => self.queue_unindex(pipe, stored),
            None => {
                pipe.del(self.keys.claim(id)).ignore();
                pipe.zrem(self.keys.due(), id).ignore().zrem(self.keys.tasks(), id).ignore();
                pipe.zrem(self.keys.finished(), id).ignore();
                for state in TaskState::ALL {
                    pipe.srem(self.keys.state(state), id).ignore();
                }
            }
        }
    }

    /// Deletes every key of this prefix (`SCAN` + `UNLINK` in batches): other prefixes are not
    /// touched. The layout version is written again: the data left is in the current layout.
    pub(super) async fn clear_all(&self) -> Result<()> {
        let mut conn = self.connection().await?;
        let pattern = self.keys.pattern();
        let mut cursor: u64 = 0;
        loop {
            let (next, keys) = scan(&mut conn, cursor, &pattern, 500, "clear_all").await?;
            if !keys.is_empty() {
                redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(|e| write_error("clear_all", e))?;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        redis::cmd("SET")
            .arg(self.keys.schema())
            .arg(SCHEMA_VERSION)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| write_error("clear_all", e))
    }
}
