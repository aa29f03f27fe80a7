//! [`Faulty`]: wraps any backend and fails chosen calls with chosen kinds of error.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::error::{BackendError, Error, Result, Transience};
use crate::model::{
    ClaimOutcome, ClaimRequest, ClaimToken, Context, ContextId, ContextSummary, DeadLetter, DeadLetterId,
    FailedNotification, Feedback, Lanes, Message, Metadata, Page, PushNotificationConfig, QueueStats,
    Renewal, StuckTask, Submission, Task, TaskId, TaskOperation, TaskState, TaskUpdate,
};
use crate::retry::Call;
use crate::scheduler::{BatchHint, Hold, OperationStream, Receipt, Scheduler};
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
/// [`Scheduler`] when the wrapped backend does; the deliveries of its streams are wrapped too, so
/// that acknowledgements, releases and keep-alives fail with it (as [`Call::ACK`],
/// [`Call::RELEASE`], [`Call::DEAD_LETTER`] and `keep_alive`).
///
/// Besides scripted faults it can be taken [down](Faulty::set_down): every call then fails as
/// a refused connection would (transient, not applied) and its streams hand out nothing, until
/// it is up again — an outage of any length.
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
/// storage.set_down(true);
/// assert!(storage.load_task(TaskId::new(), None).await.is_err());
/// # }
/// ```
#[derive(Debug)]
pub struct Faulty<S> {
    inner: S,
    control: Arc<Control>,
}

#[derive(Debug, Default)]
struct Control {
    script: Mutex<Script>,
    down: AtomicBool,
    up: Notify,
}

#[derive(Debug, Default)]
struct Script {
    faults: HashMap<&'static str, VecDeque<Fault>>,
    calls: HashMap<&'static str, u32>,
}

const KEEP_ALIVE: Call = Call::idempotent("keep_alive");

impl<S> Faulty<S> {
    /// Wraps `inner`; no faults are scripted yet.
    pub fn new(inner: S) -> Self {
        Self { inner, control: Arc::default() }
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Makes the next calls of `call` fail with `faults`, one per call, in order.
    pub fn script(&self, call: Call, faults: impl IntoIterator<Item = Fault>) {
        self.control.lock().faults.entry(call.name).or_default().extend(faults);
    }

    /// How many times `call` was made (failed ones included).
    pub fn calls(&self, call: Call) -> u32 {
        self.control.lock().calls.get(call.name).copied().unwrap_or(0)
    }

    /// Takes the backend down (every call fails transiently, streams hand out nothing) or brings
    /// it back up.
    pub fn set_down(&self, down: bool) {
        self.control.down.store(down, Ordering::SeqCst);
        if !down {
            self.control.up.notify_waiters();
        }
    }

    /// Whether it is down.
    pub fn is_down(&self) -> bool {
        self.control.down.load(Ordering::SeqCst)
    }

    async fn run<T>(&self, call: Call, operation: impl Future<Output = Result<T>>) -> Result<T> {
        self.control.run(call, operation).await
    }
}

impl Control {
    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn run<T>(&self, call: Call, operation: impl Future<Output = Result<T>>) -> Result<T> {
        let fault = {
            let mut script = self.lock();
            *script.calls.entry(call.name).or_default() += 1;
            script.faults.get_mut(call.name).and_then(VecDeque::pop_front)
        };
        if self.down.load(Ordering::SeqCst) {
            return Err(injected(call, Transience::Transient, "while down, before"));
        }
        match fault {
            None | Some(Fault::Pass) => operation.await,
            Some(Fault::Before(transience)) => Err(injected(call, transience, "before")),
            Some(Fault::After(transience)) => {
                let _ = operation.await;
                Err(injected(call, transience, "after"))
            }
        }
    }

