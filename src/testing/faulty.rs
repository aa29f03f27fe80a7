//! [`Faulty`]: wraps any backend and fails chosen calls with chosen kinds of error.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::{BackendError, Error, Result, Transience};
use crate::model::{
    Context, ContextId, ContextSummary, Feedback, Message, Metadata, OperationId, Page,
    PushNotificationConfig, Submission, Task, TaskId, TaskIdParams, TaskSendParams, TaskState, TaskUpdate,
};
use crate::retry::{Call, DefaultRetryPolicy, RetryPolicy};
use crate::scheduler::{OperationStream, Scheduler};
use crate::settings::RetrySettings;
use crate::storage::Storage;

/// One injected failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Let the call through (to script a fault for a later call).
    Pass,
    /// Fail without calling the backend: the request was not applied.
    Before(Transience),
    /// Call the backend, then report a failure anyway: the request was applied but its answer
    /// was lost (what an uncertain error means).
    After(Transience),
}

/// A backend whose calls fail as scripted, counting every call. Implements [`Storage`] and
/// [`Scheduler`] when the wrapped backend does.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use bindu::testing::{Fault, Faulty};
/// use bindu::{Call, InMemoryStorage, Storage, TaskId, Transience};
/// let storage = Faulty::new(InMemoryStorage::new());
/// storage.script(Call::LOAD_TASK, [Fault::Before(Transience::Transient)]);
/// assert!(storage.load_task(TaskId::new(), None).await.is_err());
/// assert!(storage.load_task(TaskId::new(), None).await.is_ok());
/// assert_eq!(storage.calls(Call::LOAD_TASK), 2);
/// # }
/// ```
#[derive(Debug)]
pub struct Faulty<S> {
    inner: S,
    state: Mutex<Script>,
}

#[derive(Debug, Default)]
struct Script {
    faults: HashMap<&'static str, VecDeque<Fault>>,
    calls: HashMap<&'static str, u32>,
}

