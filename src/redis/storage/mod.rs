//! [`RedisStorage`]: the storage contract on Redis.
//!
//! One JSON value per context and per task head (a task without its conversation), a task's
//! messages and artifacts in lists of their own (so that appending costs what it appends and
//! reading the last *n* messages costs *n*; see `conversation`), sorted sets (scored by a creation counter) for the
//! ordered lists — overall, per owner, per context — and a set per state for counts; keys under
//! the prefix's hash tag (see [`StorageKeys`](keys::StorageKeys)). Every write is an optimistic
//! transaction: `WATCH` the keys, read, decide with the same rules as every backend
//! ([`Task::admit`](crate::Task::admit), [`TaskUpdate::check`](crate::TaskUpdate::check),
//! [`ClaimRequest::decide`](crate::ClaimRequest::decide)), `MULTI`/`EXEC`; a concurrent change
//! makes `EXEC` a no-op and the write starts over. So `submit_task`, `claim_task` and the
//! compare-and-swap are atomic, and writes keep their idempotency keys.
//!
//! A claim is a hash beside its task (never in the task's JSON), present only while the task is
//! `working`: every write that moves the task elsewhere deletes it in the same transaction.
//! Leases and cutoffs are measured on the server's clock (`TIME`). Renewing and releasing are
//! compare-and-set scripts on the claim's key alone. The due set scores each task that can get
//! stuck by when it is stuck from, and moves with every write, so `stuck_tasks` is one range
//! query; the finished set scores each terminal task by when it finished, so `prune_tasks` is one
//! too. Failed notifications are a hash with a sorted set for their order and a set per task, so
//! that they go with their task. Data written by earlier layouts is indexed, and its tasks split into
//! head and conversation, once on connect (see `migration`).

mod claims;
mod clear;
mod codec;
mod contexts;
mod conversation;
mod feedback;
mod index;
mod keys;
mod lists;
mod migration;
mod retention;
mod tasks;
mod tx;
mod webhooks;

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::Pool;
use deadpool_redis::redis;
use uuid::Uuid;

use self::keys::StorageKeys;
use super::RedisOptions;
use super::error::connect_error;
use super::pool::{self, PooledConnection};
use crate::error::{Error, Result};
use crate::model::{
    ClaimOutcome, ClaimRequest, ClaimToken, Context, ContextId, ContextSummary, FailedNotification, Feedback,
    Message, Metadata, Page, PushNotificationConfig, Renewal, StuckTask, Submission, Task, TaskId, TaskState,
    TaskUpdate,
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
    /// Connects to `url` with the default [`RedisOptions`].
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(RedisOptions::from_url(url)?).await
    }

    /// Connects with `options`: a `PING` round trip, a look at the server's eviction policy, and
    /// (once per prefix) bringing data written by earlier releases to the current layout.
    pub async fn connect_with(options: RedisOptions) -> Result<Self> {
        options.validate()?;
        let pool = pool::build(&options)?;
        let storage = Self { pool, keys: StorageKeys::new(&options.prefix), options };
        let mut conn = storage.connection().await?;
        redis::cmd("PING").query_async::<()>(&mut conn).await.map_err(|e| connect_error("connect", e))?;
        pool::warn_unless_noeviction(&mut conn, &storage.options.redacted_url(), "storage").await;
        drop(conn);
        storage.migrate().await?;
        Ok(storage)
    }

    /// The options in force.
    pub fn options(&self) -> &RedisOptions {
        &self.options
    }

    async fn connection(&self) -> Result<PooledConnection> {
        PooledConnection::get(&self.pool, "storage").await.map_err(|err| match err {
            Error::Closed(_) => Error::Closed("redis storage"),
            other => other,
        })
    }
}

