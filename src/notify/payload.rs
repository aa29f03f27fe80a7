//! The body of a push notification: A2A's `TaskStatusUpdateEvent`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{ContextId, Role, Task, TaskId, TaskState, TaskStatus};

/// What a webhook receives when a task changes state (A2A `TaskStatusUpdateEvent`, camelCase):
///
/// ```json
/// {"kind": "status-update", "taskId": "…", "contextId": "…",
///  "status": {"state": "completed", "timestamp": "2026-06-18T09:30:00.123456Z", "message": {…}},
///  "final": true}
/// ```
///
/// `final` is true for the terminal states (completed, failed, canceled, rejected): no update
/// follows. `status.message` is the state's explanation: the stored one, or else, for the states
/// whose write carries the agent's answer (input-required, auth-required, completed, failed,
/// rejected), the agent message the worker stored with it. Artifacts are not sent; the receiver
/// reads them with `tasks/get`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename = "status-update", rename_all = "camelCase")]
pub struct TaskStatusUpdateEvent {
    /// The task.
    pub task_id: TaskId,
    /// Its context.
    pub context_id: ContextId,
    /// The state stored, with the time storage wrote it.
    pub status: TaskStatus,
    /// Whether the state is terminal.
    #[serde(rename = "final")]
    pub is_final: bool,
}

impl TaskStatusUpdateEvent {
    /// The event for the state `task` was just stored in.
    pub fn for_task(task: &Task) -> Self {
        let mut status = task.status.clone();
        if status.message.is_none() && carries_agent_answer(status.state) {
            status.message = task.history.last().filter(|m| m.role == Role::Agent).cloned();
        }
        Self { task_id: task.id, context_id: task.context_id, is_final: status.state.is_terminal(), status }
    }

    /// The event's identity, used as the idempotency key: derived from the task, the state and
    /// the time it was stored, so it is the same on every retry, and the same again if one stored
    /// state is reported twice, letting the receiver drop the copy.
    pub fn notification_id(&self) -> Uuid {
        let name = format!(
            "{}/{}/{}",
            self.task_id,
            self.status.state,
            self.status.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
        );
        Uuid::new_v5(&NAMESPACE, name.as_bytes())
    }
}

/// The v5 namespace of notification ids (a fixed random UUID).
const NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2b0e_93d4_4c57_8a41_5e0b_7d2c_9f13);

fn carries_agent_answer(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::InputRequired
            | TaskState::AuthRequired
            | TaskState::Completed
            | TaskState::Failed
            | TaskState::Rejected
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{Message, Metadata};

    fn task(state: TaskState, history: Vec<Message>) -> Task {
        Task {
            id: TaskId::new(),
            context_id: ContextId::new(),
            status: TaskStatus::now(state),
            artifacts: Vec::new(),
            history,
            metadata: Metadata::new(),
        }
    }

    #[test]
    fn the_wire_shape_is_a2as() {
        let task = task(TaskState::Working, vec![Message::user_text("hi")]);
        let event = TaskStatusUpdateEvent::for_task(&task);
        let wire = serde_json::to_value(&event).unwrap();
        assert_eq!(
            wire,
            json!({
                "kind": "status-update",
                "taskId": task.id.to_string(),
                "contextId": task.context_id.to_string(),
                "status": {"state": "working", "timestamp": serde_json::to_value(task.status.timestamp).unwrap()},
                "final": false,
            })
        );
        let back: TaskStatusUpdateEvent = serde_json::from_value(wire).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn terminal_states_are_final_and_carry_the_agents_answer() {
        let answer = Message::agent_text("done");
        let event = TaskStatusUpdateEvent::for_task(&task(
            TaskState::Completed,
            vec![Message::user_text("q"), answer.clone()],
        ));
        assert!(event.is_final);
        assert_eq!(event.status.message, Some(answer));
        let asked = TaskStatusUpdateEvent::for_task(&task(
            TaskState::InputRequired,
            vec![Message::user_text("q"), Message::agent_text("which city?")],
        ));
        assert!(!asked.is_final);
        assert_eq!(asked.status.message.unwrap().text(), "which city?");
    }

    #[test]
    fn other_states_never_borrow_an_old_message() {
        // Canceled right after the agent asked for input: the question does not explain the cancel.
        let canceled =
            task(TaskState::Canceled, vec![Message::user_text("q"), Message::agent_text("which city?")]);
        let event = TaskStatusUpdateEvent::for_task(&canceled);
        assert!(event.is_final);
        assert_eq!(event.status.message, None);
        // A user message is never presented as the agent's answer.
        let failed = task(TaskState::Failed, vec![Message::user_text("q")]);
        assert_eq!(TaskStatusUpdateEvent::for_task(&failed).status.message, None);
    }

    #[test]
    fn the_notification_id_names_the_stored_state() {
        let mut stored = task(TaskState::Working, Vec::new());
        let first = TaskStatusUpdateEvent::for_task(&stored).notification_id();
        assert_eq!(TaskStatusUpdateEvent::for_task(&stored).notification_id(), first, "stable");
        stored.status = TaskStatus::now(TaskState::Completed);
        assert_ne!(TaskStatusUpdateEvent::for_task(&stored).notification_id(), first);
    }
}
