//! The keys of a [`RedisStorage`](super::RedisStorage) prefix.

use crate::model::{ContextId, TaskId, TaskState};

/// Key names under one prefix. All share the hash tag `{prefix}` (one Redis Cluster slot), so
/// multi-key transactions stay valid there, and all live under `{prefix}:store:`, apart from the
/// scheduler's keys of the same prefix (so that `clear_all` never touches queued operations).
///
/// | key | type | holds |
/// |---|---|---|
/// | `{p}:store:task:<id>` | string | the task, its owner and creation number (JSON) |
/// | `{p}:store:tasks` | sorted set | every task id, scored by creation number |
/// | `{p}:store:owner-tasks:<owner>` | sorted set | one owner's task ids |
/// | `{p}:store:state:<state>` | set | the ids of the tasks in a state (for counts) |
/// | `{p}:store:context:<id>` | string | the context: owner, creation number, data, messages (JSON) |
/// | `{p}:store:context-tasks:<id>` | sorted set | a context's task ids |
/// | `{p}:store:contexts` / `{p}:store:owner-contexts:<owner>` | sorted sets | context ids |
/// | `{p}:store:webhook:<task>` | string | a task's webhook config (JSON) |
/// | `{p}:store:webhooks` | set | task ids with a webhook config |
/// | `{p}:store:feedback:<task>` | string | a task's feedback (JSON array) |
/// | `{p}:store:sequence` | counter | the last creation number |
#[derive(Clone, Debug)]
pub(crate) struct StorageKeys {
    tag: String,
}

impl StorageKeys {
    pub(crate) fn new(prefix: &str) -> Self {
        Self { tag: format!("{{{prefix}}}:store") }
    }
    pub(crate) fn task(&self, id: TaskId) -> String {
        format!("{}:task:{id}", self.tag)
    }
    /// The task key of an id read back from an index.
    pub(crate) fn task_by_text(&self, id: &str) -> String {
        format!("{}:task:{id}", self.tag)
    }
    pub(crate) fn tasks(&self) -> String {
        format!("{}:tasks", self.tag)
    }
    pub(crate) fn owner_tasks(&self, owner: &str) -> String {
        format!("{}:owner-tasks:{owner}", self.tag)
    }
    pub(crate) fn state(&self, state: TaskState) -> String {
        format!("{}:state:{state}", self.tag)
    }
    pub(crate) fn context(&self, id: ContextId) -> String {
        format!("{}:context:{id}", self.tag)
    }
    pub(crate) fn context_tasks(&self, id: ContextId) -> String {
        format!("{}:context-tasks:{id}", self.tag)
    }
    pub(crate) fn contexts(&self) -> String {
        format!("{}:contexts", self.tag)
    }
    pub(crate) fn owner_contexts(&self, owner: &str) -> String {
        format!("{}:owner-contexts:{owner}", self.tag)
    }
    pub(crate) fn webhook(&self, task: TaskId) -> String {
        format!("{}:webhook:{task}", self.tag)
    }
    pub(crate) fn webhooks(&self) -> String {
        format!("{}:webhooks", self.tag)
    }
    pub(crate) fn feedback(&self, task: TaskId) -> String {
        format!("{}:feedback:{task}", self.tag)
    }
    pub(crate) fn sequence(&self) -> String {
        format!("{}:sequence", self.tag)
    }
    /// A `SCAN` pattern matching every key of this prefix.
    pub(crate) fn pattern(&self) -> String {
        // The tag's braces are glob-special only as `[`/`]`; escape those in the prefix.
        let escaped: String = self
            .tag
            .chars()
            .flat_map(|c| match c {
                '*' | '?' | '[' | ']' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        format!("{escaped}:*")
    }
}
