//! 1.0 params, parsed and checked, as the crate's model.

use bindu::{
    FileContent, FilePart, Message, Metadata, Part, PushNotificationConfig, Role, TaskId, TaskState, TextPart,
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::jsonrpc::RpcError;
use super::super::service::Send;
use super::super::wire::{self, config_id, task_ref};
use super::error;
use super::results::state_name;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SendMessageRequest {
    pub(super) message: WireMessage,
    #[serde(default)]
    pub(super) configuration: Option<SendConfiguration>,
}

impl SendMessageRequest {
    pub(super) fn into_send(self) -> Result<Send, RpcError> {
        let configuration = self.configuration.unwrap_or_default();
        let push = match configuration.task_push_notification_config {
            Some(config) => Some(config.into_config("configuration.taskPushNotificationConfig.")?),
            None => None,
        };
        Ok(Send { message: self.message.into_message()?, wait: !configuration.return_immediately, push })
    }
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SendConfiguration {
    #[serde(default, alias = "task_push_notification_config")]
    pub(super) task_push_notification_config: Option<WirePushConfig>,
    #[serde(default, alias = "history_length")]
    pub(super) history_length: Option<i64>,
    #[serde(default, alias = "return_immediately", deserialize_with = "wire::flag")]
    pub(super) return_immediately: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireMessage {
    #[serde(alias = "message_id")]
    pub(super) message_id: String,
    #[serde(default, alias = "context_id")]
    pub(super) context_id: Option<String>,
    #[serde(default, alias = "task_id")]
    pub(super) task_id: Option<String>,
    pub(super) role: WireRole,
    pub(super) parts: Vec<WirePart>,
    #[serde(default)]
    pub(super) metadata: Option<Metadata>,
    #[serde(default)]
    pub(super) extensions: Option<Vec<String>>,
    #[serde(default, alias = "reference_task_ids")]
    pub(super) reference_task_ids: Option<Vec<String>>,
}

impl WireMessage {
    fn into_message(self) -> Result<Message, RpcError> {
        let role = match self.role {
            WireRole::User => Role::User,
            WireRole::Agent | WireRole::Unspecified => {
                return Err(RpcError::invalid_params(
                    "params.message.role: a client's messages are ROLE_USER",
                ));
            }
        };
        let parts = self
            .parts
            .into_iter()
            .enumerate()
            .map(|(i, part)| part.into_part(&format!("params.message.parts[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let reference_task_ids = self
            .reference_task_ids
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, id)| wire::uuid(id, &format!("params.message.referenceTaskIds[{i}]")))
            .collect::<Result<Vec<TaskId>, _>>()?;
        Ok(Message {
            message_id: wire::uuid(&self.message_id, "params.message.messageId")?,
            task_id: wire::optional_uuid(self.task_id.as_deref(), "params.message.taskId")?,
            context_id: wire::optional_uuid(self.context_id.as_deref(), "params.message.contextId")?,
            role,
            parts,
            reference_task_ids,
            metadata: self.metadata,
            extensions: self.extensions.unwrap_or_default(),
        })
    }
}

#[derive(Deserialize)]
pub(super) enum WireRole {
    #[serde(rename = "ROLE_UNSPECIFIED")]
    Unspecified,
    #[serde(rename = "ROLE_USER")]
    User,
    #[serde(rename = "ROLE_AGENT")]
    Agent,
}

/// A 1.0 part: exactly one of `text`, `raw` (base64), `url`, `data`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WirePart {
    #[serde(default)]
    pub(super) text: Option<String>,
    #[serde(default)]
    pub(super) raw: Option<String>,
    #[serde(default)]
    pub(super) url: Option<String>,
    #[serde(default)]
    pub(super) data: Option<Value>,
    #[serde(default)]
    pub(super) metadata: Option<Metadata>,
    #[serde(default)]
    pub(super) filename: Option<String>,
    #[serde(default, alias = "media_type")]
    pub(super) media_type: Option<String>,
}

impl WirePart {
    fn into_part(self, path: &str) -> Result<Part, RpcError> {
        let name = self.filename.filter(|name| !name.is_empty());
        let mime_type = self.media_type.filter(|mime| !mime.is_empty());
        Ok(match (self.text, self.raw, self.url, self.data) {
            (Some(text), None, None, None) => {
                Part::Text(TextPart { text, metadata: self.metadata, embeddings: None })
            }
            (None, Some(bytes), None, None) => Part::File(FilePart {
                file: FileContent::Bytes { bytes, mime_type, name },
                metadata: self.metadata,
            }),
            (None, None, Some(uri), None) => Part::File(FilePart {
                file: FileContent::Uri { uri, mime_type, name },
                metadata: self.metadata,
            }),
            (None, None, None, Some(Value::Object(data))) => {
                Part::Data(bindu::DataPart { data, metadata: self.metadata })
            }
            (None, None, None, Some(_)) => {
                return Err(RpcError::invalid_params(format!("{path}.data: must be a JSON object")));
            }
            _ => {
                return Err(RpcError::invalid_params(format!(
                    "{path}: must have exactly one of text, raw, url and data"
                )));
            }
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GetTaskRequest {
    pub(super) id: String,
    #[serde(default, alias = "history_length")]
    pub(super) history_length: Option<i64>,
}

#[derive(Deserialize)]
pub(super) struct IdRequest {
    pub(super) id: String,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListTasksRequest {
    #[serde(default, alias = "context_id")]
    pub(super) context_id: Option<String>,
    #[serde(default)]
    pub(super) status: Option<WireState>,
    #[serde(default, alias = "page_size")]
    pub(super) page_size: Option<i64>,
    #[serde(default, alias = "page_token")]
    pub(super) page_token: Option<String>,
    #[serde(default, alias = "history_length")]
    pub(super) history_length: Option<i64>,
    #[serde(default, alias = "status_timestamp_after")]
    pub(super) status_timestamp_after: Option<DateTime<Utc>>,
    #[serde(default, alias = "include_artifacts", deserialize_with = "wire::flag")]
    pub(super) include_artifacts: bool,
}

/// The 1.0 task states a client may filter by.
#[derive(Clone, Copy, Deserialize)]
pub(super) enum WireState {
    #[serde(rename = "TASK_STATE_UNSPECIFIED")]
    Unspecified,
    #[serde(rename = "TASK_STATE_SUBMITTED")]
    Submitted,
    #[serde(rename = "TASK_STATE_WORKING")]
    Working,
    #[serde(rename = "TASK_STATE_COMPLETED")]
    Completed,
    #[serde(rename = "TASK_STATE_FAILED")]
    Failed,
    #[serde(rename = "TASK_STATE_CANCELED")]
    Canceled,
    #[serde(rename = "TASK_STATE_INPUT_REQUIRED")]
    InputRequired,
    #[serde(rename = "TASK_STATE_REJECTED")]
    Rejected,
    #[serde(rename = "TASK_STATE_AUTH_REQUIRED")]
    AuthRequired,
}

impl WireState {
    /// The crate's states shown as this one.
    pub(super) fn states(self) -> Vec<TaskState> {
        TaskState::ALL.into_iter().filter(|state| state_name(*state) == self.name()).collect()
    }

    fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "TASK_STATE_UNSPECIFIED",
            Self::Submitted => "TASK_STATE_SUBMITTED",
            Self::Working => "TASK_STATE_WORKING",
            Self::Completed => "TASK_STATE_COMPLETED",
            Self::Failed => "TASK_STATE_FAILED",
            Self::Canceled => "TASK_STATE_CANCELED",
            Self::InputRequired => "TASK_STATE_INPUT_REQUIRED",
            Self::Rejected => "TASK_STATE_REJECTED",
            Self::AuthRequired => "TASK_STATE_AUTH_REQUIRED",
        }
    }
}

/// A 1.0 `TaskPushNotificationConfig` (flat: the task id beside the config's fields).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WirePushConfig {
    #[serde(default, alias = "task_id")]
    pub(super) task_id: Option<String>,
    #[serde(default)]
    pub(super) id: Option<String>,
    pub(super) url: String,
    #[serde(default)]
    pub(super) token: Option<String>,
    #[serde(default)]
    pub(super) authentication: Option<AuthenticationInfo>,
}

impl WirePushConfig {
    /// The config; `path` prefixes the field names in errors.
    pub(super) fn into_config(self, path: &str) -> Result<PushNotificationConfig, RpcError> {
        // Stored in Bindu's (0.3) form, so that both versions read it back.
        let authentication = self.authentication.map(|auth| {
            let mut stored = json!({ "schemes": [auth.scheme.unwrap_or_default()] });
            if let Some(credentials) = auth.credentials.filter(|c| !c.is_empty()) {
                stored["credentials"] = credentials.into();
            }
            stored
        });
        wire::push_config(self.id.as_deref(), self.url, self.token, authentication, &format!("params.{path}"))
    }
}

#[derive(Deserialize)]
pub(super) struct AuthenticationInfo {
    #[serde(default)]
    pub(super) scheme: Option<String>,
    #[serde(default)]
    pub(super) credentials: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PushConfigRequest {
    #[serde(alias = "task_id")]
    pub(super) task_id: String,
    #[serde(default)]
    pub(super) id: Option<String>,
}

impl PushConfigRequest {
    pub(super) fn refs(&self) -> Result<(TaskId, Option<uuid::Uuid>), RpcError> {
        let task_id = task_ref(&self.task_id).map_err(error)?;
        let id = config_id(self.id.as_deref(), &task_id).map_err(error)?;
        Ok((task_id, id))
    }
}

/// How many messages of the history to show: `None` all, `Some(n)` the last `n` (0: none);
/// `path` names the field in errors.
pub(super) fn history(length: Option<i64>, path: &str) -> Result<Option<usize>, RpcError> {
    match length {
        Some(n) if n < 0 => Err(RpcError::invalid_params(format!("{path}: must not be negative"))),
        Some(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        None => Ok(None),
    }
}
