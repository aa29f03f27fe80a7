//! [`Service`]: the A2A operations on the crate's traits, in the crate's model. Each protocol
//! version ([`v1`](super::v1), [`v03`](super::v03)) translates its payloads to these calls and
//! the results and [`Failure`]s back.

use std::sync::Arc;
use std::time::Duration;

use bindu::{
    App, ContextId, Error, Message, MessageId, Page, PushNotificationConfig, Role, SchedulerExt,
    SubmitOutcome, Task, TaskId, TaskIdParams, TaskSendParams, TaskState,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::hub::{Hub, Watch};
use super::stream::{self, Updates};

/// How long a cancel waits for the worker to apply it before answering with the task as it is.
const CANCEL_WAIT: Duration = Duration::from_secs(10);
/// How often a waiting request reads the task from storage anyway, in case it is run by a worker
/// in another process (whose stored states this process's [`Hub`] does not hear of).
const RECHECK: Duration = Duration::from_secs(5);

/// Namespaces of the ids derived from a message that names no task or context, so that resending
/// it finds the same task.
const CONTEXT_NAMESPACE: Uuid = Uuid::from_u128(0x3f0c_5a7e_9b21_4d6e_8c47_a1d2_e5f9_0b36);
const TASK_NAMESPACE: Uuid = Uuid::from_u128(0x71b4_2e9d_c3a8_4f15_b6e0_5d7c_9a2f_e184);

/// Why an operation failed, in the terms both protocol versions map to their error codes.
#[derive(Debug)]
pub enum Failure {
    /// No such task (or, for push configs, no such config).
    TaskNotFound(String),
    /// The task is in a terminal state, or reached one before the cancel took effect.
    NotCancelable(String),
    /// A message for a task in a terminal state.
    Immutable(String),
    /// Something this server does not do.
    Unsupported(String),
    /// A parameter is wrong; the text names it.
    InvalidParams(String),
    /// A backend failed, or the server is stopping.
    Internal(String),
}

impl Failure {
    /// The text shown to the client.
    pub fn message(&self) -> &str {
        match self {
            Self::TaskNotFound(m)
            | Self::NotCancelable(m)
            | Self::Immutable(m)
            | Self::Unsupported(m)
            | Self::InvalidParams(m)
            | Self::Internal(m) => m,
        }
    }
}

/// What a client reads when the backends failed and nothing it did was wrong: a short, fixed
/// reason. The error itself — a driver's text, a retry chain — is logged with the task id.
pub const UNAVAILABLE: &str = "the service is unavailable for now; try again later";
/// See [`UNAVAILABLE`]: the same, for failures that waiting will not cure.
pub const INTERNAL: &str = "internal error";

impl Failure {
    /// `err`, met while serving a request about `task` (if it was about one), as the client may
    /// see it: what the client can act on (not found, terminal, invalid input) is said as is;
    /// anything else is logged and becomes [`UNAVAILABLE`] or [`INTERNAL`].
    pub fn from_error(task: Option<TaskId>, err: Error) -> Self {
        match err {
            Error::NotFound { .. } => Self::TaskNotFound(err.to_string()),
            Error::TaskImmutable { .. } => Self::Immutable(err.to_string()),
            Error::Ownership { .. } => {
                Self::InvalidParams("params.message.contextId: the task belongs to another context".into())
            }
            Error::Invalid { .. } => Self::InvalidParams(err.to_string()),
            err => {
                match task {
                    Some(task) => tracing::error!(%task, error = %err, "a request failed on the backends"),
                    None => tracing::error!(error = %err, "a request failed on the backends"),
                }
                Self::Internal(if err.is_unavailable() { UNAVAILABLE } else { INTERNAL }.into())
            }
        }
    }
}

/// [`Failure::from_error`] on a backend's result.
trait About<T> {
    /// The result, its error seen as a client may see it (logged with `task`).
    fn about(self, task: impl Into<Option<TaskId>>) -> Outcome<T>;
}

impl<T> About<T> for bindu::Result<T> {
    fn about(self, task: impl Into<Option<TaskId>>) -> Outcome<T> {
        self.map_err(|err| Failure::from_error(task.into(), err))
    }
}

/// Result with [`Failure`].
pub type Outcome<T> = Result<T, Failure>;

/// A message to send, as the client gave it.
#[derive(Debug)]
pub struct Send {
    /// The message; `task_id` and `context_id` are the client's (or `None`).
    pub message: Message,
    /// Wait until the task is done or needs input (else answer as soon as it is accepted).
    pub wait: bool,
    /// A webhook to store for the task.
    pub push: Option<PushNotificationConfig>,
}

/// A window of [`Service::list`].
#[derive(Debug, Default)]
pub struct ListQuery {
    /// Only this context's tasks.
    pub context_id: Option<ContextId>,
    /// Only tasks in one of these states (empty: all).
    pub states: Vec<TaskState>,
    /// Only tasks whose state was written after this.
    pub updated_after: Option<chrono::DateTime<chrono::Utc>>,
    /// Tasks to skip.
    pub offset: usize,
    /// Tasks at most.
    pub limit: usize,
}

/// One page of [`Service::list`].
#[derive(Debug)]
pub struct ListPage {
    /// The tasks, oldest first.
    pub tasks: Vec<Task>,
    /// How many tasks match in all.
    pub total: usize,
    /// The offset of the next page, if there is one.
    pub next_offset: Option<usize>,
}

/// The operations, on an [`App`]'s storage and scheduler, told of stored states by a [`Hub`].
#[derive(Debug)]
pub struct Service {
    app: App,
    hub: Arc<Hub>,
    stopping: CancellationToken,
    pub(super) listen: std::net::SocketAddr,
}

impl Service {
    /// A service on `app`; `stopping` ends waits and streams when the server stops.
    pub fn new(app: App, hub: Arc<Hub>, stopping: CancellationToken, listen: std::net::SocketAddr) -> Self {
        Self { app, hub, stopping, listen }
    }

    /// Accepts a message (idempotently: a message id already in the task's history returns that
    /// task and schedules nothing new) and, when asked, waits for the task to settle.
    pub async fn send(&self, send: Send) -> Outcome<Task> {
        let wait = send.wait;
        let (task, watch) = self.accept(send).await?;
        if !wait {
            return Ok(task);
        }
        let mut follower = self.follower(watch);
        let mut task = task;
        if stream::settled(task.status.state) {
            return Ok(task);
        }
        while !stream::settled(task.status.state) {
            task = follower.next_state(&task).await?;
        }
        // What the watch saw is what the worker's write returned: the end of the conversation.
        // The answer is the task whole.
        self.task(task.id).await
    }

    /// Accepts a message and follows its task until it settles.
    pub async fn send_streaming(&self, send: Send) -> Outcome<Updates> {
        let (task, watch) = self.accept(send).await?;
        Ok(stream::follow(task, self.follower(watch)))
    }

    /// Follows a task that is not terminal until it settles.
    pub async fn subscribe(&self, task_id: TaskId) -> Outcome<Updates> {
        let watch = self.hub.watch(task_id);
        let task = self.task(task_id).await?;
        if task.status.state.is_terminal() {
            return Err(Failure::Unsupported(format!(
                "task {task_id} is {}, a terminal state: it has no more updates",
                task.status.state
            )));
        }
        Ok(stream::follow(task, self.follower(watch)))
    }

    /// The task, whole.
    pub async fn task(&self, task_id: TaskId) -> Outcome<Task> {
        self.app.storage.load_task(task_id, None).await.about(task_id)?.ok_or_else(|| not_found(task_id))
    }

    /// A page of tasks, oldest first.
    pub async fn list(&self, query: ListQuery) -> Outcome<ListPage> {
        let storage = &self.app.storage;
        let filtered =
            !query.states.is_empty() || query.updated_after.is_some() || query.context_id.is_some();
        if !filtered {
            // One more than asked tells whether there is a next page.
            let mut tasks = storage
                .list_tasks(Page::new(query.offset, query.limit.saturating_add(1)), None)
                .await
                .about(None)?;
            let total = storage.count_tasks(None).await.about(None)? as usize;
            let next_offset = (tasks.len() > query.limit).then_some(query.offset.saturating_add(query.limit));
            tasks.truncate(query.limit);
            return Ok(ListPage { tasks, total, next_offset });
        }
        let all = match query.context_id {
            Some(context_id) => {
                storage.list_tasks_by_context(context_id, Page::ALL, None).await.about(None)?
            }
            None => storage.list_tasks(Page::ALL, None).await.about(None)?,
        };
        let matching: Vec<Task> = all
            .into_iter()
            .filter(|task| query.states.is_empty() || query.states.contains(&task.status.state))
            .filter(|task| query.updated_after.is_none_or(|after| task.status.timestamp > after))
            .collect();
        let total = matching.len();
        let end = query.offset.saturating_add(query.limit);
        let next_offset = (end < total).then_some(end);
        let tasks = Page::new(query.offset, query.limit).apply(matching);
        Ok(ListPage { tasks, total, next_offset })
    }

    /// Asks the worker to cancel the task and waits (up to [`CANCEL_WAIT`]) until it has.
    pub async fn cancel(&self, task_id: TaskId) -> Outcome<Task> {
        let watch = self.hub.watch(task_id);
        let mut task = self.task(task_id).await?;
        if task.status.state.is_terminal() {
            return Err(not_cancelable(&task));
        }
        self.app.scheduler.cancel_task(&TaskIdParams::new(task_id)).await.about(task_id)?;
        let mut follower = self.follower(watch);
        let waited = tokio::time::timeout(CANCEL_WAIT, async {
            while !task.status.state.is_terminal() {
                task = follower.next_state(&task).await?;
            }
            Ok::<_, Failure>(())
        })
        .await;
        match waited {
            Ok(Err(failure)) => Err(failure),
            Ok(Ok(())) if task.status.state != TaskState::Canceled => Err(not_cancelable(&task)),
            // Canceled, or the cancel is still on its way: answer with the task as it is.
            _ => Ok(task),
        }
    }

    /// Stores the task's push config, replacing any earlier one (one per task).
    pub async fn set_push(
        &self,
        task_id: TaskId,
        config: PushNotificationConfig,
    ) -> Outcome<PushNotificationConfig> {
        self.app.storage.save_webhook_config(task_id, &config).await.about(task_id)?;
        Ok(config)
    }

    /// The task's push config (the one with `config_id`, when given).
    pub async fn get_push(
        &self,
        task_id: TaskId,
        config_id: Option<Uuid>,
    ) -> Outcome<PushNotificationConfig> {
        let config =
            self.list_push(task_id).await?.into_iter().find(|c| config_id.is_none_or(|id| c.id == id));
        config.ok_or_else(|| {
            let which = config_id.map(|id| format!(" {id}")).unwrap_or_default();
            Failure::TaskNotFound(format!("task {task_id} has no push notification config{which}"))
        })
    }

    /// The task's push configs: none or one.
    pub async fn list_push(&self, task_id: TaskId) -> Outcome<Vec<PushNotificationConfig>> {
        self.task(task_id).await?;
        Ok(self.app.storage.load_webhook_config(task_id).await.about(task_id)?.into_iter().collect())
    }

    /// Removes the task's push config (the one with `config_id`, when given); removing one that
    /// is not there succeeds.
    pub async fn delete_push(&self, task_id: TaskId, config_id: Option<Uuid>) -> Outcome<()> {
        let configs = self.list_push(task_id).await?;
        if configs.iter().any(|config| config_id.is_none_or(|id| config.id == id)) {
            self.app.storage.delete_webhook_config(task_id).await.about(task_id)?;
        }
        Ok(())
    }

    /// Stores the message and schedules its run; returns the task as accepted and a watch on it
    /// taken before the run could store anything.
    async fn accept(&self, send: Send) -> Outcome<(Task, Watch)> {
        if send.message.role != Role::User {
            return Err(Failure::InvalidParams(
                "params.message.role: a client's messages have the user role".into(),
            ));
        }
        if send.message.parts.is_empty() {
            return Err(Failure::InvalidParams(
                "params.message.parts: a message has at least one part".into(),
            ));
        }
        let (context_id, task_id) = self.place(&send.message).await?;
        let message = send.message.for_task(task_id);
        let storage = &self.app.storage;
        // Watching from before the run is queued: no update is missed.
        let watch = self.hub.watch(task_id);
        let Some(config) = &send.push else {
            // No webhook to store first: the task and its run in one step (one transaction when
            // both backends are PostgreSQL).
            let submitted = self.app.submit(context_id, &message, None).await.about(task_id)?;
            let task = match submitted.outcome {
                // Nobody else can be watching a task that did not exist.
                SubmitOutcome::Created => submitted.task,
                SubmitOutcome::Continued => {
                    // The end of the conversation came back; the client gets it whole, and those
                    // following the task see it as it is now (the run may have moved it on).
                    let task = self.task(task_id).await?;
                    self.hub.publish(&task);
                    task
                }
                SubmitOutcome::Duplicate => self.task(task_id).await?,
            };
            return Ok((task, watch));
        };
        let submitted = storage.submit_task(context_id, &message, None).await.about(task_id)?;
        // Stored before the run is queued, so that the run's notifications find it.
        storage.save_webhook_config(task_id, config).await.about(task_id)?;
        let task = match submitted.outcome {
            SubmitOutcome::Created => {
                self.hub.publish(&submitted.task);
                self.schedule(&submitted.task, message).await?;
                submitted.task
            }
            SubmitOutcome::Continued => {
                // Storage returns the end of a continued conversation; the client gets it whole.
                self.hub.publish(&submitted.task);
                self.schedule(&submitted.task, message).await?;
                self.task(task_id).await?
            }
            SubmitOutcome::Duplicate => {
                // A resend: the run is the first send's. Read the task as it is now (the watch
                // sees what comes next), and schedule again only if it still waits for its run
                // — the run's id derives from the message, so that cannot run it twice, and it
                // heals a first send whose scheduling failed.
                let task = self.task(task_id).await?;
                let last = task.history.last().map(|m| m.message_id);
                if task.status.state == TaskState::Submitted && last == Some(message.message_id) {
                    self.schedule(&task, message).await?;
                }
                task
            }
        };
        Ok((task, watch))
    }

    /// The context and task a message goes to: the task it names (created if new: the client may
    /// choose a new task's id), else one derived from the message id, in the context it names or
    /// one derived from the message id. Derived ids make a resend find the same task.
    async fn place(&self, message: &Message) -> Outcome<(ContextId, TaskId)> {
        let derived_context =
            || ContextId::from(Uuid::new_v5(&CONTEXT_NAMESPACE, message.message_id.as_uuid().as_bytes()));
        match message.task_id {
            Some(task_id) => match self.app.storage.load_task(task_id, Some(1)).await.about(task_id)? {
                Some(task) => match message.context_id {
                    Some(context_id) if context_id != task.context_id => {
                        Err(Failure::InvalidParams(format!(
                            "params.message.contextId: task {task_id} is in context {}, not {context_id}",
                            task.context_id
                        )))
                    }
                    _ => Ok((task.context_id, task_id)),
                },
                None => Ok((message.context_id.unwrap_or_else(derived_context), task_id)),
            },
            None => {
                let context_id = message.context_id.unwrap_or_else(derived_context);
                Ok((context_id, derived_task(context_id, message.message_id)))
            }
        }
    }

    async fn schedule(&self, task: &Task, message: Message) -> Outcome<()> {
        let params = TaskSendParams::new(task.id, task.context_id, Some(message));
        self.app.scheduler.run_task(&params).await.about(task.id)?;
        Ok(())
    }

    fn follower(&self, watch: Watch) -> Follower {
        Follower { app: self.app.clone(), watch, stopping: self.stopping.clone() }
    }
}

/// Waits for a task's next stored state.
#[derive(Debug)]
pub struct Follower {
    app: App,
    watch: Watch,
    stopping: CancellationToken,
}

impl Follower {
    /// The next state of the task after `current`: told by the worker, or read from storage
    /// when some were missed or none came for a while.
    pub async fn next_state(&mut self, current: &Task) -> Outcome<Task> {
        loop {
            let seen = tokio::select! {
                seen = self.watch.next() => seen.map(|task| Task::clone(&task)),
                () = tokio::time::sleep(RECHECK) => None,
                () = self.stopping.cancelled() => {
                    return Err(Failure::Internal("the server is shutting down".into()));
                }
            };
            let task = match seen {
                Some(task) => task,
                None => self
                    .app
                    .storage
                    .load_task(current.id, None)
                    .await
                    .about(current.id)?
                    .ok_or_else(|| not_found(current.id))?,
            };
            // A new state is news; so is the same state written again later. Not a re-read that
            // only shows the state with its timestamp rounded by the backend. Timestamps are not
            // compared across states: they may come from different clocks (the app's, the
            // database's).
            let (now, then) = (&task.status, &current.status);
            if now.state != then.state || now.timestamp > then.timestamp {
                return Ok(task);
            }
        }
    }
}

fn derived_task(context_id: ContextId, message_id: MessageId) -> TaskId {
    let mut name = [0u8; 32];
    name[..16].copy_from_slice(context_id.as_uuid().as_bytes());
    name[16..].copy_from_slice(message_id.as_uuid().as_bytes());
    TaskId::from(Uuid::new_v5(&TASK_NAMESPACE, &name))
}

fn not_found(task_id: TaskId) -> Failure {
    Failure::TaskNotFound(format!("task {task_id} not found"))
}

fn not_cancelable(task: &Task) -> Failure {
    Failure::NotCancelable(format!(
        "task {} is {}, a terminal state: it cannot be canceled",
        task.id, task.status.state
    ))
}
