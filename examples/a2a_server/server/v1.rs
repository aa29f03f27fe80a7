//! A2A protocol 1.0 over JSON-RPC: method names like `SendMessage`, payloads in the protobuf JSON
//! mapping (`ROLE_USER`, `TASK_STATE_COMPLETED`, parts without a `kind`, push configs flat), a
//! history length of 0 meaning no history. Translated here to and from the crate's model.

use std::collections::BTreeMap;

use bindu::{
    Artifact, FileContent, FilePart, Message, Metadata, Part, PushNotificationConfig, Role, Task, TaskId,
    TaskState, TaskStatus, TextPart,
};
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::jsonrpc::{Params, Reply, RpcError, code};
use super::service::{Failure, ListQuery, Send, Service};
use super::stream::Update;
use super::wire::{self, config_id, task_ref};

/// The methods of protocol 1.0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    SendMessage,
    SendStreamingMessage,
    GetTask,
    ListTasks,
    CancelTask,
    SubscribeToTask,
    CreateTaskPushNotificationConfig,
    GetTaskPushNotificationConfig,
    ListTaskPushNotificationConfigs,
    DeleteTaskPushNotificationConfig,
    GetExtendedAgentCard,
}

impl Method {
    /// The method called `name`, if it is one of 1.0's.
    pub fn named(name: &str) -> Option<Self> {
        Some(match name {
            "SendMessage" => Self::SendMessage,
            "SendStreamingMessage" => Self::SendStreamingMessage,
            "GetTask" => Self::GetTask,
            "ListTasks" => Self::ListTasks,
            "CancelTask" => Self::CancelTask,
            "SubscribeToTask" => Self::SubscribeToTask,
            "CreateTaskPushNotificationConfig" => Self::CreateTaskPushNotificationConfig,
            "GetTaskPushNotificationConfig" => Self::GetTaskPushNotificationConfig,
            "ListTaskPushNotificationConfigs" => Self::ListTaskPushNotificationConfigs,
            "DeleteTaskPushNotificationConfig" => Self::DeleteTaskPushNotificationConfig,
            "GetExtendedAgentCard" => Self::GetExtendedAgentCard,
            _ => return None,
        })
    }
}

/// Runs `method` with `params`.
pub async fn call(service: &Service, method: Method, params: Params) -> Result<Reply, RpcError> {
    match method {
        Method::SendMessage => {
            let request: SendMessageRequest = params.parse()?;
            let length = request.configuration.as_ref().and_then(|c| c.history_length);
            let history = history(length, "params.configuration.historyLength")?;
            let task = service.send(request.into_send()?).await.map_err(error)?;
            Ok(Reply::Result(json!({ "task": task_json(task, history) })))
        }
        Method::SendStreamingMessage => {
            let request: SendMessageRequest = params.parse()?;
            let length = request.configuration.as_ref().and_then(|c| c.history_length);
            let history = history(length, "params.configuration.historyLength")?;
            let updates = service.send_streaming(request.into_send()?).await.map_err(error)?;
            Ok(stream(updates, history))
        }
        Method::GetTask => {
            let request: GetTaskRequest = params.parse()?;
            let history = history(request.history_length, "params.historyLength")?;
            let task = service.task(task_ref(&request.id).map_err(error)?).await.map_err(error)?;
            Ok(Reply::Result(task_json(task, history)))
        }
        Method::ListTasks => list(service, params.parse_or_default()?).await,
        Method::CancelTask => {
            let request: IdRequest = params.parse()?;
            let task = service.cancel(task_ref(&request.id).map_err(error)?).await.map_err(error)?;
            Ok(Reply::Result(task_json(task, None)))
        }
        Method::SubscribeToTask => {
            let request: IdRequest = params.parse()?;
            let updates = service.subscribe(task_ref(&request.id).map_err(error)?).await.map_err(error)?;
            Ok(stream(updates, None))
        }
        Method::CreateTaskPushNotificationConfig => {
            let request: WirePushConfig = params.parse()?;
            let Some(task_id) = request.task_id.as_deref().filter(|id| !id.is_empty()) else {
                return Err(RpcError::invalid_params("params.taskId: missing"));
            };
            let task_id = task_ref(task_id).map_err(error)?;
            let config = service.set_push(task_id, request.into_config("")?).await.map_err(error)?;
            Ok(Reply::Result(push_json(task_id, &config)))
        }
        Method::GetTaskPushNotificationConfig => {
            let request: PushConfigRequest = params.parse()?;
            let (task_id, id) = request.refs()?;
            let config = service.get_push(task_id, id).await.map_err(error)?;
            Ok(Reply::Result(push_json(task_id, &config)))
        }
        Method::ListTaskPushNotificationConfigs => {
            let request: PushConfigRequest = params.parse()?;
            let (task_id, _) = request.refs()?;
            let configs = service.list_push(task_id).await.map_err(error)?;
            let configs: Vec<Value> = configs.iter().map(|config| push_json(task_id, config)).collect();
            Ok(Reply::Result(json!({ "configs": configs })))
        }
        Method::DeleteTaskPushNotificationConfig => {
            let request: PushConfigRequest = params.parse()?;
            let (task_id, id) = request.refs()?;
            service.delete_push(task_id, id).await.map_err(error)?;
            Ok(Reply::Result(Value::Null))
        }
        Method::GetExtendedAgentCard => Err(a2a_error(
            code::EXTENDED_CARD_NOT_CONFIGURED,
            "EXTENDED_AGENT_CARD_NOT_CONFIGURED",
            "this agent has no extended agent card".into(),
        )),
    }
}

