//! [`PostgresStorage`]: the storage contract on PostgreSQL.
//!
//! One file per role, each function named after the trait method it serves: `tasks` (load,
//! submit, update, compare-and-swap, owner), `claims` (claim, renew, release, stuck tasks),
//! `contexts`, `lists`, `webhooks` (webhook configs and feedback), `retention` (failed
//! notifications, pruning finished tasks) and `codec` (rows into values).

mod claims;
pub(crate) mod codec;
mod contexts;
mod lists;
mod retention;
mod tasks;
mod webhooks;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Object, Pool};
use uuid::Uuid;

use super::options::PostgresOptions;
use super::{migrations, pool};
use crate::error::Result;
use crate::model::{
    ClaimOutcome, ClaimRequest, ClaimToken, Context, ContextId, ContextSummary, FailedNotification, Feedback,
    Message, Metadata, Page, PushNotificationConfig, Renewal, StuckTask, Submission, Task, TaskId, TaskState,
    TaskUpdate,
};
use crate::storage::Storage;

/// Storage in PostgreSQL, on a deadpool connection pool.
///
/// Every operation gets a pooled connection (waiting at most `wait_timeout`) and must finish
/// within `request_timeout`; failures are classified where they happen (`postgres/error.rs`) and
/// never retried here — wrap it in [`Retrying`](crate::Retrying). Claims live beside the task
/// row (never in its JSON), and leases and cutoffs are read on the server's clock, so that
/// processes with skewed clocks agree. `Debug` hides the password.
#[derive(Debug)]
pub struct PostgresStorage {
    pool: Pool,
    options: PostgresOptions,
}

