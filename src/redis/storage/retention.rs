//! Failed notifications (records that go with their task) and pruning of finished tasks.

use std::time::Duration;

use deadpool_redis::redis::{self, AsyncCommands, Pipeline};
use uuid::Uuid;

use super::RedisStorage;
use super::codec::{StoredTask, decode, encode, millis};
use super::lists::readable;
use super::tx::{
    MAX_CONFLICTS, abandon, contention, exec, get, read_error, server_now, unwatch, watch, write_error,
};
use crate::error::{Entity, Error, Result};
use crate::model::{FailedNotification, Page, StuckTask};
use crate::redis::pool::PooledConnection;

/// See `lua/remove_failures.lua`. Sent whole (`EVAL`), as it runs inside a `MULTI`, where a
/// script the server does not know yet could not be loaded.
const REMOVE_FAILURES: &str = include_str!("lua/remove_failures.lua");

impl RedisStorage {
    /// Queues the removal of task `id`'s failed notifications.
    pub(super) fn queue_remove_failures(&self, pipe: &mut Pipeline, id: &str) {
        pipe.cmd("EVAL")
            .arg(REMOVE_FAILURES)
            .arg(3)
            .arg(self.keys.task_failed(id))
            .arg(self.keys.failed())
            .arg(self.keys.failed_order())
            .ignore();
    }

    pub(super) async fn record_failed_notification(&self, failure: &FailedNotification) -> Result<()> {
        let what = "record_failed_notification";
        let mut conn = self.connection().await?;
        let (task_key, id) = (self.keys.task(failure.task_id), failure.notification_id.to_string());
        let value = encode(failure)?;
        // Taken before the transaction: a gap in the numbers is harmless.
        let place = self.next_sequence(&mut conn).await?;
        for _ in 0..MAX_CONFLICTS {
            watch(&mut conn, &[&task_key]).await?;
            let exists: bool = conn.exists(&task_key).await.map_err(|e| read_error(what, e))?;
            if !exists {
                return abandon(&mut conn, Err(Error::not_found(Entity::Task, failure.task_id))).await;
            }
            let mut pipe = redis::pipe();
            pipe.hset(self.keys.failed(), &id, &value).ignore();
            // NX: a record replaced keeps its place.
            pipe.cmd("ZADD").arg(self.keys.failed_order()).arg("NX").arg(place).arg(&id).ignore();
            pipe.sadd(self.keys.task_failed(failure.task_id), &id).ignore();
            if exec(&mut conn, &mut pipe, what).await? {
                return Ok(());
            }
        }
        Err(contention(what))
    }

    pub(super) async fn failed_notifications(&self, page: Page) -> Result<Vec<FailedNotification>> {
        let mut conn = self.connection().await?;
        let ids = self.ids(&mut conn, &self.keys.failed_order(), page).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let values: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.keys.failed())
            .arg(&ids)
            .query_async(&mut conn)
            .await
            .map_err(|e| read_error("failed_notifications", e))?;
        Ok(ids
            .iter()
            .zip(values)
            // A record removed between the two reads is simply not listed.
            .filter_map(|(id, text)| match decode("failed notification", &text?) {
                Ok(failure) => Some(failure),
                Err(err) => {
                    tracing::warn!(notification = %id, error = %err, "skipping a failed notification that cannot be read");
                    None
                }
            })
            .collect())
    }

    pub(super) async fn remove_failed_notification(&self, notification_id: Uuid) -> Result<bool> {
        let mut conn = self.connection().await?;
        let id = notification_id.to_string();
        let text: Option<String> = conn
            .hget(self.keys.failed(), &id)
            .await
            .map_err(|e| read_error("remove_failed_notification", e))?;
        let Some(text) = text else { return Ok(false) };
        let mut pipe = redis::pipe();
        pipe.atomic().hdel(self.keys.failed(), &id).zrem(self.keys.failed_order(), &id).ignore();
        if let Ok(failure) = decode::<FailedNotification>("failed notification", &text) {
            pipe.srem(self.keys.task_failed(failure.task_id), &id).ignore();
        }
        // Of concurrent removals, the one whose HDEL found the record reports it.
        let (removed,): (i64,) =
            pipe.query_async(&mut conn).await.map_err(|e| write_error("remove_failed_notification", e))?;
        Ok(removed == 1)
    }

    /// The longest finished first, from the finished set; one transaction per task, which also
    /// deletes its context when it was the context's last task.
    pub(super) async fn prune_tasks(&self, older_than: Duration, limit: usize) -> Result<u64> {
        let mut conn = self.connection().await?;
        let cutoff = StuckTask::cutoff(server_now(&mut conn).await?, older_than);
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(self.keys.finished())
            .arg("-inf")
            .arg(millis(cutoff))
            .arg("BYSCORE")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut conn)
            .await
            .map_err(|e| read_error("prune_tasks", e))?;
        let mut pruned = 0;
        for id in ids {
            if self.prune_task(&mut conn, &id, cutoff).await? {
                pruned += 1;
            }
        }
        Ok(pruned)
    }

    async fn prune_task(
        &self,
        conn: &mut PooledConnection,
        id: &str,
        cutoff: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        let what = "prune_tasks";
        let key = self.keys.task(id);
        for _ in 0..MAX_CONFLICTS {
            watch(conn, &[&key]).await?;
            let stored = match get(conn, &key).await? {
                Some(text) => readable(id, decode::<StoredTask>("stored task", &text)),
                None => None,
            };
            let Some(stored) = stored.filter(|stored| stored.task.is_prunable(cutoff)) else {
                // Deleted meanwhile, unreadable, or not finished after all: not ours to delete,
                // and nothing to find in the finished set any more.
                unwatch(conn).await?;
                let _: () = conn.zrem(self.keys.finished(), id).await.map_err(|e| write_error(what, e))?;
                return Ok(false);
            };
            let context_id = stored.task.context_id;
            let members = self.keys.context_tasks(context_id);
            watch(conn, &[&self.keys.context(context_id), &members]).await?;
            let first: Vec<String> = conn.zrange(&members, 0, 1).await.map_err(|e| read_error(what, e))?;
            let context = self.stored_context(conn, context_id).await?;
            let mut pipe = redis::pipe();
            self.queue_remove_task(&mut pipe, id, Some(&stored));
            pipe.zrem(&members, id).ignore();
            if first == [id]
                && let Some(context) = &context
            {
                self.queue_remove_context(&mut pipe, context_id, context.owner.as_deref());
            }
            if exec(conn, &mut pipe, what).await? {
                return Ok(true);
            }
        }
        Err(contention(what))
    }
}
