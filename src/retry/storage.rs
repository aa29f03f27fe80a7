//! `Retrying<S>` as a [`Storage`]: every method is the inner call through the one helper.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{Call, Retrying};
use crate::error::Result;
use crate::model::{
    Context, ContextId, ContextSummary, Feedback, Message, Metadata, Page, PushNotificationConfig,
    Submission, Task, TaskId, TaskState, TaskUpdate,
};
use crate::storage::Storage;

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Storage> Storage for Retrying<S> {
    async fn load_task(&self, task_id: TaskId, history_length: Option<usize>) -> Result<Option<Task>> {
        self.call(Call::LOAD_TASK, || self.inner.load_task(task_id, history_length)).await
    }
    async fn submit_task(
        &self,
        context_id: ContextId,
        message: &Message,
        owner: Option<&str>,
    ) -> Result<Submission> {
        self.call(Call::SUBMIT_TASK, || self.inner.submit_task(context_id, message, owner)).await
    }
    async fn update_task(&self, task_id: TaskId, update: &TaskUpdate) -> Result<Task> {
        self.call(Call::UPDATE_TASK, || self.inner.update_task(task_id, update)).await
    }
    async fn update_task_state_if(&self, task_id: TaskId, from: TaskState, to: TaskState) -> Result<bool> {
        self.call(Call::UPDATE_TASK_STATE_IF, || self.inner.update_task_state_if(task_id, from, to)).await
    }
    async fn list_tasks(&self, page: Page, owner: Option<&str>) -> Result<Vec<Task>> {
        self.call(Call::LIST_TASKS, || self.inner.list_tasks(page, owner)).await
    }
    async fn count_tasks(&self, state: Option<TaskState>) -> Result<u64> {
        self.call(Call::COUNT_TASKS, || self.inner.count_tasks(state)).await
    }
    async fn list_tasks_by_context(
        &self,
        context_id: ContextId,
        page: Page,
        owner: Option<&str>,
    ) -> Result<Vec<Task>> {
        self.call(Call::LIST_TASKS_BY_CONTEXT, || self.inner.list_tasks_by_context(context_id, page, owner))
            .await
    }
    async fn load_context(&self, context_id: ContextId) -> Result<Option<Context>> {
        self.call(Call::LOAD_CONTEXT, || self.inner.load_context(context_id)).await
    }
    async fn update_context(
        &self,
        context_id: ContextId,
        data: &Metadata,
        owner: Option<&str>,
    ) -> Result<()> {
        self.call(Call::UPDATE_CONTEXT, || self.inner.update_context(context_id, data, owner)).await
    }
    async fn append_to_context(
        &self,
        context_id: ContextId,
        messages: &[Message],
        owner: Option<&str>,
    ) -> Result<()> {
        self.call(Call::APPEND_TO_CONTEXT, || self.inner.append_to_context(context_id, messages, owner)).await
    }
    async fn list_contexts(&self, page: Page, owner: Option<&str>) -> Result<Vec<ContextSummary>> {
        self.call(Call::LIST_CONTEXTS, || self.inner.list_contexts(page, owner)).await
    }
    async fn clear_context(&self, context_id: ContextId) -> Result<()> {
        self.call(Call::CLEAR_CONTEXT, || self.inner.clear_context(context_id)).await
    }
    async fn clear_all(&self) -> Result<()> {
        self.call(Call::CLEAR_ALL, || self.inner.clear_all()).await
    }
    async fn save_webhook_config(&self, task_id: TaskId, config: &PushNotificationConfig) -> Result<()> {
        self.call(Call::SAVE_WEBHOOK_CONFIG, || self.inner.save_webhook_config(task_id, config)).await
    }
    async fn load_webhook_config(&self, task_id: TaskId) -> Result<Option<PushNotificationConfig>> {
        self.call(Call::LOAD_WEBHOOK_CONFIG, || self.inner.load_webhook_config(task_id)).await
    }
    async fn delete_webhook_config(&self, task_id: TaskId) -> Result<()> {
        self.call(Call::DELETE_WEBHOOK_CONFIG, || self.inner.delete_webhook_config(task_id)).await
    }
    async fn load_all_webhook_configs(&self) -> Result<HashMap<TaskId, PushNotificationConfig>> {
        self.call(Call::LOAD_ALL_WEBHOOK_CONFIGS, || self.inner.load_all_webhook_configs()).await
    }
    async fn store_task_feedback(&self, feedback: &Feedback) -> Result<()> {
        self.call(Call::STORE_TASK_FEEDBACK, || self.inner.store_task_feedback(feedback)).await
    }
    async fn get_task_feedback(&self, task_id: TaskId) -> Result<Vec<Feedback>> {
        self.call(Call::GET_TASK_FEEDBACK, || self.inner.get_task_feedback(task_id)).await
    }
    async fn get_task_owner(&self, task_id: TaskId) -> Result<Option<String>> {
        self.call(Call::GET_TASK_OWNER, || self.inner.get_task_owner(task_id)).await
    }
    async fn get_context_owner(&self, context_id: ContextId) -> Result<Option<String>> {
        self.call(Call::GET_CONTEXT_OWNER, || self.inner.get_context_owner(context_id)).await
    }
    async fn close(&self) -> Result<()> {
        self.call(Call::CLOSE, || self.inner.close()).await
    }
}