#[async_trait]
impl Storage for RedisStorage {
    async fn load_task(&self, task_id: TaskId, history_length: Option<usize>) -> Result<Option<Task>> {
        RedisStorage::load_task(self, task_id, history_length).await
    }
    async fn submit_task(
        &self,
        context_id: ContextId,
        message: &Message,
        owner: Option<&str>,
    ) -> Result<Submission> {
        self.options.limits.check_message(message)?;
        RedisStorage::submit_task(self, context_id, message, owner).await
    }
    async fn update_task(&self, task_id: TaskId, update: &TaskUpdate) -> Result<Task> {
        self.options.limits.check_update(update)?;
        RedisStorage::update_task(self, task_id, update).await
    }
    async fn claim_task(&self, task_id: TaskId, request: &ClaimRequest) -> Result<ClaimOutcome> {
        RedisStorage::claim_task(self, task_id, request).await
    }
    async fn renew_claim(&self, task_id: TaskId, token: ClaimToken, lease: Duration) -> Result<Renewal> {
        RedisStorage::renew_claim(self, task_id, token, lease).await
    }
    async fn release_claim(&self, task_id: TaskId, token: ClaimToken) -> Result<()> {
        RedisStorage::release_claim(self, task_id, token).await
    }
    async fn stuck_tasks(&self, older_than: Duration, limit: usize) -> Result<Vec<StuckTask>> {
        RedisStorage::stuck_tasks(self, older_than, limit).await
    }
    async fn update_task_state_if(&self, task_id: TaskId, from: TaskState, to: TaskState) -> Result<bool> {
        RedisStorage::update_task_state_if(self, task_id, from, to).await
    }
    async fn list_tasks(&self, page: Page, owner: Option<&str>) -> Result<Vec<Task>> {
        RedisStorage::list_tasks(self, page, owner).await
    }
    async fn count_tasks(&self, state: Option<TaskState>) -> Result<u64> {
        RedisStorage::count_tasks(self, state).await
    }
    async fn list_tasks_by_context(
        &self,
        context_id: ContextId,
        page: Page,
        owner: Option<&str>,
    ) -> Result<Vec<Task>> {
        RedisStorage::list_tasks_by_context(self, context_id, page, owner).await
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
        self.options.limits.check_metadata("context data", data)?;
        RedisStorage::update_context(self, context_id, data, owner).await
    }
    async fn append_to_context(
        &self,
        context_id: ContextId,
        messages: &[Message],
        owner: Option<&str>,
    ) -> Result<()> {
        messages.iter().try_for_each(|message| self.options.limits.check_message(message))?;
        RedisStorage::append_to_context(self, context_id, messages, owner).await
    }
    async fn list_contexts(&self, page: Page, owner: Option<&str>) -> Result<Vec<ContextSummary>> {
        RedisStorage::list_contexts(self, page, owner).await
    }
    async fn clear_context(&self, context_id: ContextId) -> Result<()> {
        RedisStorage::clear_context(self, context_id).await
    }
    async fn clear_all(&self) -> Result<()> {
        RedisStorage::clear_all(self).await
    }
    async fn save_webhook_config(&self, task_id: TaskId, config: &PushNotificationConfig) -> Result<()> {
        self.options.limits.check_webhook(config)?;
        RedisStorage::save_webhook_config(self, task_id, config).await
    }
    async fn load_webhook_config(&self, task_id: TaskId) -> Result<Option<PushNotificationConfig>> {
        RedisStorage::load_webhook_config(self, task_id).await
    }
    async fn delete_webhook_config(&self, task_id: TaskId) -> Result<()> {
        RedisStorage::delete_webhook_config(self, task_id).await
    }
    async fn load_all_webhook_configs(&self) -> Result<HashMap<TaskId, PushNotificationConfig>> {
        RedisStorage::load_all_webhook_configs(self).await
    }
    async fn store_task_feedback(&self, feedback: &Feedback) -> Result<()> {
        self.options.limits.check_feedback(feedback)?;
        RedisStorage::store_task_feedback(self, feedback).await
    }
    async fn get_task_feedback(&self, task_id: TaskId) -> Result<Vec<Feedback>> {
        RedisStorage::get_task_feedback(self, task_id).await
    }
    async fn get_task_owner(&self, task_id: TaskId) -> Result<Option<String>> {
        RedisStorage::get_task_owner(self, task_id).await
    }
    async fn get_context_owner(&self, context_id: ContextId) -> Result<Option<String>> {
        RedisStorage::get_context_owner(self, context_id).await
    }
    async fn record_failed_notification(&self, failure: &FailedNotification) -> Result<()> {
        RedisStorage::record_failed_notification(self, failure).await
    }
    async fn failed_notifications(&self, page: Page) -> Result<Vec<FailedNotification>> {
        RedisStorage::failed_notifications(self, page).await
    }
    async fn remove_failed_notification(&self, notification_id: Uuid) -> Result<bool> {
        RedisStorage::remove_failed_notification(self, notification_id).await
    }
    async fn prune_tasks(&self, older_than: Duration, limit: usize) -> Result<u64> {
        RedisStorage::prune_tasks(self, older_than, limit).await
    }
    async fn ping(&self) -> Result<()> {
        super::pool::ping(&mut self.connection().await?).await
    }
    async fn close(&self) -> Result<()> {
        self.pool.close();
        Ok(())
    }
}
