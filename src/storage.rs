//! The [`Storage`] trait: tasks, contexts, webhook configs, feedback and failed notifications.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use crate::error::Result;
use crate::forwarding::{boxed_methods, through_pointer};
use crate::model::{
    ClaimOutcome, ClaimRequest, ClaimToken, Context, ContextId, ContextSummary, FailedNotification, Feedback,
    Message, Metadata, Page, PushNotificationConfig, Renewal, StuckTask, Submission, Task, TaskId, TaskState,
    TaskUpdate,
};

/// Where tasks, contexts, webhook configs and feedback live.
///
/// Every backend passes the same [conformance suite](crate::conformance), which checks exactly
/// the contracts written here. Shared rules:
///
/// - **Ownership.** `owner` is the caller's identity (a DID), or `None` when authentication is
///   off. Writes that would touch a record owned by someone else fail with
///   [`Error::Ownership`](crate::Error::Ownership); list filters compare owners exactly, so `None`
///   matches only unowned records — except that passing `owner: None` to a list means *no filter*.
/// - **State machine.** Completed, failed, canceled and rejected are terminal; a terminal task
///   never changes again ([`Error::TaskImmutable`](crate::Error::TaskImmutable)).
/// - **Ordering.** Every list is ordered by creation, oldest first; [`Page`] windows it.
/// - **Copies.** Every returned value is an owned copy; nothing aliases stored state.
/// - **Conversations.** A task's history and artifacts are append-only records keyed by their
///   ids, stored so that an append costs what it appends and reading the last *n* messages costs
///   *n*, however long the conversation. Reads and writes that return a task therefore return
///   only the end of its history: [`load_task`](Storage::load_task) the last `history_length`
///   messages, [`submit_task`](Storage::submit_task) and [`update_task`](Storage::update_task)
///   what `load_task(id, Some(k))` would return just after the write, `k` being the number of
///   messages the write names (at least 1: the submitted message, or an update's messages).
///   Artifacts always come back whole. Only [`claim_task`](Storage::claim_task) (the agent needs
///   the conversation) and `load_task(id, None)` return the whole history.
/// - **Idempotent** operations may be replayed after an uncertain failure with the same outcome;
///   [`Retrying`](crate::Retrying) relies on what each method says here.
#[async_trait]
pub trait Storage: Send + Sync {
    /// The task, with only its last `history_length` messages when that is `Some(n)` with
    /// `n > 0`; `None` when it does not exist. Idempotent (a read).
    async fn load_task(&self, task_id: TaskId, history_length: Option<usize>) -> Result<Option<Task>>;

    /// Accepts `message` for the task named by `message.task_id`, atomically, and returns the task
    /// with its last message (see **Conversations** above):
    ///
    /// - no such task: creates the context if needed (owned by `owner`; an existing context owned
    ///   by someone else is an [`Error::Ownership`](crate::Error::Ownership)) and the task in
    ///   `submitted` with the message as its history ([`SubmitOutcome::Created`](crate::SubmitOutcome::Created));
    /// - the message id is already in the task's history: returns the task unchanged
    ///   ([`SubmitOutcome::Duplicate`](crate::SubmitOutcome::Duplicate)), even if it is terminal;
    /// - a terminal task: [`Error::TaskImmutable`](crate::Error::TaskImmutable);
    /// - a non-terminal task: appends the message and sets `submitted`, dropping any claim
    ///   ([`SubmitOutcome::Continued`](crate::SubmitOutcome::Continued)). The task must belong to
    ///   `owner` and to `context_id` ([`Error::Ownership`](crate::Error::Ownership) otherwise).
    ///
    /// The rule for an existing task is [`Task::admit`](crate::Task::admit).
    ///
    /// The stored message is stamped with the task and context ids. A message without a task id
    /// is [`Error::Invalid`](crate::Error::Invalid). Idempotent: a replay is a `Duplicate`.
    async fn submit_task(
        &self,
        context_id: ContextId,
        message: &Message,
        owner: Option<&str>,
    ) -> Result<Submission>;

