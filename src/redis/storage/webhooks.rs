//! Webhook configs: one per task, and a set of the tasks that have one.

use std::collections::HashMap;

use deadpool_redis::redis::{self, AsyncCommands};

use super::RedisStorage;
use super::codec::{decode, encode};
use super::tx::{get, read_error, write_error};
use crate::error::Result;
use crate::model::{PushNotificationConfig, TaskId};

impl RedisStorage {
    pub(super) async fn save_webhook_config(
        &self,
        task_id: TaskId,
        config: &PushNotificationConfig,
    ) -> Result<()> {
        let key = self.keys.webhook(task_id);
        let value = encode(config)?;
        self.while_task_exists(task_id, "save_webhook_config", &key, |_| {
            let mut pipe = redis::pipe();
            pipe.set(&key, &value).ignore().sadd(self.keys.webhooks(), task_id.to_string()).ignore();
            Ok(Some(pipe))
        })
        .await
    }

    pub(super) async fn load_webhook_config(
        &self,
        task_id: TaskId,
    ) -> Result<Option<PushNotificationConfig>> {
        let mut conn = self.connection().await?;
        get(&mut conn, &self.keys.webhook(task_id))
            .await?
            .map(|text| decode("webhook config", &text))
            .transpose()
    }

    pub(super) async fn delete_webhook_config(&self, task_id: TaskId) -> Result<()> {
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

    /// Every config that can be read; one that cannot is skipped (and logged), so that it does
    /// not keep every other task's notifications from resuming.
    pub(super) async fn load_all_webhook_configs(&self) -> Result<HashMap<TaskId, PushNotificationConfig>> {
        let mut conn = self.connection().await?;
        let ids: Vec<String> =
            conn.smembers(self.keys.webhooks()).await.map_err(|e| read_error("webhooks", e))?;
        let mut configs = HashMap::with_capacity(ids.len());
        for id in ids {
            let Ok(task_id) = id.parse::<TaskId>() else {
                tracing::warn!(id = %id, "skipping a webhook index entry that is not a task id");
                continue;
            };
            let Some(text) = get(&mut conn, &self.keys.webhook(task_id)).await? else { continue };
            match decode("webhook config", &text) {
                Ok(config) => {
                    configs.insert(task_id, config);
                }
                Err(err) => {
                    tracing::warn!(task = %task_id, error = %err, "skipping a webhook config that cannot be read")
                }
            }
        }
        Ok(configs)
    }
}
