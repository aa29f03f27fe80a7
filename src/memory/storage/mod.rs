//! [`InMemoryStorage`]: the storage contract on sharded concurrent maps.

mod retention;
mod stored;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use uuid::Uuid;

use crate::error::{Entity, Error, Result};
use crate::model::{
    Admission, ClaimDecision, ClaimOutcome, ClaimRequest, ClaimToken, Context, ContextId, ContextSummary,
    FailedNotification, Feedback, InputLimits, Message, Metadata, Page, PushNotificationConfig, Renewal,
    StuckTask, Submission, SubmitOutcome, Task, TaskId, TaskState, TaskStatus, TaskUpdate, lease_end,
};
use crate::storage::Storage;
use stored::StoredTask;

/// Storage in process memory.
///
/// Each map is sharded ([`DashMap`]), so operations on different tasks do not contend. No lock is
/// ever held across an `.await` (there are none inside), and when an operation touches several
/// maps it locks them in one order — contexts, then tasks, then webhooks and feedback — so that it
/// is atomic without deadlocks. Everything returned is a copy.
#[derive(Debug, Default)]
pub struct InMemoryStorage {
    contexts: DashMap<ContextId, StoredContext>,
    tasks: DashMap<TaskId, StoredTask>,
    webhooks: DashMap<TaskId, PushNotificationConfig>,
    feedback: DashMap<TaskId, Vec<Feedback>>,
    /// Per task, in the order first recorded (by `sequence`).
    failed: DashMap<TaskId, Vec<(u64, FailedNotification)>>,
    /// Creation order shared by tasks and contexts: lists sort by it.
    sequence: AtomicU64,
    closed: AtomicBool,
    limits: InputLimits,
}

#[derive(Debug)]
struct StoredContext {
    owner: Option<String>,
    created: u64,
    task_ids: Vec<TaskId>,
    data: Metadata,
    messages: Vec<Message>,
}

impl InMemoryStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty storage accepting input within `limits` (the defaults otherwise).
    pub fn with_limits(limits: InputLimits) -> Self {
        Self { limits, ..Self::default() }
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(Error::Closed("in-memory storage"));
        }
        Ok(())
    }

    fn next_sequence(&self) -> u64 {
        self.sequence.fetch_add(1, Ordering::Relaxed)
    }

    /// Writes a context's data or messages, creating it for `owner` if it does not exist.
    fn with_owned_context(
        &self,
        context_id: ContextId,
        owner: Option<&str>,
        write: impl FnOnce(&mut StoredContext),
    ) -> Result<()> {
        self.check_open()?;
        match self.contexts.entry(context_id) {
            Entry::Occupied(mut entry) => {
                if entry.get().owner.as_deref() != owner {
                    return Err(Error::ownership(Entity::Context, context_id));
                }
                write(entry.get_mut());
            }
            Entry::Vacant(entry) => {
                let mut context = StoredContext::new(owner, self.next_sequence());
                write(&mut context);
                entry.insert(context);
            }
        }
        Ok(())
    }

    fn tasks_in_order(
        &self,
        ids: impl IntoIterator<Item = TaskId>,
        page: Page,
        owner: Option<&str>,
    ) -> Vec<Task> {
        let visible = ids.into_iter().filter_map(|id| {
            let stored = self.tasks.get(&id)?;
            owner_matches(&stored.owner, owner).then(|| stored.task.clone())
        });
        page.apply(visible)
    }
}

impl StoredContext {
    fn new(owner: Option<&str>, created: u64) -> Self {
        Self {
            owner: owner.map(str::to_owned),
            created,
            task_ids: Vec::new(),
            data: Metadata::new(),
            messages: Vec::new(),
        }
    }
}

fn owner_matches(stored: &Option<String>, filter: Option<&str>) -> bool {
    filter.is_none_or(|owner| stored.as_deref() == Some(owner))
}

#[async_trait]
impl Storage for InMemoryStorage {
    async fn load_task(&self, task_id: TaskId, history_length: Option<usize>) -> Result<Option<Task>> {
        self.check_open()?;
        Ok(self.tasks.get(&task_id).map(|stored| stored.copy(history_length)))
    }

