//! Messages and their parts, as on the A2A wire (camelCase; snake_case accepted on input).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ContextId, MessageId, Metadata, TaskId};
use crate::error::{Error, Result};

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The client.
    User,
    /// The agent.
    Agent,
    /// The system (a Bindu extension of A2A).
    System,
}

/// One message of a task's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename = "message", rename_all = "camelCase")]
pub struct Message {
    /// Resending a message with the same id is recognised and not applied twice.
    #[serde(alias = "message_id")]
    pub message_id: MessageId,
    /// The task it belongs to; storage stamps it on every stored message.
    #[serde(default, alias = "task_id", skip_serializing_if = "Option::is_none")]
    pub task_id: Option<TaskId>,
    /// The context it belongs to; storage stamps it on every stored message.
    #[serde(default, alias = "context_id", skip_serializing_if = "Option::is_none")]
    pub context_id: Option<ContextId>,
    /// Who wrote it.
    pub role: Role,
    /// The content.
    pub parts: Vec<Part>,
    /// Earlier tasks this message builds on.
    #[serde(
        default,
        alias = "reference_task_ids",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "super::null_as_default"
    )]
    pub reference_task_ids: Vec<TaskId>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// URIs of the A2A extensions in use.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "super::null_as_default")]
    pub extensions: Vec<String>,
}

impl Message {
    /// A message with a fresh id and the given parts, not yet bound to a task.
    pub fn new(role: Role, parts: Vec<Part>) -> Self {
        Self {
            message_id: MessageId::new(),
            task_id: None,
            context_id: None,
            role,
            parts,
            reference_task_ids: Vec::new(),
            metadata: None,
            extensions: Vec::new(),
        }
    }

    /// A user message with one text part.
    pub fn user_text(text: impl Into<String>) -> Self {
        Self::new(Role::User, vec![Part::text(text)])
    }

    /// An agent message with one text part.
    pub fn agent_text(text: impl Into<String>) -> Self {
        Self::new(Role::Agent, vec![Part::text(text)])
    }

    /// Binds the message to a task (its id is the task's id, as in Bindu's task-first flow).
    pub fn for_task(mut self, task_id: TaskId) -> Self {
        self.task_id = Some(task_id);
        self
    }

    /// The message as [`Storage::submit_task`](crate::Storage::submit_task) stores it: bound to
    /// `context_id`, with the task id it names. [`Error::Invalid`] when it names no task.
    pub fn stamped_for_submit(&self, context_id: ContextId) -> Result<(TaskId, Message)> {
        let task_id = self.task_id.ok_or_else(|| Error::Invalid {
            what: "message",
            reason: format!(
                "message {} has no taskId; submit_task needs it to name the task",
                self.message_id
            ),
        })?;
        let mut message = self.clone();
        message.context_id = Some(context_id);
        Ok((task_id, message))
    }

    /// The concatenated text of the text parts.
    pub fn text(&self) -> String {
        self.parts
            .iter()
            .filter_map(|part| match part {
                Part::Text(text) => Some(text.text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("")
    }
}

/// A piece of content, tagged by `kind` on the wire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Part {
    /// Plain text.
    Text(TextPart),
    /// A file, inline or by reference.
    File(FilePart),
    /// Structured data.
    Data(DataPart),
}

impl Part {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(TextPart { text: text.into(), metadata: None, embeddings: None })
    }

    /// A data part.
    pub fn data(data: Metadata) -> Self {
        Self::Data(DataPart { data, metadata: None })
    }
}

/// `{"kind": "text", "text": …}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextPart {
    /// The text.
    pub text: String,
    /// Free-form metadata (Bindu puts a DID signature here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// Optional embedding vector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embeddings: Option<Vec<f64>>,
}

/// `{"kind": "file", "file": …}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FilePart {
    /// The file itself.
    pub file: FileContent,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

/// A file carried inline (base64) or referenced by URI: exactly one of `bytes` and `uri`, as A2A's
/// `FileWithBytes | FileWithUri` says (a file with both, or neither, is refused, naming the fields).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FileContent {
    /// Inline content.
    Bytes {
        /// Base64-encoded content.
        bytes: String,
        /// MIME type.
        #[serde(default, rename = "mimeType", alias = "mime_type", skip_serializing_if = "Option::is_none")]
        mime_type: Option<String>,
        /// File name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// A reference.
    Uri {
        /// Where the file is.
        uri: String,
        /// MIME type.
        #[serde(default, rename = "mimeType", alias = "mime_type", skip_serializing_if = "Option::is_none")]
        mime_type: Option<String>,
        /// File name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
}

impl<'de> Deserialize<'de> for FileContent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Wire {
            #[serde(default)]
            bytes: Option<String>,
            #[serde(default)]
            uri: Option<String>,
            #[serde(default, rename = "mimeType", alias = "mime_type")]
            mime_type: Option<String>,
            #[serde(default)]
            name: Option<String>,
        }
        let Wire { bytes, uri, mime_type, name } = Wire::deserialize(deserializer)?;
        match (bytes, uri) {
            (Some(bytes), None) => Ok(Self::Bytes { bytes, mime_type, name }),
            (None, Some(uri)) => Ok(Self::Uri { uri, mime_type, name }),
            (Some(_), Some(_)) => {
                Err(serde::de::Error::custom("file: has both `bytes` and `uri`; exactly one is allowed"))
            }
            (None, None) => Err(serde::de::Error::custom("file: needs `bytes` or `uri`")),
        }
    }
}

/// `{"kind": "data", "data": {…}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataPart {
    /// The data: a JSON object.
    pub data: Metadata,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

/// Convenience: a JSON object from `(key, value)` pairs.
pub fn metadata<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Metadata {
    pairs.into_iter().map(|(k, v)| (k.into(), v)).collect()
}
