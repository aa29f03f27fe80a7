//! [`PostgresStorage`]: the storage contract on PostgreSQL.

use std::collections::HashMap;

use async_trait::async_trait;
use deadpool_postgres::Pool;

use super::error::timed_out;
use super::options::PostgresOptions;
use super::pool::{self, Checkout};
use super::{contexts, lists, migrations, records, tasks};
use crate::error::Result;
use crate::model::{
    Context, ContextId, ContextSummary, Feedback, Message, Metadata, Page, PushNotificationConfig,
    Submission, Task, TaskId, TaskState, TaskUpdate,
};
use crate::storage::Storage;

/// Storage in PostgreSQL, on a deadpool connection pool.
///
/// Every operation gets a pooled connection (waiting at most `wait_timeout`) and must finish
/// within `request_timeout`; failures are classified where they happen (`postgres/error.rs`) and
/// never retried here — wrap it in [`Retrying`](crate::Retrying). `Debug` hides the password.
#[derive(Debug)]
pub struct PostgresStorage {
    pool: Pool,
    options: PostgresOptions,
}

/// Runs one operation on a pooled connection under the request timeout.
macro_rules! on_connection {
    ($self:ident, |$client:ident| $body:expr) => {{
        let mut checkout = Checkout::get(&$self.pool).await?;
        let $client = checkout.client();
        match tokio::time::timeout($self.options.request_timeout, $body).await {
            Ok(result) => {
                checkout.release();
                result
            }
            // The checkout is dropped unreleased: the possibly stuck connection is closed.
            Err(_) => Err(timed_out($self.options.request_timeout)),
        }
    }};
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
        let applied = on_connection!(storage, |client| migrations::migrate(client, &schema));
        let applied = applied?;
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
}

#[async_trait]
impl Storage for PostgresStorage {
    async fn load_task(&self, task_id: TaskId, history_length: Option<usize>) -> Result<Option<Task>> {
        on_connection!(self, |client| tasks::load(client, task_id, history_length))
    }
    async fn submit_task(
        &self,
        context_id: ContextId,
        message: &Message,
        owner: Option<&str>,
    ) -> Result<Submission> {
        on_connection!(self, |client| tasks::submit(client, context_id, message, owner))
    }
    async fn update_task(&self, task_id: TaskId, update: &TaskUpdate) -> Result<Task> {
        on_connection!(self, |client| tasks::update(client, task_id, update))
    }
    async fn update_task_state_if(&self, task_id: TaskId, from: TaskState, to: TaskState) -> Result<bool> {
        on_connection!(self, |client| tasks::update_state_if(client, task_id, from, to))
    }
    async fn list_tasks(&self, page: Page, owner: Option<&str>) -> Result<Vec<Task>> {
        on_connection!(self, |client| lists::tasks(client, page, owner))
    }
    async fn count_tasks(&self, state: Option<TaskState>) -> Result<u64> {
        on_connection!(self, |client| lists::count(client, state))
    }
    async fn list_tasks_by_context(
        &self,
        context_id: ContextId,
        page: Page,
        owner: Option<&str>,
    ) -> Result<Vec<Task>> {
        on_connection!(self, |client| lists::tasks_by_context(client, context_id, page, owner))
    }
    async fn load_context(&self, context_id: ContextId) -> Result<Option<Context>> {
        on_connection!(self, |client| contexts::load(client, context_id))
    }
    async fn update_context(
        &self,
        context_id: ContextId,
        data: &Metadata,
        owner: Option<&str>,
    ) -> Result<()> {
        on_connection!(self, |client| contexts::replace_data(client, context_id, data, owner))
    }
    async fn append_to_context(
        &self,
        context_id: ContextId,
        messages: &[Message],
        owner: Option<&str>,
    ) -> Result<()> {
        on_connection!(self, |client| contexts::append(client, context_id, messages, owner))
    }
    async fn list_contexts(&self, page: Page, owner: Option<&str>) -> Result<Vec<ContextSummary>> {
        on_connection!(self, |client| lists::contexts(client, page, owner))
    }
    async fn clear_context(&self, context_id: ContextId) -> Result<()> {
        on_connection!(self, |client| contexts::clear(client, context_id))
    }
    async fn clear_all(&self) -> Result<()> {
        on_connection!(self, |client| records::clear_all(client))
    }
    async fn save_webhook_config(&self, task_id: TaskId, config: &PushNotificationConfig) -> Result<()> {
        on_connection!(self, |client| records::save_webhook(client, task_id, config))
    }
    async fn load_webhook_config(&self, task_id: TaskId) -> Result<Option<PushNotificationConfig>> {
        on_connection!(self, |client| records::load_webhook(client, task_id))
    }
    async fn delete_webhook_config(&self, task_id: TaskId) -> Result<()> {
        on_connection!(self, |client| records::delete_webhook(client, task_id))
    }
    async fn load_all_webhook_configs(&self) -> Result<HashMap<TaskId, PushNotificationConfig>> {
        on_connection!(self, |client| records::all_webhooks(client))
    }
    async fn store_task_feedback(&self, feedback: &Feedback) -> Result<()> {
        on_connection!(self, |client| records::store_feedback(client, feedback))
    }
    async fn get_task_feedback(&self, task_id: TaskId) -> Result<Vec<Feedback>> {
        on_connection!(self, |client| records::feedback(client, task_id))
    }
    async fn get_task_owner(&self, task_id: TaskId) -> Result<Option<String>> {
        on_connection!(self, |client| records::task_owner(client, task_id))
    }
    async fn get_context_owner(&self, context_id: ContextId) -> Result<Option<String>> {
        on_connection!(self, |client| records::context_owner(client, context_id))
    }
    async fn close(&self) -> Result<()> {
        self.pool.close();
        Ok(())
    }
}