    /// Applies `update` (new state, appended artifacts and messages, merged metadata) and returns
    /// the task with its last `max(1, update.messages.len())` messages (see **Conversations**
    /// above; [`TaskUpdate::returned_history`]). [`Error::NotFound`](crate::Error::NotFound) for an unknown task;
    /// [`Error::StateConflict`](crate::Error::StateConflict) when `update.expected` does not
    /// match; [`Error::Fenced`](crate::Error::Fenced) when `update.expected_metadata` or
    /// `update.claim` does not; [`Error::TaskImmutable`](crate::Error::TaskImmutable) on a
    /// terminal task. The check ([`TaskUpdate::check`]) and the write are atomic; a write that
    /// moves the task out of `working` drops its claim. Messages and artifacts whose ids are
    /// already stored are skipped. Idempotent: replaying an update that was applied returns the
    /// task unchanged (see [`TaskUpdate::is_applied_to`]).
    ///
    /// The check needs, of the stored history and artifacts, only the records whose ids the
    /// update names: backends look those up by id instead of reading the conversation.
    async fn update_task(&self, task_id: TaskId, update: &TaskUpdate) -> Result<Task>;

    /// Claims the task for the run `request.run` under `request.token`, atomically, by the rule of
    /// [`ClaimRequest::decide`] with the storage's own clock: a `submitted` or `resumed` task, or
    /// a `working` one whose holder's lease has run out (a takeover), becomes `working` under this
    /// claim, leased for `request.lease`, with the run's id in its metadata
    /// ([`RUN_KEY`](crate::RUN_KEY)); a `working` task whose lease still runs is
    /// [`ClaimOutcome::Held`]; any other state is [`ClaimOutcome::Unclaimable`]; an unknown task
    /// is [`ClaimOutcome::Missing`]. A claimed task comes back whole (all its history).
    /// Idempotent: a replay with the same token returns [`ClaimOutcome::Claimed`] again.
    async fn claim_task(&self, task_id: TaskId, request: &ClaimRequest) -> Result<ClaimOutcome>;

    /// The heartbeat of a claim: if the task is `working` under `token`, its lease now ends
    /// `lease` from now ([`Renewal::Held`]); otherwise the claim is gone ([`Renewal::Lost`]),
    /// also for an unknown task. Reads no history. Idempotent.
    async fn renew_claim(&self, task_id: TaskId, token: ClaimToken, lease: Duration) -> Result<Renewal>;

    /// Gives up a claim before its lease runs out (the run could not start), so that the next
    /// delivery takes the task over at once; the task stays `working`. Does nothing unless the
    /// task is `working` under `token`. Idempotent.
    async fn release_claim(&self, task_id: TaskId, token: ClaimToken) -> Result<()>;

    /// Tasks that should be running but are not, as of `older_than` ago: `submitted` or
    /// `resumed` since then ([`StuckReason::Waiting`](crate::StuckReason::Waiting)), or `working`
    /// with a lease that ended before then ([`StuckReason::LeaseExpired`](crate::StuckReason::LeaseExpired));
    /// the longest stuck first, at most `limit`. See [`StuckTask::of`] for the rule. Idempotent
    /// (a read).
    async fn stuck_tasks(&self, older_than: Duration, limit: usize) -> Result<Vec<StuckTask>>;

    /// Compare-and-swap of the state: sets `to` only if the task is in `from` (dropping its claim
    /// unless `to` is `working`). `true` only if this call made the change; `false` for an unknown
    /// task or another state.
    /// [`Error::TaskImmutable`](crate::Error::TaskImmutable) if `from` is terminal. **Not
    /// idempotent**: a replay of a swap that happened returns `false`.
    async fn update_task_state_if(&self, task_id: TaskId, from: TaskState, to: TaskState) -> Result<bool>;

    /// Tasks oldest first, windowed by `page`, only `owner`'s when `owner` is `Some`.
    /// Idempotent (a read).
    async fn list_tasks(&self, page: Page, owner: Option<&str>) -> Result<Vec<Task>>;

    /// How many tasks there are, only those in `state` when it is `Some`. Idempotent (a read).
    async fn count_tasks(&self, state: Option<TaskState>) -> Result<u64>;

    /// The context's tasks oldest first, windowed by `page`, only `owner`'s when `owner` is
    /// `Some`; empty for an unknown context. Idempotent (a read).
    async fn list_tasks_by_context(
        &self,
        context_id: ContextId,
        page: Page,
        owner: Option<&str>,
    ) -> Result<Vec<Task>>;

    /// The context (its task ids oldest first, its data and messages); `None` when it does not
    /// exist. Idempotent (a read).
    async fn load_context(&self, context_id: ContextId) -> Result<Option<Context>>;

    /// Replaces the context's data, creating the context (owned by `owner`) if needed.
    /// [`Error::Ownership`](crate::Error::Ownership) if it belongs to someone else. Idempotent.
    async fn update_context(&self, context_id: ContextId, data: &Metadata, owner: Option<&str>)
    -> Result<()>;

