//! 1.0 results from the crate's model: protobuf JSON names, enums and part shapes.

use std::collections::BTreeMap;

use bindu::{
    Artifact, FileContent, Message, Part, PushNotificationConfig, Role, Task, TaskId, TaskState, TaskStatus,
};
use chrono::SecondsFormat;
use serde_json::{Map, Value, json};

use super::super::jsonrpc::Reply;
use super::super::stream::{Update, Updates};
use super::error;

pub(super) fn stream(updates: Updates, history: Option<usize>) -> Reply {
    Reply::updates(updates, move |update| update_json(update, history), error)
}

/// A `StreamResponse`.
fn update_json(update: Update, history: Option<usize>) -> Value {
    match update {
        Update::Task(task) => json!({ "task": task_json(task, history) }),
        Update::Status { task_id, context_id, status, last: _ } => json!({ "statusUpdate": {
            "taskId": task_id, "contextId": context_id, "status": status_json(&status),
        }}),
        Update::Artifact { task_id, context_id, artifact } => {
            let mut event =
                json!({ "taskId": task_id, "contextId": context_id, "artifact": artifact_json(&artifact) });
            if let Some(append) = artifact.append {
                event["append"] = append.into();
            }
            if let Some(last_chunk) = artifact.last_chunk {
                event["lastChunk"] = last_chunk.into();
            }
            json!({ "artifactUpdate": event })
        }
    }
}

/// A `Task`, with the last `history` messages (all when `None`). A state 1.0 does not have is
/// shown as the nearest 1.0 state, with the exact one in `metadata["bindu.state"]`.
pub(super) fn task_json(task: Task, history: Option<usize>) -> Value {
    let keep = history.unwrap_or(usize::MAX);
    let skip = task.history.len().saturating_sub(keep);
    let mut metadata = task.metadata;
    if state_name(task.status.state) != exact_state_name(task.status.state) {
        metadata.insert("bindu.state".into(), task.status.state.as_str().into());
    }
    let mut out = Map::new();
    out.insert("id".into(), task.id.to_string().into());
    out.insert("contextId".into(), task.context_id.to_string().into());
    out.insert("status".into(), status_json(&task.status));
    if !task.artifacts.is_empty() {
        out.insert("artifacts".into(), task.artifacts.iter().map(artifact_json).collect());
    }
    if skip < task.history.len() {
        out.insert("history".into(), task.history[skip..].iter().map(message_json).collect());
    }
    if !metadata.is_empty() {
        out.insert("metadata".into(), Value::Object(metadata));
    }
    Value::Object(out)
}

fn status_json(status: &TaskStatus) -> Value {
    let mut out = json!({
        "state": state_name(status.state),
        "timestamp": status.timestamp.to_rfc3339_opts(SecondsFormat::Micros, true),
    });
    if let Some(message) = &status.message {
        out["message"] = message_json(message);
    }
    out
}

fn message_json(message: &Message) -> Value {
    let mut out = Map::new();
    out.insert("messageId".into(), message.message_id.to_string().into());
    if let Some(context_id) = message.context_id {
        out.insert("contextId".into(), context_id.to_string().into());
    }
    if let Some(task_id) = message.task_id {
        out.insert("taskId".into(), task_id.to_string().into());
    }
    let role = match message.role {
        Role::User => "ROLE_USER",
        Role::Agent => "ROLE_AGENT",
        // 1.0 has no system role.
        Role::System => "ROLE_UNSPECIFIED",
    };
    out.insert("role".into(), role.into());
    out.insert("parts".into(), message.parts.iter().map(part_json).collect());
    if let Some(metadata) = &message.metadata {
        out.insert("metadata".into(), Value::Object(metadata.clone()));
    }
    if !message.extensions.is_empty() {
        out.insert("extensions".into(), json!(message.extensions));
    }
    if !message.reference_task_ids.is_empty() {
        out.insert("referenceTaskIds".into(), json!(message.reference_task_ids));
    }
    Value::Object(out)
}

