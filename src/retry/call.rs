//! The one table of which operations are idempotent.

/// A retried operation: its name (for logs and errors) and whether replaying it after an
/// uncertain failure is safe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Call {
    /// The operation's name, e.g. `submit_task`.
    pub name: &'static str,
    /// Whether a replay after an uncertain failure has the same effect as one call.
    pub idempotent: bool,
}

impl Call {
    /// An operation that may be replayed after an uncertain failure.
    pub const fn idempotent(name: &'static str) -> Self {
        Self { name, idempotent: true }
    }

    /// An operation that is retried only when it surely was not applied.
    pub const fn non_idempotent(name: &'static str) -> Self {
        Self { name, idempotent: false }
    }

    // Storage. Writes are idempotent because they carry their own keys (message, artifact and
    // feedback ids) or are upserts; the two exceptions report a replay differently.
    /// [`Storage::load_task`](crate::Storage::load_task)
    pub const LOAD_TASK: Self = Self::idempotent("load_task");
    /// [`Storage::submit_task`](crate::Storage::submit_task): deduplicated by message id.
    pub const SUBMIT_TASK: Self = Self::idempotent("submit_task");
    /// [`Storage::update_task`](crate::Storage::update_task): deduplicated by ids; a replay is a no-op.
    pub const UPDATE_TASK: Self = Self::idempotent("update_task");
    /// [`Storage::update_task_state_if`](crate::Storage::update_task_state_if): a replay returns `false`.
    pub const UPDATE_TASK_STATE_IF: Self = Self::non_idempotent("update_task_state_if");
    /// [`Storage::list_tasks`](crate::Storage::list_tasks)
    pub const LIST_TASKS: Self = Self::idempotent("list_tasks");
    /// [`Storage::count_tasks`](crate::Storage::count_tasks)
    pub const COUNT_TASKS: Self = Self::idempotent("count_tasks");
    /// [`Storage::list_tasks_by_context`](crate::Storage::list_tasks_by_context)
    pub const LIST_TASKS_BY_CONTEXT: Self = Self::idempotent("list_tasks_by_context");
    /// [`Storage::load_context`](crate::Storage::load_context)
    pub const LOAD_CONTEXT: Self = Self::idempotent("load_context");
    /// [`Storage::update_context`](crate::Storage::update_context): a replacement.
    pub const UPDATE_CONTEXT: Self = Self::idempotent("update_context");
    /// [`Storage::append_to_context`](crate::Storage::append_to_context): deduplicated by message id.
    pub const APPEND_TO_CONTEXT: Self = Self::idempotent("append_to_context");
    /// [`Storage::list_contexts`](crate::Storage::list_contexts)
    pub const LIST_CONTEXTS: Self = Self::idempotent("list_contexts");
    /// [`Storage::clear_context`](crate::Storage::clear_context): a replay reports not found.
    pub const CLEAR_CONTEXT: Self = Self::non_idempotent("clear_context");
    /// [`Storage::clear_all`](crate::Storage::clear_all)
    pub const CLEAR_ALL: Self = Self::idempotent("clear_all");
    /// [`Storage::save_webhook_config`](crate::Storage::save_webhook_config): an upsert.
    pub const SAVE_WEBHOOK_CONFIG: Self = Self::idempotent("save_webhook_config");
    /// [`Storage::load_webhook_config`](crate::Storage::load_webhook_config)
    pub const LOAD_WEBHOOK_CONFIG: Self = Self::idempotent("load_webhook_config");
    /// [`Storage::delete_webhook_config`](crate::Storage::delete_webhook_config)
    pub const DELETE_WEBHOOK_CONFIG: Self = Self::idempotent("delete_webhook_config");
    /// [`Storage::load_all_webhook_configs`](crate::Storage::load_all_webhook_configs)
    pub const LOAD_ALL_WEBHOOK_CONFIGS: Self = Self::idempotent("load_all_webhook_configs");
    /// [`Storage::store_task_feedback`](crate::Storage::store_task_feedback): deduplicated by feedback id.
    pub const STORE_TASK_FEEDBACK: Self = Self::idempotent("store_task_feedback");
    /// [`Storage::get_task_feedback`](crate::Storage::get_task_feedback)
    pub const GET_TASK_FEEDBACK: Self = Self::idempotent("get_task_feedback");
    /// [`Storage::get_task_owner`](crate::Storage::get_task_owner)
    pub const GET_TASK_OWNER: Self = Self::idempotent("get_task_owner");
    /// [`Storage::get_context_owner`](crate::Storage::get_context_owner)
    pub const GET_CONTEXT_OWNER: Self = Self::idempotent("get_context_owner");
    /// [`Storage::ping`](crate::Storage::ping), [`Scheduler::ping`](crate::Scheduler::ping)
    pub const PING: Self = Self::idempotent("ping");
    /// [`Storage::close`](crate::Storage::close), [`Scheduler::close`](crate::Scheduler::close)
    pub const CLOSE: Self = Self::idempotent("close");