    async fn submit_task(
        &self,
        context_id: ContextId,
        message: &Message,
        owner: Option<&str>,
    ) -> Result<Submission> {
        self.check_open()?;
        let (task_id, message) = message.stamped_for_submit(context_id)?;
        self.limits.check_message(&message)?;
        // Lock order: the context entry, then the task entry.
        let context = self.contexts.entry(context_id);
        match self.tasks.entry(task_id) {
            Entry::Occupied(mut entry) => {
                let stored = entry.get_mut();
                let mut view = stored.view([&message]);
                let outcome = match view.admit(stored.owner.as_deref(), context_id, &message, owner)? {
                    Admission::Duplicate => SubmitOutcome::Duplicate,
                    Admission::Append => {
                        view.continue_with(message);
                        stored.absorb(view, 0);
                        SubmitOutcome::Continued
                    }
                };
                Ok(Submission { task: stored.copy(Some(1)), outcome })
            }
            Entry::Vacant(entry) => {
                match context {
                    Entry::Occupied(mut context) => {
                        if context.get().owner.as_deref() != owner {
                            return Err(Error::ownership(Entity::Context, context_id));
                        }
                        context.get_mut().task_ids.push(task_id);
                    }
                    Entry::Vacant(context) => {
                        let mut created = StoredContext::new(owner, self.next_sequence());
                        created.task_ids.push(task_id);
                        context.insert(created);
                    }
                }
                let task = Task::submitted(task_id, context_id, message);
                let created = self.next_sequence();
                let owner = owner.map(str::to_owned);
                entry.insert(StoredTask::new(task.clone(), owner, created));
                Ok(Submission { task, outcome: SubmitOutcome::Created })
            }
        }
    }

    async fn update_task(&self, task_id: TaskId, update: &TaskUpdate) -> Result<Task> {
        self.check_open()?;
        self.limits.check_update(update)?;
        let mut stored =
            self.tasks.get_mut(&task_id).ok_or_else(|| Error::not_found(Entity::Task, task_id))?;
        let mut view = stored.view(&update.messages);
        if update.check(&view, stored.claim.as_ref())? {
            let found = view.history.len();
            view.apply(update);
            stored.absorb(view, found);
        }
        Ok(stored.copy(Some(update.returned_history())))
    }

    async fn claim_task(&self, task_id: TaskId, request: &ClaimRequest) -> Result<ClaimOutcome> {
        self.check_open()?;
        let Some(mut stored) = self.tasks.get_mut(&task_id) else {
            return Ok(ClaimOutcome::Missing);
        };
        let now = Utc::now();
        Ok(match request.decide(&stored.task, stored.claim.as_ref(), now) {
            ClaimDecision::Take { takeover } => {
                request.apply(&mut stored.task, now);
                stored.claim = Some(request.claim_at(now));
                ClaimOutcome::Claimed { task: Box::new(stored.task.clone()), takeover }
            }
            ClaimDecision::Replay => {
                ClaimOutcome::Claimed { task: Box::new(stored.task.clone()), takeover: false }
            }
            ClaimDecision::Held(claim) => ClaimOutcome::Held { run: claim.run, until: claim.lease_until },
            ClaimDecision::Unclaimable(state) => ClaimOutcome::Unclaimable(state),
        })
    }

    async fn renew_claim(&self, task_id: TaskId, token: ClaimToken, lease: Duration) -> Result<Renewal> {
        self.check_open()?;
        let Some(mut stored) = self.tasks.get_mut(&task_id) else {
            return Ok(Renewal::Lost);
        };
        match stored.claim.as_mut() {
            Some(claim) if claim.token == token => {
                claim.lease_until = lease_end(Utc::now(), lease);
                Ok(Renewal::Held { until: claim.lease_until })
            }
            _ => Ok(Renewal::Lost),
        }
    }

    async fn release_claim(&self, task_id: TaskId, token: ClaimToken) -> Result<()> {
        self.check_open()?;
        if let Some(mut stored) = self.tasks.get_mut(&task_id)
            && let Some(claim) = stored.claim.as_mut().filter(|claim| claim.token == token)
        {
            claim.lease_until = Utc::now();
        }
        Ok(())
    }