fn part_json(part: &Part) -> Value {
    let (mut out, metadata) = match part {
        Part::Text(text) => (json!({ "text": text.text }), &text.metadata),
        Part::Data(data) => (json!({ "data": data.data }), &data.metadata),
        Part::File(file) => {
            let (key, content, mime_type, name) = match &file.file {
                FileContent::Bytes { bytes, mime_type, name } => ("raw", bytes, mime_type, name),
                FileContent::Uri { uri, mime_type, name } => ("url", uri, mime_type, name),
            };
            let mut out = json!({ key: content });
            if let Some(mime_type) = mime_type {
                out["mediaType"] = mime_type.clone().into();
            }
            if let Some(name) = name {
                out["filename"] = name.clone().into();
            }
            (out, &file.metadata)
        }
    };
    if let Some(metadata) = metadata {
        out["metadata"] = Value::Object(metadata.clone());
    }
    out
}

fn artifact_json(artifact: &Artifact) -> Value {
    let mut out = json!({
        "artifactId": artifact.artifact_id,
        "parts": artifact.parts.iter().map(part_json).collect::<Vec<_>>(),
    });
    if let Some(name) = &artifact.name {
        out["name"] = name.clone().into();
    }
    if let Some(description) = &artifact.description {
        out["description"] = description.clone().into();
    }
    if let Some(metadata) = &artifact.metadata {
        out["metadata"] = Value::Object(metadata.clone());
    }
    if !artifact.extensions.is_empty() {
        out["extensions"] = json!(artifact.extensions);
    }
    out
}

/// A 1.0 `TaskPushNotificationConfig`.
pub(super) fn push_json(task_id: TaskId, config: &PushNotificationConfig) -> Value {
    let mut out = json!({ "taskId": task_id, "id": config.id, "url": config.url });
    if let Some(token) = &config.token {
        out["token"] = token.clone().into();
    }
    if let Some(stored) = &config.authentication {
        // Stored in Bindu's (0.3) form: {"schemes": [...], "credentials": ...}.
        let mut auth = BTreeMap::new();
        if let Some(scheme) = stored.get("schemes").and_then(|s| s.get(0)).and_then(Value::as_str) {
            auth.insert("scheme", Value::from(scheme));
        }
        if let Some(credentials) = stored.get("credentials").and_then(Value::as_str) {
            auth.insert("credentials", Value::from(credentials));
        }
        out["authentication"] = json!(auth);
    }
    out
}

/// The 1.0 name of a state: Bindu's extra states are shown as the nearest A2A state.
pub(super) fn state_name(state: TaskState) -> &'static str {
    match state {
        TaskState::Submitted | TaskState::Pending | TaskState::Resumed => "TASK_STATE_SUBMITTED",
        TaskState::Working => "TASK_STATE_WORKING",
        TaskState::InputRequired | TaskState::Suspended => "TASK_STATE_INPUT_REQUIRED",
        TaskState::Completed => "TASK_STATE_COMPLETED",
        TaskState::Canceled => "TASK_STATE_CANCELED",
        TaskState::Failed => "TASK_STATE_FAILED",
        TaskState::Rejected => "TASK_STATE_REJECTED",
        TaskState::AuthRequired | TaskState::PaymentRequired | TaskState::TrustVerificationRequired => {
            "TASK_STATE_AUTH_REQUIRED"
        }
        TaskState::Unknown
        | TaskState::NegotiationBidSubmitted
        | TaskState::NegotiationBidLost
        | TaskState::NegotiationBidWon => "TASK_STATE_UNSPECIFIED",
    }
}

/// The 1.0 name a state has when 1.0 has it exactly.
fn exact_state_name(state: TaskState) -> &'static str {
    match state {
        TaskState::Submitted
        | TaskState::Working
        | TaskState::InputRequired
        | TaskState::Completed
        | TaskState::Canceled
        | TaskState::Failed
        | TaskState::Rejected
        | TaskState::AuthRequired => state_name(state),
        _ => "",
    }
}