    /// Appends messages to the context's message log, creating the context (owned by `owner`) if
    /// needed; messages whose ids are already in the log are skipped.
    /// [`Error::Ownership`](crate::Error::Ownership) if it belongs to someone else. Idempotent.
    async fn append_to_context(
        &self,
        context_id: ContextId,
        messages: &[Message],
        owner: Option<&str>,
    ) -> Result<()>;

    /// Contexts oldest first with their task counts and ids, windowed by `page`, only `owner`'s
    /// when `owner` is `Some`. Idempotent (a read).
    async fn list_contexts(&self, page: Page, owner: Option<&str>) -> Result<Vec<ContextSummary>>;

    /// Deletes the context with its tasks and their feedback and webhook configs.
    /// [`Error::NotFound`](crate::Error::NotFound) for an unknown context. **Not idempotent**: a
    /// replay reports `NotFound`.
    async fn clear_context(&self, context_id: ContextId) -> Result<()>;

    /// Deletes everything. Idempotent.
    async fn clear_all(&self) -> Result<()>;

    /// Stores the task's webhook config, replacing any earlier one (one per task).
    /// [`Error::NotFound`](crate::Error::NotFound) for an unknown task. Idempotent.
    async fn save_webhook_config(&self, task_id: TaskId, config: &PushNotificationConfig) -> Result<()>;

    /// The task's webhook config, `None` if it has none. Idempotent (a read).
    async fn load_webhook_config(&self, task_id: TaskId) -> Result<Option<PushNotificationConfig>>;

    /// Removes the task's webhook config; removing a missing one succeeds. Idempotent.
    async fn delete_webhook_config(&self, task_id: TaskId) -> Result<()>;

    /// Every stored webhook config by task (read at start-up to resume notifications).
    /// Idempotent (a read).
    async fn load_all_webhook_configs(&self) -> Result<HashMap<TaskId, PushNotificationConfig>>;

    /// Appends feedback for `feedback.task_id`; feedback whose id is already stored is skipped.
    /// [`Error::NotFound`](crate::Error::NotFound) for an unknown task. Idempotent.
    async fn store_task_feedback(&self, feedback: &Feedback) -> Result<()>;

    /// The task's feedback oldest first; empty when there is none or the task is unknown.
    /// Idempotent (a read).
    async fn get_task_feedback(&self, task_id: TaskId) -> Result<Vec<Feedback>>;

    /// The task's owner (`None` when unowned). [`Error::NotFound`](crate::Error::NotFound) for an
    /// unknown task. Idempotent (a read).
    async fn get_task_owner(&self, task_id: TaskId) -> Result<Option<String>>;

    /// The context's owner (`None` when unowned). [`Error::NotFound`](crate::Error::NotFound) for
    /// an unknown context. Idempotent (a read).
    async fn get_context_owner(&self, context_id: ContextId) -> Result<Option<String>>;

    /// Keeps a push notification that was not delivered, for operators to see and redeliver:
    /// one record per `notification_id`, so recording it again (a redelivery failed too)
    /// replaces the record and keeps its place in the list. It goes with its task (deleted with
    /// it). [`Error::NotFound`](crate::Error::NotFound) for an unknown task. Idempotent.
    async fn record_failed_notification(&self, failure: &FailedNotification) -> Result<()>;

    /// The failed notifications in the order they were first recorded, windowed by `page`.
    /// Idempotent (a read).
    async fn failed_notifications(&self, page: Page) -> Result<Vec<FailedNotification>>;

    /// Removes the record of notification `notification_id` (delivered at last, or given up):
    /// `true` if this call removed it, `false` if there was none. **Not idempotent**: a repeated
    /// call returns `false`.
    async fn remove_failed_notification(&self, notification_id: Uuid) -> Result<bool>;

    /// Deletes at most `limit` terminal tasks that entered their state more than `older_than`
    /// ago (by the storage's clock; the longest finished first), with their webhook configs,
    /// feedback and failed notifications, and the contexts they leave without tasks; returns how
    /// many tasks. The rule is [`Task::is_prunable`]. A client resending a message of a deleted
    /// task creates it again, so keep `older_than` longer than clients resend. Idempotent.
    async fn prune_tasks(&self, older_than: Duration, limit: usize) -> Result<u64>;

    /// One cheap round trip to the backend (`SELECT 1`, `PING`): for health checks and the
    /// circuit breaker's probes. Idempotent (a read).
    async fn ping(&self) -> Result<()>;

    /// Releases the backend's resources; later calls fail with
    /// [`Error::Closed`](crate::Error::Closed). Stored data is kept. Idempotent.
    async fn close(&self) -> Result<()>;
}