    async fn stuck_tasks(&self, older_than: Duration, limit: usize) -> Result<Vec<StuckTask>> {
        self.check_open()?;
        let cutoff = StuckTask::cutoff(Utc::now(), older_than);
        let mut stuck: Vec<StuckTask> = self
            .tasks
            .iter()
            .filter_map(|entry| StuckTask::of(&entry.task, entry.claim.as_ref(), cutoff))
            .collect();
        stuck.sort_unstable_by_key(|task| task.since);
        stuck.truncate(limit);
        Ok(stuck)
    }

    async fn update_task_state_if(&self, task_id: TaskId, from: TaskState, to: TaskState) -> Result<bool> {
        self.check_open()?;
        let Some(mut stored) = self.tasks.get_mut(&task_id) else {
            return Ok(false);
        };
        if stored.task.status.state != from {
            return Ok(false);
        }
        if from.is_terminal() {
            return Err(Error::TaskImmutable { task_id, state: from });
        }
        stored.task.status = TaskStatus::now(to);
        stored.settle_claim();
        Ok(true)
    }

    async fn list_tasks(&self, page: Page, owner: Option<&str>) -> Result<Vec<Task>> {
        self.check_open()?;
        let mut order: Vec<(u64, TaskId)> = self
            .tasks
            .iter()
            .filter(|entry| owner_matches(&entry.owner, owner))
            .map(|entry| (entry.created, *entry.key()))
            .collect();
        order.sort_unstable();
        Ok(self.tasks_in_order(page.apply(order.into_iter().map(|(_, id)| id)), Page::ALL, None))
    }

    async fn count_tasks(&self, state: Option<TaskState>) -> Result<u64> {
        self.check_open()?;
        let count = match state {
            None => self.tasks.len(),
            Some(state) => self.tasks.iter().filter(|entry| entry.task.status.state == state).count(),
        };
        Ok(count as u64)
    }

    async fn list_tasks_by_context(
        &self,
        context_id: ContextId,
        page: Page,
        owner: Option<&str>,
    ) -> Result<Vec<Task>> {
        self.check_open()?;
        let ids = self.contexts.get(&context_id).map(|context| context.task_ids.clone()).unwrap_or_default();
        Ok(self.tasks_in_order(ids, page, owner))
    }

    async fn load_context(&self, context_id: ContextId) -> Result<Option<Context>> {
        self.check_open()?;
        Ok(self.contexts.get(&context_id).map(|context| Context {
            context_id,
            task_ids: context.task_ids.clone(),
            data: context.data.clone(),
            messages: context.messages.clone(),
        }))
    }

    async fn update_context(
        &self,
        context_id: ContextId,
        data: &Metadata,
        owner: Option<&str>,
    ) -> Result<()> {
        self.limits.check_metadata("context data", data)?;
        self.with_owned_context(context_id, owner, |context| context.data = data.clone())
    }

    async fn append_to_context(
        &self,
        context_id: ContextId,
        messages: &[Message],
        owner: Option<&str>,
    ) -> Result<()> {
        messages.iter().try_for_each(|message| self.limits.check_message(message))?;
        self.with_owned_context(context_id, owner, |context| {
            for message in messages {
                if !context.messages.iter().any(|m| m.message_id == message.message_id) {
                    let mut message = message.clone();
                    message.context_id = Some(context_id);
                    context.messages.push(message);
                }
            }
        })
    }

    async fn list_contexts(&self, page: Page, owner: Option<&str>) -> Result<Vec<ContextSummary>> {
        self.check_open()?;
        let mut contexts: Vec<(u64, ContextSummary)> = self
            .contexts
            .iter()
            .filter(|entry| owner_matches(&entry.owner, owner))
            .map(|entry| {
                let summary = ContextSummary {
                    context_id: *entry.key(),
                    task_count: entry.task_ids.len() as u64,
                    task_ids: entry.task_ids.clone(),
                };
                (entry.created, summary)
            })
            .collect();
        contexts.sort_unstable_by_key(|(created, _)| *created);
        Ok(page.apply(contexts.into_iter().map(|(_, summary)| summary)))
    }

