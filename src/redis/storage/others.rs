//! Webhook configs, feedback, owners, counts, and wiping a prefix.

use std::collections::HashMap;

use deadpool_redis::redis::{self, AsyncCommands};

use super::RedisStorage;
use super::records::{decode, encode};
use super::tx::{MAX_CONFLICTS, contention, exec, get, read_error, unwatch, watch, write_error};
use crate::error::{Entity, Error, Result};
use crate::model::{ContextId, Feedback, PushNotificationConfig, TaskId, TaskState};

impl RedisStorage {
    /// Writes `pipe` only while the task exists (so that no config or feedback outlives it).
    async fn while_task_exists(
        &self,
        task_id: TaskId,
        what: &str,
        extra_watch: &str,
        build: impl Fn(Option<String>) -> Result<Option<redis::Pipeline>>,
    ) -> Result<()> {
        let mut conn = self.connection().await?;
        let task_key = self.keys.task(task_id);
        for _ in 0..MAX_CONFLICTS {
            watch(&mut conn, &[&task_key, extra_watch]).await?;
            let exists: bool = conn.exists(&task_key).await.map_err(|e| read_error(what, e))?;
            if !exists {
                unwatch(&mut conn).await?;
                return Err(Error::not_found(Entity::Task, task_id));
            }
            let current = get(&mut conn, extra_watch).await?;
            let Some(mut pipe) = build(current)? else {
                unwatch(&mut conn).await?;
                return Ok(());
            };
            if exec(&mut conn, &mut pipe, what).await? {
                return Ok(());
            }
        }
        Err(contention(what))
    }

    pub(crate) async fn save_webhook(&self, task_id: TaskId, config: &PushNotificationConfig) -> Result<()> {
        let key = self.keys.webhook(task_id);
        let value = encode(config)?;
        self.while_task_exists(task_id, "save_webhook_config", &key, |_| {
            let mut pipe = redis::pipe();
            pipe.set(&key, &value).ignore().sadd(self.keys.webhooks(), task_id.to_string()).ignore();
            Ok(Some(pipe))
        })
        .await
    }

    pub(crate) async fn load_webhook(&self, task_id: TaskId) -> Result<Option<PushNotificationConfig>> {
        let mut conn = self.connection().await?;
        get(&mut conn, &self.keys.webhook(task_id))
            .await?
            .map(|text| decode("webhook config", &text))
            .transpose()
    }

    pub(crate) async fn delete_webhook(&self, task_id: TaskId) -> Result<()> {
        let mut conn = self.connection().await?;
        redis::pipe()
            .atomic()
            .del(self.keys.webhook(task_id))
            .ignore()
            .srem(self.keys.webhooks(), task_id.to_string())
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| write_error("delete_webhook_config", e))
    }

    pub(crate) async fn all_webhooks(&self) -> Result<HashMap<TaskId, PushNotificationConfig>> {
        let mut conn = self.connection().await?;
        let ids: Vec<String> =
            conn.smembers(self.keys.webhooks()).await.map_err(|e| read_error("webhooks", e))?;
        let mut configs = HashMap::with_capacity(ids.len());
        for id in ids {
            let task_id: TaskId = id
                .parse()
                .map_err(|e: Error| Error::Decode { what: "webhook index", reason: e.to_string() })?;
            if let Some(text) = get(&mut conn, &self.keys.webhook(task_id)).await? {
                configs.insert(task_id, decode("webhook config", &text)?);
            }
        }
        Ok(configs)
    }

    pub(crate) async fn store_feedback(&self, feedback: &Feedback) -> Result<()> {
        let key = self.keys.feedback(feedback.task_id);
        self.while_task_exists(feedback.task_id, "store_task_feedback", &key, |current| {
            let mut stored: Vec<Feedback> =
                current.map(|text| decode("feedback", &text)).transpose()?.unwrap_or_default();
            if stored.iter().any(|f| f.id == feedback.id) {
                return Ok(None);
            }
            stored.push(feedback.clone());
            let mut pipe = redis::pipe();
            pipe.set(&key, encode(&stored)?).ignore();
            Ok(Some(pipe))
        })
        .await
    }

    pub(crate) async fn feedback(&self, task_id: TaskId) -> Result<Vec<Feedback>> {
        let mut conn = self.connection().await?;
        Ok(get(&mut conn, &self.keys.feedback(task_id))
            .await?
            .map(|t| decode("feedback", &t))
            .transpose()?
            .unwrap_or_default())
    }

    pub(crate) async fn task_owner(&self, task_id: TaskId) -> Result<Option<String>> {
        let mut conn = self.connection().await?;
        match self.load_stored(&mut conn, task_id).await? {
            Some(stored) => Ok(stored.owner),
            None => Err(Error::not_found(Entity::Task, task_id)),
        }
    }

    pub(crate) async fn context_owner(&self, context_id: ContextId) -> Result<Option<String>> {
        let mut conn = self.connection().await?;
        let text = get(&mut conn, &self.keys.context(context_id)).await?;
        let Some(text) = text else { return Err(Error::not_found(Entity::Context, context_id)) };
        Ok(decode::<super::records::StoredContext>("stored context", &text)?.owner)
    }

    pub(crate) async fn count(&self, state: Option<TaskState>) -> Result<u64> {
        let mut conn = self.connection().await?;
        match state {
            None => conn.zcard(self.keys.tasks()).await,
            Some(state) => conn.scard(self.keys.state(state)).await,
        }
        .map_err(|e| read_error("count_tasks", e))
    }

    /// Deletes every key of this prefix (`SCAN` + `UNLINK` in batches): other prefixes are not
    /// touched.
    pub(crate) async fn wipe(&self) -> Result<()> {
        let mut conn = self.connection().await?;
        let pattern = self.keys.pattern();
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await
                .map_err(|e| read_error("clear_all", e))?;
            if !keys.is_empty() {
                redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(|e| write_error("clear_all", e))?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}