/// Every [`Storage`] method, one line each, for the wrappers that forward them all (see
/// `forwarding.rs`): `storage_methods!(writer! { prefix })` is `writer! { prefix CALL => fn …; … }`,
/// `CALL` naming the method's [`Call`](crate::retry::Call) entry.
macro_rules! storage_methods {
    ($writer:ident! { $($prefix:tt)* }) => {
        $writer! { $($prefix)*
            LOAD_TASK => fn load_task(task_id: TaskId, history_length: Option<usize>) -> Option<Task>;
            SUBMIT_TASK => fn submit_task<'m, 'o>(context_id: ContextId, message: &'m Message, owner: Option<&'o str>) -> Submission;
            UPDATE_TASK => fn update_task<'u>(task_id: TaskId, update: &'u TaskUpdate) -> Task;
            CLAIM_TASK => fn claim_task<'r>(task_id: TaskId, request: &'r ClaimRequest) -> ClaimOutcome;
            RENEW_CLAIM => fn renew_claim(task_id: TaskId, token: ClaimToken, lease: Duration) -> Renewal;
            RELEASE_CLAIM => fn release_claim(task_id: TaskId, token: ClaimToken) -> ();
            STUCK_TASKS => fn stuck_tasks(older_than: Duration, limit: usize) -> Vec<StuckTask>;
            UPDATE_TASK_STATE_IF => fn update_task_state_if(task_id: TaskId, from: TaskState, to: TaskState) -> bool;
            LIST_TASKS => fn list_tasks<'o>(page: Page, owner: Option<&'o str>) -> Vec<Task>;
            COUNT_TASKS => fn count_tasks(state: Option<TaskState>) -> u64;
            LIST_TASKS_BY_CONTEXT => fn list_tasks_by_context<'o>(context_id: ContextId, page: Page, owner: Option<&'o str>) -> Vec<Task>;
            LOAD_CONTEXT => fn load_context(context_id: ContextId) -> Option<Context>;
            UPDATE_CONTEXT => fn update_context<'d, 'o>(context_id: ContextId, data: &'d Metadata, owner: Option<&'o str>) -> ();
            APPEND_TO_CONTEXT => fn append_to_context<'m, 'o>(context_id: ContextId, messages: &'m [Message], owner: Option<&'o str>) -> ();
            LIST_CONTEXTS => fn list_contexts<'o>(page: Page, owner: Option<&'o str>) -> Vec<ContextSummary>;
            CLEAR_CONTEXT => fn clear_context(context_id: ContextId) -> ();
            CLEAR_ALL => fn clear_all() -> ();
            SAVE_WEBHOOK_CONFIG => fn save_webhook_config<'c>(task_id: TaskId, config: &'c PushNotificationConfig) -> ();
            LOAD_WEBHOOK_CONFIG => fn load_webhook_config(task_id: TaskId) -> Option<PushNotificationConfig>;
            DELETE_WEBHOOK_CONFIG => fn delete_webhook_config(task_id: TaskId) -> ();
            LOAD_ALL_WEBHOOK_CONFIGS => fn load_all_webhook_configs() -> HashMap<TaskId, PushNotificationConfig>;
            STORE_TASK_FEEDBACK => fn store_task_feedback<'f>(feedback: &'f Feedback) -> ();
            GET_TASK_FEEDBACK => fn get_task_feedback(task_id: TaskId) -> Vec<Feedback>;
            GET_TASK_OWNER => fn get_task_owner(task_id: TaskId) -> Option<String>;
            GET_CONTEXT_OWNER => fn get_context_owner(context_id: ContextId) -> Option<String>;
            RECORD_FAILED_NOTIFICATION => fn record_failed_notification<'f>(failure: &'f FailedNotification) -> ();
            FAILED_NOTIFICATIONS => fn failed_notifications(page: Page) -> Vec<FailedNotification>;
            REMOVE_FAILED_NOTIFICATION => fn remove_failed_notification(notification_id: Uuid) -> bool;
            PRUNE_TASKS => fn prune_tasks(older_than: Duration, limit: usize) -> u64;
            PING => fn ping() -> ();
            CLOSE => fn close() -> ();
        }
    };
}

pub(crate) use storage_methods;

macro_rules! forward_storage {
    ($($wrapper:ty),*) => {$(
        #[deny(clippy::missing_trait_methods)]
        impl<T: Storage + ?Sized> Storage for $wrapper {
            storage_methods!(boxed_methods! { body = through_pointer(); });
        }
    )*};
}

forward_storage!(Arc<T>, Box<T>, &T);
