//! The keys of a [`RedisStorage`](super::RedisStorage) prefix.

use std::fmt::Display;

use crate::model::{ContextId, TaskState};

/// Key names under one prefix. All share the hash tag `{prefix}` (one Redis Cluster slot), so
/// multi-key transactions stay valid there, and all live under `{prefix}:store:`, apart from the
/// scheduler's keys of the same prefix (so that `clear_all` never touches queued operations).
///
/// A task's conversation is not under `task:<id>…`, so that `task_pattern` matches heads only.
/// Artifacts have no id hash: every read returns them whole (the storage contract), so a write
/// tests their ids against what it has read anyway.
///
/// | key | type | holds |
/// |---|---|---|
/// | `{p}:store:task:<id>` | string | the task's head: the task without its history and artifacts, its owner and creation number (JSON) |
/// | `{p}:store:messages:<id>` | list | the task's history, oldest first (one message's JSON per element) |
/// | `{p}:store:message-ids:<id>` | hash | message id → its position in `messages:<id>` (0-based): the idempotency keys, looked up without reading the history |
/// | `{p}:store:artifacts:<id>` | list | the task's artifacts, oldest first (JSON) |
/// | `{p}:store:claim:<id>` | hash | the task's claim (`token`, `run`, `lease_until` in ms), only while it is `working` |
/// | `{p}:store:due` | sorted set | the ids of the tasks that may get stuck (`submitted`, `resumed`, `working`), scored by when they are stuck from (ms): the state's timestamp, or the lease's end |
/// | `{p}:store:finished` | sorted set | the ids of the terminal tasks, scored by when they finished (ms), for `prune_tasks` |
/// | `{p}:store:tasks` | sorted set | every task id, scored by creation number |
/// | `{p}:store:owner-tasks:<owner>` | sorted set | one owner's task ids |
/// | `{p}:store:state:<state>` | set | the ids of the tasks in a state (for counts) |
/// | `{p}:store:context:<id>` | string | the context: owner, creation number, data, messages (JSON) |
/// | `{p}:store:context-tasks:<id>` | sorted set | a context's task ids |
/// | `{p}:store:contexts` / `{p}:store:owner-contexts:<owner>` | sorted sets | context ids |
/// | `{p}:store:webhook:<task>` | string | a task's webhook config (JSON) |
/// | `{p}:store:webhooks` | set | task ids with a webhook config |
/// | `{p}:store:feedback:<task>` | string | a task's feedback (JSON array) |
/// | `{p}:store:failed` | hash | failed notifications by notification id (JSON) |
/// | `{p}:store:failed-order` | sorted set | notification ids, scored by creation number when first recorded |
/// | `{p}:store:task-failed:<task>` | set | the notification ids of a task's failed notifications |
/// | `{p}:store:sequence` | counter | the last creation number |
/// | `{p}:store:schema` | string | the layout version the data is in (absent: the first, without claims and due set; 2: without the finished set; 3: each task one JSON string with its history and artifacts) |
/// | `{p}:store:migration` | string, expires | held by the process bringing the data to the current layout |
#[derive(Clone, Debug)]
pub(super) struct StorageKeys {
    tag: String,
}

impl StorageKeys {
    pub(super) fn new(prefix: &str) -> Self {
        Self { tag: format!("{{{prefix}}}:store") }
    }
    // Ids are taken as `Display`: typed ids, or ids read back from an index.
    pub(super) fn task(&self, id: impl Display) -> String {
        format!("{}:task:{id}", self.tag)
    }
    pub(super) fn messages(&self, id: impl Display) -> String {
        format!("{}:messages:{id}", self.tag)
    }
    pub(super) fn message_ids(&self, id: impl Display) -> String {
        format!("{}:message-ids:{id}", self.tag)
    }
    pub(super) fn artifacts(&self, id: impl Display) -> String {
        format!("{}:artifacts:{id}", self.tag)
    }
    pub(super) fn claim(&self, id: impl Display) -> String {
        format!("{}:claim:{id}", self.tag)
    }
    pub(super) fn due(&self) -> String {
        format!("{}:due", self.tag)
    }
    pub(super) fn finished(&self) -> String {
        format!("{}:finished", self.tag)
    }
    pub(super) fn failed(&self) -> String {
        format!("{}:failed", self.tag)
    }
    pub(super) fn failed_order(&self) -> String {
        format!("{}:failed-order", self.tag)
    }
    pub(super) fn task_failed(&self, task: impl Display) -> String {
        format!("{}:task-failed:{task}", self.tag)
    }
    pub(super) fn schema(&self) -> String {
        format!("{}:schema", self.tag)
    }
    pub(super) fn migration(&self) -> String {
        format!("{}:migration", self.tag)
    }
    pub(super) fn tasks(&self) -> String {
        format!("{}:tasks", self.tag)
    }
    pub(super) fn owner_tasks(&self, owner: &str) -> String {
        format!("{}:owner-tasks:{owner}", self.tag)
    }
    pub(super) fn state(&self, state: TaskState) -> String {
        format!("{}:state:{state}", self.tag)
    }
    pub(super) fn context(&self, id: ContextId) -> String {
        format!("{}:context:{id}", self.tag)
    }
    pub(super) fn context_tasks(&self, id: ContextId) -> String {
        format!("{}:context-tasks:{id}", self.tag)
    }
    pub(super) fn contexts(&self) -> String {
        format!("{}:contexts", self.tag)
    }
    pub(super) fn owner_contexts(&self, owner: &str) -> String {
        format!("{}:owner-contexts:{owner}", self.tag)
    }
    pub(super) fn webhook(&self, task: impl Display) -> String {
        format!("{}:webhook:{task}", self.tag)
    }
    pub(super) fn webhooks(&self) -> String {
        format!("{}:webhooks", self.tag)
    }
    pub(super) fn feedback(&self, task: impl Display) -> String {
        format!("{}:feedback:{task}", self.tag)
    }
    pub(super) fn sequence(&self) -> String {
        format!("{}:sequence", self.tag)
    }
    /// A `SCAN` pattern matching every key of this prefix.
    pub(super) fn pattern(&self) -> String {
        format!("{}:*", self.escaped_tag())
    }
    /// A `SCAN` pattern matching every task key of this prefix.
    pub(super) fn task_pattern(&self) -> String {
        format!("{}:task:*", self.escaped_tag())
    }
    /// The id in a task key.
    pub(super) fn task_id_of<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(&self.tag)?.strip_prefix(":task:")
    }
    fn escaped_tag(&self) -> String {
        // The tag's braces are glob-special only as `[`/`]`; escape those in the prefix.
        self.tag
            .chars()
            .flat_map(|c| match c {
                '*' | '?' | '[' | ']' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect()
    }
}