impl<S> Faulty<S> {
    /// Wraps `inner`; no faults are scripted yet.
    pub fn new(inner: S) -> Self {
        Self { inner, state: Mutex::new(Script::default()) }
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Makes the next calls of `call` fail with `faults`, one per call, in order.
    pub fn script(&self, call: Call, faults: impl IntoIterator<Item = Fault>) {
        self.lock().faults.entry(call.name).or_default().extend(faults);
    }

    /// How many times `call` was made (failed ones included).
    pub fn calls(&self, call: Call) -> u32 {
        self.lock().calls.get(call.name).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn run<T>(&self, call: Call, operation: impl Future<Output = Result<T>>) -> Result<T> {
        let fault = {
            let mut script = self.lock();
            *script.calls.entry(call.name).or_default() += 1;
            script.faults.get_mut(call.name).and_then(VecDeque::pop_front)
        };
        match fault {
            None | Some(Fault::Pass) => operation.await,
            Some(Fault::Before(transience)) => Err(injected(call, transience, "before")),
            Some(Fault::After(transience)) => {
                let _ = operation.await;
                Err(injected(call, transience, "after"))
            }
        }
    }
}

fn injected(call: Call, transience: Transience, when: &str) -> Error {
    BackendError::new("faulty", transience, format!("injected {transience} fault {when} {}", call.name))
        .into()
}

impl<S: DefaultRetryPolicy> DefaultRetryPolicy for Faulty<S> {
    fn default_retry_policy(&self, settings: &RetrySettings) -> RetryPolicy {
        self.inner.default_retry_policy(settings)
    }
}

#[async_trait]
impl<S: Storage> Storage for Faulty<S> {
    async fn load_task(&self, task_id: TaskId, history_length: Option<usize>) -> Result<Option<Task>> {
        self.run(Call::LOAD_TASK, self.inner.load_task(task_id, history_length)).await
    }
    async fn submit_task(
        &self,
        context_id: ContextId,
        message: &Message,
        owner: Option<&str>,
    ) -> Result<Submission> {
        self.run(Call::SUBMIT_TASK, self.inner.submit_task(context_id, message, owner)).await
    }
    async fn update_task(&self, task_id: TaskId, update: &TaskUpdate) -> Result<Task> {
        self.run(Call::UPDATE_TASK, self.inner.update_task(task_id, update)).await
    }
    async fn update_task_state_if(&self, task_id: TaskId, from: TaskState, to: TaskState) -> Result<bool> {
        self.run(Call::UPDATE_TASK_STATE_IF, self.inner.update_task_state_if(task_id, from, to)).await
    }
    async fn list_tasks(&self, page: Page, owner: Option<&str>) -> Result<Vec<Task>> {
        self.run(Call::LIST_TASKS, self.inner.list_tasks(page, owner)).await
    }
    async fn count_tasks(&self, state: Option<TaskState>) -> Result<u64> {
        self.run(Call::COUNT_TASKS, self.inner.count_tasks(state)).await
    }
    async fn list_tasks_by_context(
        &self,
        context_id: ContextId,
        page: Page,
        owner: Option<&str>,
    ) -> Result<Vec<Task>> {
        self.run(Call::LIST_TASKS_BY_CONTEXT, self.inner.list_tasks_by_context(context_id, page, owner)).await
    }
    async fn load_context(&self, context_id: ContextId) -> Result<Option<Context>> {
        self.run(Call::LOAD_CONTEXT, self.inner.load_context(context_id)).await
    }
    async fn update_context(
        &self,
        context_id: ContextId,
        data: &Metadata,
        owner: Option<&str>,
    ) -> Result<()> {
        self.run(Call::UPDATE_CONTEXT, self.inner.update_context(context_id, data, owner)).await
    }
    async fn append_to_context(
        &self,
        context_id: ContextId,
        messages: &[Message],
        owner: Option<&str>,
    ) -> Result<()> {
        self.run(Call::APPEND_TO_CONTEXT, self.inner.append_to_context(context_id, messages, owner)).await
    }
    async fn list_contexts(&self, page: Page, owner: Option<&str>) -> Result<Vec<ContextSummary>> {
        self.run(Call::LIST_CONTEXTS, self.inner.list_contexts(page, owner)).await
    }
    async fn clear_context(&self, context_id: ContextId) -> Result<()> {
        self.run(Call::CLEAR_CONTEXT, self.inner.clear_context(context_id)).await
    }
    async fn clear_all(&self) -> Result<()> {
        self.run(Call::CLEAR_ALL, self.inner.clear_all()).await
    }
    async fn save_webhook_config(&self, task_id: TaskId, config: &PushNotificationConfig) -> Result<()> {
        self.run(Call::SAVE_WEBHOOK_CONFIG, self.inner.save_webhook_config(task_id, config)).await
    }
    async fn load_webhook_config(&self, task_id: TaskId) -> Result<Option<PushNotificationConfig>> {
        self.run(Call::LOAD_WEBHOOK_CONFIG, self.inner.load_webhook_config(task_id)).await
    }
    async fn delete_webhook_config(&self, task_id: TaskId) -> Result<()> {
        self.run(Call::DELETE_WEBHOOK_CONFIG, self.inner.delete_webhook_config(task_id)).await
    }
    async fn load_all_webhook_configs(&self) -> Result<HashMap<TaskId, PushNotificationConfig>> {
        self.run(Call::LOAD_ALL_WEBHOOK_CONFIGS, self.inner.load_all_webhook_configs()).await
    }
    async fn store_task_feedback(&self, feedback: &Feedback) -> Result<()> {
        self.run(Call::STORE_TASK_FEEDBACK, self.inner.store_task_feedback(feedback)).await
    }
    async fn get_task_feedback(&self, task_id: TaskId) -> Result<Vec<Feedback>> {
        self.run(Call::GET_TASK_FEEDBACK, self.inner.get_task_feedback(task_id)).await
    }
    async fn get_task_owner(&self, task_id: TaskId) -> Result<Option<String>> {
        self.run(Call::GET_TASK_OWNER, self.inner.get_task_owner(task_id)).await
    }
    async fn get_context_owner(&self, context_id: ContextId) -> Result<Option<String>> {
        self.run(Call::GET_CONTEXT_OWNER, self.inner.get_context_owner(context_id)).await
    }
    async fn close(&self) -> Result<()> {
        self.run(Call::CLOSE, self.inner.close()).await
    }
}

#[async_trait]
impl<S: Scheduler> Scheduler for Faulty<S> {
    async fn run_task(&self, id: OperationId, params: &TaskSendParams) -> Result<()> {
        self.run(Call::RUN_TASK, self.inner.run_task(id, params)).await
    }
    async fn cancel_task(&self, id: OperationId, params: &TaskIdParams) -> Result<()> {
        self.run(Call::CANCEL_TASK, self.inner.cancel_task(id, params)).await
    }
    async fn pause_task(&self, id: OperationId, params: &TaskIdParams) -> Result<()> {
        self.run(Call::PAUSE_TASK, self.inner.pause_task(id, params)).await
    }
    async fn resume_task(&self, id: OperationId, params: &TaskIdParams) -> Result<()> {
        self.run(Call::RESUME_TASK, self.inner.resume_task(id, params)).await
    }
    async fn receive_task_operations(&self) -> Result<OperationStream> {
        self.run(Call::RECEIVE_TASK_OPERATIONS, self.inner.receive_task_operations()).await
    }
}
