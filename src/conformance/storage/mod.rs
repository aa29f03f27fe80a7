//! Storage contracts. [`run_all`] runs every case but [`close_makes_later_calls_fail`], which
//! needs a backend of its own.

mod claims;
mod contexts;
mod feedback;
mod inputs;
mod lifecycle;
mod lists;
mod owners;
mod retention;
mod tasks;
mod webhooks;

pub use claims::*;
pub use contexts::*;
pub use feedback::*;
pub use inputs::*;
pub use lifecycle::*;
pub use lists::*;
pub use owners::*;
pub use retention::*;
pub use tasks::*;
pub use webhooks::*;

use crate::model::{ContextId, Message, Submission, Task, TaskId, TaskState, TaskUpdate};
use crate::storage::Storage;

use super::step;

/// Runs every storage case in order.
pub async fn run_all(storage: &dyn Storage) {
    submit_creates_a_task(storage).await;
    submit_without_task_id_is_invalid(storage).await;
    resent_message_is_a_duplicate(storage).await;
    continuation_appends_and_resubmits(storage).await;
    terminal_task_refuses_new_messages(storage).await;
    continuation_checks_owner_and_context(storage).await;
    new_task_in_foreign_context_is_refused(storage).await;
    concurrent_submits_of_one_message_create_one_task(storage).await;
    concurrent_messages_to_one_new_task_are_all_kept(storage).await;
    load_task_truncates_history(storage).await;
    loaded_tasks_are_copies(storage).await;
    update_sets_state_and_appends(storage).await;
    update_is_idempotent(storage).await;
    long_conversations_append_and_read_the_end(storage).await;
    update_unknown_task_is_not_found(storage).await;
    terminal_tasks_are_immutable(storage).await;
    update_checks_expected_state(storage).await;
    update_checks_expected_metadata(storage).await;
    compare_and_swap(storage).await;
    claim_takes_a_waiting_task(storage).await;
    expired_claims_are_taken_over_and_the_old_holder_is_fenced(storage).await;
    renew_extends_and_release_ends_a_lease(storage).await;
    leaving_working_ends_the_claim(storage).await;
    fenced_writes_need_the_claim(storage).await;
    concurrent_claims_have_one_winner(storage).await;
    stuck_tasks_are_listed(storage).await;
    concurrent_compare_and_swap_has_one_winner(storage).await;
    hostile_text_round_trips(storage).await;
    large_payload_round_trips(storage).await;
    hostile_inputs_have_one_outcome_everywhere(storage).await;
    every_write_applies_the_input_rule(storage).await;
    list_tasks_orders_oldest_first_and_pages(storage).await;
    count_tasks_by_state(storage).await;
    list_tasks_by_context_orders_and_filters(storage).await;
    load_context_lists_its_tasks(storage).await;
    update_context_replaces_data(storage).await;
    append_to_context_skips_known_messages(storage).await;
    list_contexts_orders_and_counts(storage).await;
    clear_context_removes_everything_of_it(storage).await;
    webhook_configs(storage).await;
    feedback_is_stored_once_per_id(storage).await;
    owners_are_reported(storage).await;
    failed_notifications_are_kept_listed_and_removed(storage).await;
    prune_tasks_deletes_what_finished_long_ago_with_its_records(storage).await;
    clear_all_empties_everything(storage).await;
}

/// A user message for a new task.
fn new_message(text: &str) -> Message {
    Message::user_text(text).for_task(TaskId::new())
}

/// Submits a message for a new task in a new context and returns the submission.
async fn new_task(storage: &dyn Storage, owner: Option<&str>) -> Submission {
    let message = new_message("hello");
    step!(storage.submit_task(ContextId::new(), &message, owner)).expect("submit a new task")
}

/// Moves a task to `state` through the ordinary update path.
async fn set_state(storage: &dyn Storage, task: &Task, state: TaskState) -> Task {
    step!(storage.update_task(task.id, &TaskUpdate::to(state))).expect("update the state")
}

async fn load(storage: &dyn Storage, task_id: TaskId) -> Task {
    step!(storage.load_task(task_id, None)).expect("load").expect("the task exists")
}