impl PostgresStorage {
    /// Connects to `url` with the default options: opens a connection (a real round trip) and
    /// brings the schema up to date. Bad credentials or an unknown database fail at once.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(PostgresOptions::from_url(url)?).await
    }

    /// Connects with `options`.
    pub async fn connect_with(options: PostgresOptions) -> Result<Self> {
        let pool = pool::build(&options)?;
        Self::from_pool(pool, options).await
    }

    /// Uses an existing pool. Its connections must use `options.schema` as their search path
    /// (as [`PostgresOptions`] sets up); the schema is migrated here.
    pub async fn from_pool(pool: Pool, options: PostgresOptions) -> Result<Self> {
        let schema = options.schema_name()?.to_owned();
        let storage = Self { pool, options };
        let applied =
            storage.on_connection(async |client| migrations::migrate(client, &schema).await).await?;
        if !applied.is_empty() {
            tracing::info!(schema, versions = ?applied, "applied schema migrations");
        }
        Ok(storage)
    }

    /// The pool, e.g. for metrics.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The options in force.
    pub fn options(&self) -> &PostgresOptions {
        &self.options
    }

    /// Runs one operation through [`pool::run`] under the request timeout.
    async fn on_connection<T>(&self, operation: impl AsyncFnOnce(&mut Object) -> Result<T>) -> Result<T> {
        pool::run(&self.pool, self.options.request_timeout, operation).await
    }

    /// [`Storage::submit_task`], then `then` in the same transaction (given the submission),
    /// then one commit: both or neither.
    pub(crate) async fn submit_then(
        &self,
        context_id: ContextId,
        message: &Message,
        owner: Option<&str>,
        then: impl AsyncFnOnce(&deadpool_postgres::Transaction<'_>, &Submission) -> Result<()>,
    ) -> Result<Submission> {
        self.options.limits.check_message(message)?;
        self.on_connection(async |client| {
            let tx = client.transaction().await.map_err(crate::postgres::error::in_transaction)?;
            let submission = tasks::submit_in(&tx, context_id, message, owner).await?;
            then(&tx, &submission).await?;
            tx.commit().await.map_err(crate::postgres::error::committing)?;
            Ok(submission)
        })
        .await
    }

    /// [`Storage::update_task`], then `then` in the same transaction, then one commit: both or
    /// neither.
    pub(crate) async fn update_then(
        &self,
        task_id: TaskId,
        update: &TaskUpdate,
        then: impl AsyncFnOnce(&deadpool_postgres::Transaction<'_>) -> Result<()>,
    ) -> Result<Task> {
        self.options.limits.check_update(update)?;
        self.on_connection(async |client| {
            let tx = client.transaction().await.map_err(crate::postgres::error::in_transaction)?;
            let task = tasks::update_in(&tx, task_id, update).await?;
            then(&tx).await?;
            tx.commit().await.map_err(crate::postgres::error::committing)?;
            Ok(task)
        })
        .await
    }
}

#[async_trait]
impl Storage for PostgresStorage {
    async fn load_task(&self, task_id: TaskId, history_length: Option<usize>) -> Result<Option<Task>> {
        self.on_connection(async |client| tasks::load_task(client, task_id, history_length).await).await
    }
    async fn submit_task(
        &self,
        context_id: ContextId,
        message: &Message,
        owner: Option<&str>,
    ) -> Result<Submission> {
        self.options.limits.check_message(message)?;
        self.on_connection(async |client| tasks::submit_task(client, context_id, message, owner).await).await
    }
    async fn update_task(&self, task_id: TaskId, update: &TaskUpdate) -> Result<Task> {
        self.options.limits.check_update(update)?;
        self.on_connection(async |client| tasks::update_task(client, task_id, update).await).await
    }
    async fn claim_task(&self, task_id: TaskId, request: &ClaimRequest) -> Result<ClaimOutcome> {
        self.on_connection(async |client| claims::claim_task(client, task_id, request).await).await
    }
    async fn renew_claim(&self, task_id: TaskId, token: ClaimToken, lease: Duration) -> Result<Renewal> {
        self.on_connection(async |client| claims::renew_claim(client, task_id, token, lease).await).await
    }
    async fn release_claim(&self, task_id: TaskId, token: ClaimToken) -> Result<()> {
        self.on_connection(async |client| claims::release_claim(client, task_id, token).await).await
    }
    async fn stuck_tasks(&self, older_than: Duration, limit: usize) -> Result<Vec<StuckTask>> {
        self.on_connection(async |client| claims::stuck_tasks(client, older_than, limit).await).await
    }
    async fn update_task_state_if(&self, task_id: TaskId, from: TaskState, to: TaskState) -> Result<bool> {
        self.on_connection(async |client| tasks::update_task_state_if(client, task_id, from, to).await).await
    }
    async fn list_tasks(&self, page: Page, owner: Option<&str>) -> Result<Vec<Task>> {
        self.on_connection(async |client| lists::list_tasks(client, page, owner).await).await
    }
    async fn count_tasks(&self, state: Option<TaskState>) -> Result<u64> {
        self.on_connection(async |client| lists::count_tasks(client, state).await).await
    }
    async fn list_tasks_by_context(
        &self,
        context_id: ContextId,
        page: Page,
        owner: Option<&str>,
    ) -> Result<Vec<Task>> {
        self.on_connection(async |client| lists::list_tasks_by_context(client, context_id, page, owner).await)
            .await
    }
    async fn load_context(&self, context_id: ContextId) -> Result<Option<Context>> {
        self.on_connection(async |client| contexts::load_context(client, context_id).await).await
    }
    async fn update_context(
        &self,
        context_id: ContextId,
        data: &Metadata,
        owner: Option<&str>,
    ) -> Result<()> {
        self.options.limits.check_metadata("context data", data)?;
        self.on_connection(async |client| contexts::update_context(client, context_id, data, owner).await)
            .await
    }
    async fn append_to_context(
        &self,
        context_id: ContextId,
        messages: &[Message],
        owner: Option<&str>,
    ) -> Result<()> {
        messages.iter().try_for_each(|message| self.options.limits.check_message(message))?;
        self.on_connection(async |client| {
            contexts::append_to_context(client, context_id, messages, owner).await
        })
        .await
    }
    async fn list_contexts(&self, page: Page, owner: Option<&str>) -> Result<Vec<ContextSummary>> {
        self.on_connection(async |client| lists::list_contexts(client, page, owner).await).await
    }
    async fn clear_context(&self, context_id: ContextId) -> Result<()> {
        self.on_connection(async |client| contexts::clear_context(client, context_id).await).await
    }
    async fn clear_all(&self) -> Result<()> {
        self.on_connection(async |client| contexts::clear_all(client).await).await
    }
    async fn save_webhook_config(&self, task_id: TaskId, config: &PushNotificationConfig) -> Result<()> {
        self.options.limits.check_webhook(config)?;
        self.on_connection(async |client| webhooks::save_webhook_config(client, task_id, config).await).await
    }
    async fn load_webhook_config(&self, task_id: TaskId) -> Result<Option<PushNotificationConfig>> {
        self.on_connection(async |client| webhooks::load_webhook_config(client, task_id).await).await
    }
    async fn delete_webhook_config(&self, task_id: TaskId) -> Result<()> {
        self.on_connection(async |client| webhooks::delete_webhook_config(client, task_id).await).await
    }
    async fn load_all_webhook_configs(&self) -> Result<HashMap<TaskId, PushNotificationConfig>> {
        self.on_connection(async |client| webhooks::load_all_webhook_configs(client).await).await
    }
    async fn store_task_feedback(&self, feedback: &Feedback) -> Result<()> {
        self.options.limits.check_feedback(feedback)?;
        self.on_connection(async |client| webhooks::store_task_feedback(client, feedback).await).await
    }
    async fn get_task_feedback(&self, task_id: TaskId) -> Result<Vec<Feedback>> {
        self.on_connection(async |client| webhooks::get_task_feedback(client, task_id).await).await
    }
    async fn get_task_owner(&self, task_id: TaskId) -> Result<Option<String>> {
        self.on_connection(async |client| tasks::get_task_owner(client, task_id).await).await
    }
    async fn get_context_owner(&self, context_id: ContextId) -> Result<Option<String>> {
        self.on_connection(async |client| contexts::get_context_owner(client, context_id).await).await
    }
    async fn record_failed_notification(&self, failure: &FailedNotification) -> Result<()> {
        self.on_connection(async |client| retention::record_failed_notification(client, failure).await).await
    }
    async fn failed_notifications(&self, page: Page) -> Result<Vec<FailedNotification>> {
        self.on_connection(async |client| retention::failed_notifications(client, page).await).await
    }
    async fn remove_failed_notification(&self, notification_id: Uuid) -> Result<bool> {
        self.on_connection(async |client| {
            retention::remove_failed_notification(client, notification_id).await
        })
        .await
    }
    async fn prune_tasks(&self, older_than: Duration, limit: usize) -> Result<u64> {
        self.on_connection(async |client| retention::prune_tasks(client, older_than, limit).await).await
    }
    async fn ping(&self) -> Result<()> {
        self.on_connection(async |client| super::pool::ping(client).await).await
    }
    async fn close(&self) -> Result<()> {
        self.pool.close();
        Ok(())
    }
}
