//! `Retrying<S>` as a [`Storage`]: every method is the inner call through the one helper.

use std::collections::HashMap;
use std::time::Duration;

use uuid::Uuid;

use super::Retrying;
use super::forward::forward;
use crate::model::{
    ClaimOutcome, ClaimRequest, ClaimToken, Context, ContextId, ContextSummary, FailedNotification, Feedback,
    Message, Metadata, Page, PushNotificationConfig, Renewal, StuckTask, Submission, Task, TaskId, TaskState,
    TaskUpdate,
};
use crate::storage::Storage;

#[deny(clippy::missing_trait_methods)]
impl<S: Storage> Storage for Retrying<S> {
    forward! {
        role = STORAGE, "storage";
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
}