    /// [`Storage::claim_task`](crate::Storage::claim_task): a replay with the same token finds
    /// its own claim.
    pub const CLAIM_TASK: Self = Self::idempotent("claim_task");
    /// [`Storage::renew_claim`](crate::Storage::renew_claim)
    pub const RENEW_CLAIM: Self = Self::idempotent("renew_claim");
    /// [`Storage::release_claim`](crate::Storage::release_claim)
    pub const RELEASE_CLAIM: Self = Self::idempotent("release_claim");
    /// [`Storage::stuck_tasks`](crate::Storage::stuck_tasks)
    pub const STUCK_TASKS: Self = Self::idempotent("stuck_tasks");
    /// [`Storage::record_failed_notification`](crate::Storage::record_failed_notification): an
    /// upsert by notification id.
    pub const RECORD_FAILED_NOTIFICATION: Self = Self::idempotent("record_failed_notification");
    /// [`Storage::failed_notifications`](crate::Storage::failed_notifications)
    pub const FAILED_NOTIFICATIONS: Self = Self::idempotent("failed_notifications");
    /// [`Storage::remove_failed_notification`](crate::Storage::remove_failed_notification): a
    /// repeat reports `false`.
    pub const REMOVE_FAILED_NOTIFICATION: Self = Self::non_idempotent("remove_failed_notification");
    /// [`Storage::prune_tasks`](crate::Storage::prune_tasks): deleting what is old is the same twice.
    pub const PRUNE_TASKS: Self = Self::idempotent("prune_tasks");

    // Scheduler. Enqueues are deduplicated by operation id.
    /// [`Scheduler::enqueue`](crate::Scheduler::enqueue)
    pub const ENQUEUE: Self = Self::idempotent("enqueue");
    /// [`Scheduler::receive`](crate::Scheduler::receive): opening the stream only.
    pub const RECEIVE: Self = Self::idempotent("receive");
    /// [`Delivery::ack`](crate::Delivery::ack)
    pub const ACK: Self = Self::idempotent("ack");
    /// [`Delivery::release`](crate::Delivery::release)
    pub const RELEASE: Self = Self::idempotent("release");
    /// [`Delivery::dead_letter`](crate::Delivery::dead_letter)
    pub const DEAD_LETTER: Self = Self::idempotent("dead_letter");
    /// [`Scheduler::dead_letters`](crate::Scheduler::dead_letters)
    pub const DEAD_LETTERS: Self = Self::idempotent("dead_letters");
    /// [`Scheduler::replay_dead_letter`](crate::Scheduler::replay_dead_letter): a replay of a
    /// replay reports `false`.
    pub const REPLAY_DEAD_LETTER: Self = Self::non_idempotent("replay_dead_letter");
    /// [`Scheduler::discard_dead_letter`](crate::Scheduler::discard_dead_letter): a repeat
    /// reports `false`.
    pub const DISCARD_DEAD_LETTER: Self = Self::non_idempotent("discard_dead_letter");
    /// [`Scheduler::stats`](crate::Scheduler::stats)
    pub const STATS: Self = Self::idempotent("stats");
    /// [`Scheduler::prune`](crate::Scheduler::prune): deleting what is old is the same twice.
    pub const PRUNE: Self = Self::idempotent("prune");

    // Calls to external services.
    /// A webhook POST: receivers deduplicate by its `Idempotency-Key` header.
    pub const PUSH_NOTIFICATION: Self = Self::idempotent("push_notification");
}
