//! The domain model: tasks, messages, contexts, webhooks, feedback and scheduled operations.
//!
//! The JSON wire format is A2A/Bindu's: camelCase field names (snake_case is accepted on
//! input), UUID strings for ids, `kind` tags on tasks, messages and parts.

mod claim;
mod context;
mod feedback;
mod ids;
mod limits;
mod message;
mod notification;
mod operation;
mod operations;
mod page;
mod state;
mod task;
mod webhook;

pub use claim::{
    Claim, ClaimDecision, ClaimOutcome, ClaimRequest, RUN_KEY, Renewal, StuckReason, StuckTask, lease_end,
};
pub use context::{Context, ContextSummary};
pub use feedback::Feedback;
pub use ids::{ArtifactId, ClaimToken, ContextId, MessageId, OperationId, TaskId};
pub use limits::InputLimits;
pub use message::{DataPart, FileContent, FilePart, Message, Part, Role, TextPart, metadata};
pub use notification::{FailedNotification, FailureReason};
pub use operation::{Action, Lane, Lanes, TaskIdParams, TaskOperation, TaskSendParams};
pub use operations::{DeadLetter, DeadLetterId, QueueStats};
pub use page::Page;
pub use state::TaskState;
pub use task::{Admission, Artifact, Submission, SubmitOutcome, Task, TaskStatus, TaskUpdate};
pub use webhook::PushNotificationConfig;

/// Free-form JSON object.
pub type Metadata = serde_json::Map<String, serde_json::Value>;

/// Reads `null` as the type's default (an empty list or object), as Python clients send for
/// absent collections.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + serde::Deserialize<'de>,
{
    Ok(<Option<T> as serde::Deserialize>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests;