    async fn clear_context(&self, context_id: ContextId) -> Result<()> {
        self.check_open()?;
        let Entry::Occupied(context) = self.contexts.entry(context_id) else {
            return Err(Error::not_found(Entity::Context, context_id));
        };
        for task_id in &context.get().task_ids {
            self.tasks.remove(task_id);
            self.webhooks.remove(task_id);
            self.feedback.remove(task_id);
            self.failed.remove(task_id);
        }
        context.remove();
        Ok(())
    }

    async fn clear_all(&self) -> Result<()> {
        self.check_open()?;
        self.contexts.clear();
        self.tasks.clear();
        self.webhooks.clear();
        self.feedback.clear();
        self.failed.clear();
        Ok(())
    }

    async fn save_webhook_config(&self, task_id: TaskId, config: &PushNotificationConfig) -> Result<()> {
        self.check_open()?;
        self.limits.check_webhook(config)?;
        // Holding the task keeps a concurrent clear_context from leaving an orphan config.
        let _task = self.tasks.get(&task_id).ok_or_else(|| Error::not_found(Entity::Task, task_id))?;
        self.webhooks.insert(task_id, config.clone());
        Ok(())
    }

    async fn load_webhook_config(&self, task_id: TaskId) -> Result<Option<PushNotificationConfig>> {
        self.check_open()?;
        Ok(self.webhooks.get(&task_id).map(|config| config.clone()))
    }

    async fn delete_webhook_config(&self, task_id: TaskId) -> Result<()> {
        self.check_open()?;
        self.webhooks.remove(&task_id);
        Ok(())
    }

    async fn load_all_webhook_configs(&self) -> Result<HashMap<TaskId, PushNotificationConfig>> {
        self.check_open()?;
        Ok(self.webhooks.iter().map(|entry| (*entry.key(), entry.value().clone())).collect())
    }

    async fn store_task_feedback(&self, feedback: &Feedback) -> Result<()> {
        self.check_open()?;
        self.limits.check_feedback(feedback)?;
        let task_id = feedback.task_id;
        let _task = self.tasks.get(&task_id).ok_or_else(|| Error::not_found(Entity::Task, task_id))?;
        let mut stored = self.feedback.entry(task_id).or_default();
        if !stored.iter().any(|f| f.id == feedback.id) {
            stored.push(feedback.clone());
        }
        Ok(())
    }

    async fn get_task_feedback(&self, task_id: TaskId) -> Result<Vec<Feedback>> {
        self.check_open()?;
        Ok(self.feedback.get(&task_id).map(|f| f.clone()).unwrap_or_default())
    }

    async fn get_task_owner(&self, task_id: TaskId) -> Result<Option<String>> {
        self.check_open()?;
        let stored = self.tasks.get(&task_id).ok_or_else(|| Error::not_found(Entity::Task, task_id))?;
        Ok(stored.owner.clone())
    }

    async fn get_context_owner(&self, context_id: ContextId) -> Result<Option<String>> {
        self.check_open()?;
        let stored =
            self.contexts.get(&context_id).ok_or_else(|| Error::not_found(Entity::Context, context_id))?;
        Ok(stored.owner.clone())
    }

    async fn record_failed_notification(&self, failure: &FailedNotification) -> Result<()> {
        self.check_open()?;
        self.record_failure(failure)
    }

    async fn failed_notifications(&self, page: Page) -> Result<Vec<FailedNotification>> {
        self.check_open()?;
        Ok(self.failures(page))
    }

    async fn remove_failed_notification(&self, notification_id: Uuid) -> Result<bool> {
        self.check_open()?;
        Ok(self.remove_failure(notification_id))
    }

    async fn prune_tasks(&self, older_than: Duration, limit: usize) -> Result<u64> {
        self.check_open()?;
        Ok(self.prune(older_than, limit))
    }

    async fn ping(&self) -> Result<()> {
        self.check_open()
    }

    async fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::Relaxed);
        Ok(())
    }
}