// ---- requests ----------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendMessageRequest {
    message: WireMessage,
    #[serde(default)]
    configuration: Option<SendConfiguration>,
}

impl SendMessageRequest {
    fn into_send(self) -> Result<Send, RpcError> {
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
struct SendConfiguration {
    #[serde(default, alias = "task_push_notification_config")]
    task_push_notification_config: Option<WirePushConfig>,
    #[serde(default, alias = "history_length")]
    history_length: Option<i64>,
    #[serde(default, alias = "return_immediately", deserialize_with = "wire::flag")]
    return_immediately: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMessage {
    #[serde(alias = "message_id")]
    message_id: String,
    #[serde(default, alias = "context_id")]
    context_id: Option<String>,
    #[serde(default, alias = "task_id")]
    task_id: Option<String>,
    role: WireRole,
    parts: Vec<WirePart>,
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    extensions: Option<Vec<String>>,
    #[serde(default, alias = "reference_task_ids")]
    reference_task_ids: Option<Vec<String>>,
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
enum WireRole {
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
struct WirePart {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    raw: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    filename: Option<String>,
    #[serde(default, alias = "media_type")]
    media_type: Option<String>,
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
struct GetTaskRequest {
    id: String,
    #[serde(default, alias = "history_length")]
    history_length: Option<i64>,
}

#[derive(Deserialize)]
struct IdRequest {
    id: String,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListTasksRequest {
    #[serde(default, alias = "context_id")]
    context_id: Option<String>,
    #[serde(default)]
    status: Option<WireState>,
    #[serde(default, alias = "page_size")]
    page_size: Option<i64>,
    #[serde(default, alias = "page_token")]
    page_token: Option<String>,
    #[serde(default, alias = "history_length")]
    history_length: Option<i64>,
    #[serde(default, alias = "status_timestamp_after")]
    status_timestamp_after: Option<DateTime<Utc>>,
    #[serde(default, alias = "include_artifacts", deserialize_with = "wire::flag")]
    include_artifacts: bool,
}

/// The 1.0 task states a client may filter by.
#[derive(Clone, Copy, Deserialize)]
enum WireState {
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
    fn states(self) -> Vec<TaskState> {
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
struct WirePushConfig {
    #[serde(default, alias = "task_id")]
    task_id: Option<String>,
    #[serde(default)]
    id: Option<String>,
    url: String,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    authentication: Option<AuthenticationInfo>,
}

impl WirePushConfig {
    /// The config; `path` prefixes the field names in errors.
    fn into_config(self, path: &str) -> Result<PushNotificationConfig, RpcError> {
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
struct AuthenticationInfo {
    #[serde(default)]
    scheme: Option<String>,
    #[serde(default)]
    credentials: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PushConfigRequest {
    #[serde(alias = "task_id")]
    task_id: String,
    #[serde(default)]
    id: Option<String>,
}

impl PushConfigRequest {
    fn refs(&self) -> Result<(TaskId, Option<uuid::Uuid>), RpcError> {
        let task_id = task_ref(&self.task_id).map_err(error)?;
        let id = config_id(self.id.as_deref(), &task_id).map_err(error)?;
        Ok((task_id, id))
    }
}

/// How many messages of the history to show: `None` all, `Some(n)` the last `n` (0: none);
/// `path` names the field in errors.
fn history(length: Option<i64>, path: &str) -> Result<Option<usize>, RpcError> {
    match length {
        Some(n) if n < 0 => Err(RpcError::invalid_params(format!("{path}: must not be negative"))),
        Some(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        None => Ok(None),
    }
}

async fn list(service: &Service, request: ListTasksRequest) -> Result<Reply, RpcError> {
    let history = history(request.history_length, "params.historyLength")?;
    let limit = match request.page_size {
        None | Some(0) => 50,
        Some(size @ 1..=100) => size as usize,
        Some(_) => return Err(RpcError::invalid_params("params.pageSize: must be from 1 to 100")),
    };
    let offset = wire::page_token(request.page_token.as_deref(), "params.pageToken")?;
    let context_id = wire::optional_uuid(request.context_id.as_deref(), "params.contextId")?;
    let query = ListQuery {
        context_id,
        states: request.status.map(WireState::states).unwrap_or_default(),
        updated_after: request.status_timestamp_after,
        offset,
        limit,
    };
    let page = service.list(query).await.map_err(error)?;
    let tasks: Vec<Value> = page
        .tasks
        .into_iter()
        .map(|mut task| {
            if !request.include_artifacts {
                task.artifacts.clear();
            }
            task_json(task, history)
        })
        .collect();
    Ok(Reply::Result(json!({
        "tasks": tasks,
        "nextPageToken": page.next_offset.map(|offset| offset.to_string()).unwrap_or_default(),
        "pageSize": limit,
        "totalSize": page.total,
    })))
}

// ---- results -----------------------------------------------------------------------------

fn stream(updates: super::stream::Updates, history: Option<usize>) -> Reply {
    Reply::Stream(
        updates
            .map(move |update| match update {
                Ok(update) => Ok(update_json(update, history)),
                Err(failure) => Err(error(failure)),
            })
            .boxed(),
    )
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
fn task_json(task: Task, history: Option<usize>) -> Value {
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
fn push_json(task_id: TaskId, config: &PushNotificationConfig) -> Value {
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
fn state_name(state: TaskState) -> &'static str {
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

/// A failure as a 1.0 error: the A2A code, with a `google.rpc.ErrorInfo` naming the reason.
fn error(failure: Failure) -> RpcError {
    let (code, reason) = match &failure {
        Failure::TaskNotFound(_) => (code::TASK_NOT_FOUND, "TASK_NOT_FOUND"),
        Failure::NotCancelable(_) => (code::TASK_NOT_CANCELABLE, "TASK_NOT_CANCELABLE"),
        Failure::Immutable(_) | Failure::Unsupported(_) => {
            (code::UNSUPPORTED_OPERATION, "UNSUPPORTED_OPERATION")
        }
        Failure::InvalidParams(_) => (code::INVALID_PARAMS, "INVALID_PARAMS"),
        Failure::Internal(_) => (code::INTERNAL_ERROR, "INTERNAL"),
    };
    let message = match &failure {
        Failure::InvalidParams(message) => format!("invalid params: {message}"),
        other => other.message().to_owned(),
    };
    a2a_error(code, reason, message)
}

fn a2a_error(code: i64, reason: &str, message: String) -> RpcError {
    let info = json!([{
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "a2a-protocol.org",
        "metadata": {},
    }]);
    RpcError { code, message, data: Some(info) }
}
