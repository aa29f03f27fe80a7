//! [`RedisStorage`]: the storage contract on Redis.
//!
//! One JSON value per task and per context, sorted sets (scored by a creation counter) for the
//! ordered lists — overall, per owner, per context — and a set per state for counts; keys under
//! the prefix's hash tag (see [`StorageKeys`](keys::StorageKeys)). Every write is an optimistic
//! transaction: `WATCH` the keys, read, decide with the same state-machine rules as every
//! backend, `MULTI`/`EXEC`; a concurrent change makes `EXEC` a no-op and the write starts over.
//! So `submit_task` and the compare-and-swap are atomic, and writes keep their idempotency keys.

mod contexts;
mod keys;
mod others;
mod records;
mod tasks;
mod tx;

use std::collections::HashMap;
use std::fmt;

use async_trait::async_trait;
use deadpool_redis::{Connection, Pool};

use self::keys::StorageKeys;
use super::RedisOptions;
use super::error::pool_error;
use crate::error::{Error, Result};
use crate::model::{
    Context, ContextId, ContextSummary, Feedback, Message, Metadata, Page, PushNotificationConfig,
    Submission, Task, TaskId, TaskState, TaskUpdate,
};
use crate::storage::Storage;

/// Storage on Redis. `Debug` hides the password.
pub struct RedisStorage {
    pool: Pool,
    keys: StorageKeys,
    options: RedisOptions,
}

impl fmt::Debug for RedisStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStorage").field("options", &self.options).finish_non_exhaustive()
    }
}

impl RedisStorage {
    /// Connects to `url` with the default [`RedisOptions`] (a `PING` round trip).
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(RedisOptions::from_url(url)?).await
    }

    /// Connects with `options` (only the URL, prefix, pool and timeouts matter here).
    pub async fn connect_with(options: RedisOptions) -> Result<Self> {
        options.validate()?;
        let pool = super::pool::build(&options)?;
        let storage = Self { pool, keys: StorageKeys::new(&options.prefix), options };
        let mut conn = storage.connection().await?;
        deadpool_redis::redis::cmd("PING")
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| super::error::connect_error("connect", e))?;
        Ok(storage)
    }

    /// The options in force.
    pub fn options(&self) -> &RedisOptions {
        &self.options
    }

    async fn connection(&self) -> Result<Connection> {
        self.pool.get().await.map_err(|err| match pool_error("storage", err) {
            Error::Closed(_) => Error::Closed("redis storage"),
            other => other,
        })
    }
}

#[async_trait]
impl Storage for RedisStorage {
    async fn load_task(&self, task_id: TaskId, history_length: Option<usize>) -> Result<Option<Task>> {
        self.load(task_id, history_length).await
    }
    async fn submit_task(
        &self,
        context_id: ContextId,
        message: &Message,
        owner: Option<&str>,
    ) -> Result<Submission> {
        self.submit(context_id, message, owner).await
    }
    async fn update_task(&self, task_id: TaskId, update: &TaskUpdate) -> Result<Task> {
        self.update(task_id, update).await
    }
    async fn update_task_state_if(&self, task_id: TaskId, from: TaskState, to: TaskState) -> Result<bool> {
        self.update_state_if(task_id, from, to).await
    }
    async fn list_tasks(&self, page: Page, owner: Option<&str>) -> Result<Vec<Task>> {
        self.list(page, owner).await
    }
    async fn count_tasks(&self, state: Option<TaskState>) -> Result<u64> {
        self.count(state).await
    }
    async fn list_tasks_by_context(
        &self,
        context_id: ContextId,
        page: Page,
        owner: Option<&str>,
    ) -> Result<Vec<Task>> {
        self.list_by_context(context_id, page, owner).await
    }
    async fn load_context(&self, context_id: ContextId) -> Result<Option<Context>> {
        RedisStorage::load_context(self, context_id).await
    }
    async fn update_context(
        &self,
        context_id: ContextId,
        data: &Metadata,
        owner: Option<&str>,
    ) -> Result<()> {
        self.replace_context_data(context_id, data, owner).await
    }
    async fn append_to_context(
        &self,
        context_id: ContextId,
        messages: &[Message],
        owner: Option<&str>,
    ) -> Result<()> {
        self.append_context_messages(context_id, messages, owner).await
    }
    async fn list_contexts(&self, page: Page, owner: Option<&str>) -> Result<Vec<ContextSummary>> {
        RedisStorage::list_contexts(self, page, owner).await
    }
    async fn clear_context(&self, context_id: ContextId) -> Result<()> {
        RedisStorage::clear_context(self, context_id).await
    }
    async fn clear_all(&self) -> Result<()> {
        self.wipe().await
    }
    async fn save_webhook_config(&self, task_id: TaskId, config: &PushNotificationConfig) -> Result<()> {
        self.save_webhook(task_id, config).await
    }
    async fn load_webhook_config(&self, task_id: TaskId) -> Result<Option<PushNotificationConfig>> {
        self.load_webhook(task_id).await
    }
    async fn delete_webhook_config(&self, task_id: TaskId) -> Result<()> {
        self.delete_webhook(task_id).await
    }
    async fn load_all_webhook_configs(&self) -> Result<HashMap<TaskId, PushNotificationConfig>> {
        self.all_webhooks().await
    }
    async fn store_task_feedback(&self, feedback: &Feedback) -> Result<()> {
        self.store_feedback(feedback).await
    }
    async fn get_task_feedback(&self, task_id: TaskId) -> Result<Vec<Feedback>> {
        self.feedback(task_id).await
    }
    async fn get_task_owner(&self, task_id: TaskId) -> Result<Option<String>> {
        self.task_owner(task_id).await
    }
    async fn get_context_owner(&self, context_id: ContextId) -> Result<Option<String>> {
        self.context_owner(context_id).await
    }
    async fn close(&self) -> Result<()> {
        self.pool.close();
        Ok(())
    }
}