    /// Returns once the backend is up.
    async fn wait_up(&self) {
        loop {
            let up = self.up.notified();
            tokio::pin!(up);
            up.as_mut().enable();
            if !self.down.load(Ordering::SeqCst) {
                return;
            }
            up.await;
        }
    }
}

fn injected(call: Call, transience: Transience, when: &str) -> Error {
    BackendError::new("faulty", transience, format!("injected {transience} fault {when} {}", call.name))
        .into()
}

/// A delivery's receipt whose calls go through the faults of the scheduler it came from.
struct FaultyReceipt {
    inner: Box<dyn Receipt>,
    control: Arc<Control>,
}

#[async_trait]
impl Receipt for FaultyReceipt {
    async fn ack(&self) -> Result<()> {
        self.control.run(Call::ACK, self.inner.ack()).await
    }
    async fn dead_letter(&self, reason: &str) -> Result<()> {
        self.control.run(Call::DEAD_LETTER, self.inner.dead_letter(reason)).await
    }
    async fn release(&self, delay: Duration) -> Result<()> {
        self.control.run(Call::RELEASE, self.inner.release(delay)).await
    }
    async fn keep_alive(&self) -> Result<Hold> {
        self.control.run(KEEP_ALIVE, self.inner.keep_alive()).await
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
    async fn claim_task(&self, task_id: TaskId, request: &ClaimRequest) -> Result<ClaimOutcome> {
        self.run(Call::CLAIM_TASK, self.inner.claim_task(task_id, request)).await
    }
    async fn renew_claim(&self, task_id: TaskId, token: ClaimToken, lease: Duration) -> Result<Renewal> {
        self.run(Call::RENEW_CLAIM, self.inner.renew_claim(task_id, token, lease)).await
    }
    async fn release_claim(&self, task_id: TaskId, token: ClaimToken) -> Result<()> {
        self.run(Call::RELEASE_CLAIM, self.inner.release_claim(task_id, token)).await
    }
    async fn stuck_tasks(&self, older_than: Duration, limit: usize) -> Result<Vec<StuckTask>> {
        self.run(Call::STUCK_TASKS, self.inner.stuck_tasks(older_than, limit)).await
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
    async fn record_failed_notification(&self, failure: &FailedNotification) -> Result<()> {
        self.run(Call::RECORD_FAILED_NOTIFICATION, self.inner.record_failed_notification(failure)).await
    }
    async fn failed_notifications(&self, page: Page) -> Result<Vec<FailedNotification>> {
        self.run(Call::FAILED_NOTIFICATIONS, self.inner.failed_notifications(page)).await
    }
    async fn remove_failed_notification(&self, notification_id: Uuid) -> Result<bool> {
        self.run(Call::REMOVE_FAILED_NOTIFICATION, self.inner.remove_failed_notification(notification_id))
            .await
    }
    async fn prune_tasks(&self, older_than: Duration, limit: usize) -> Result<u64> {
        self.run(Call::PRUNE_TASKS, self.inner.prune_tasks(older_than, limit)).await
    }
    async fn ping(&self) -> Result<()> {
        self.run(Call::PING, self.inner.ping()).await
    }
    async fn close(&self) -> Result<()> {
        self.run(Call::CLOSE, self.inner.close()).await
    }
}

impl<S> Faulty<S> {
    /// `stream` with the faults: nothing is handed out while the backend is down, and the
    /// deliveries' receipts fail like the backend.
    fn faulty_stream(&self, stream: OperationStream) -> OperationStream {
        let control = Arc::clone(&self.control);
        Box::pin(stream.then(move |item| {
            let control = Arc::clone(&control);
            async move {
                control.wait_up().await;
                item.map(|delivery| delivery.map_receipt(|inner| Box::new(FaultyReceipt { inner, control })))
            }
        }))
    }
}

#[async_trait]
impl<S: Scheduler> Scheduler for Faulty<S> {
    async fn enqueue(&self, operation: &TaskOperation) -> Result<()> {
        self.run(Call::ENQUEUE, self.inner.enqueue(operation)).await
    }
    async fn receive(&self, lanes: Lanes) -> Result<OperationStream> {
        let stream = self.run(Call::RECEIVE, self.inner.receive(lanes)).await?;
        Ok(self.faulty_stream(stream))
    }
    async fn receive_batched(&self, lanes: Lanes, batch: BatchHint) -> Result<OperationStream> {
        let stream = self.run(Call::RECEIVE, self.inner.receive_batched(lanes, batch)).await?;
        Ok(self.faulty_stream(stream))
    }
    async fn ping(&self) -> Result<()> {
        self.run(Call::PING, self.inner.ping()).await
    }
    async fn dead_letters(&self, page: Page) -> Result<Vec<DeadLetter>> {
        self.run(Call::DEAD_LETTERS, self.inner.dead_letters(page)).await
    }
    async fn replay_dead_letter(&self, id: &DeadLetterId) -> Result<bool> {
        self.run(Call::REPLAY_DEAD_LETTER, self.inner.replay_dead_letter(id)).await
    }
    async fn discard_dead_letter(&self, id: &DeadLetterId) -> Result<bool> {
        self.run(Call::DISCARD_DEAD_LETTER, self.inner.discard_dead_letter(id)).await
    }
    async fn stats(&self) -> Result<QueueStats> {
        self.run(Call::STATS, self.inner.stats()).await
    }
    async fn prune(&self, older_than: Duration, limit: usize) -> Result<u64> {
        self.run(Call::PRUNE, self.inner.prune(older_than, limit)).await
    }
    async fn close(&self) -> Result<()> {
        self.run(Call::CLOSE, self.inner.close()).await
    }
}
