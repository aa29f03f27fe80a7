//! Bindu's A2A protocol 0.3 over JSON-RPC: method names like `message/send`, payloads tagged by
//! `kind` with lower-case states and roles, push configs nested under `pushNotificationConfig`,
//! a history length of 0 meaning all of it. This is the crate's own wire format (its model's
//! serde), so little is translated: Bindu's extra states pass through as they are. Errors use
//! A2A's codes (a message for a finished task is `-32004`, not Bindu's `-32008`, which the SDKs
//! read as 1.0's "extension support required").

use bindu::{Message, PushNotificationConfig, Task, TaskId};
use serde::Deserialize;
use serde_json::{Value, json};

use super::jsonrpc::{Params, Reply, RpcError, code};
use super::service::{Failure, ListQuery, Send, Service};
use super::stream::{Update, Updates};
use super::wire::{self, config_id, task_ref};

/// The methods of protocol 0.3 (Bindu's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    MessageSend,
    MessageStream,
    TasksGet,
    TasksList,
    TasksCancel,
    TasksResubscribe,
    PushConfigSet,
    PushConfigGet,
    PushConfigList,
    PushConfigDelete,
    AuthenticatedExtendedCard,
}

impl Method {
    /// The method called `name`, if it is one of 0.3's.
    pub fn named(name: &str) -> Option<Self> {
        Some(match name {
            "message/send" => Self::MessageSend,
            "message/stream" => Self::MessageStream,
            "tasks/get" => Self::TasksGet,
            "tasks/list" => Self::TasksList,
            "tasks/cancel" => Self::TasksCancel,
            "tasks/resubscribe" => Self::TasksResubscribe,
            "tasks/pushNotificationConfig/set" => Self::PushConfigSet,
            "tasks/pushNotificationConfig/get" => Self::PushConfigGet,
            "tasks/pushNotificationConfig/list" => Self::PushConfigList,
            "tasks/pushNotificationConfig/delete" => Self::PushConfigDelete,
            "agent/getAuthenticatedExtendedCard" => Self::AuthenticatedExtendedCard,
            _ => return None,
        })
    }
}

/// Runs `method` with `params`.
pub async fn call(service: &Service, method: Method, params: Params) -> Result<Reply, RpcError> {
    match method {
        Method::MessageSend => {
            let params: MessageSendParams = params.parse()?;
            let length = params.configuration.as_ref().and_then(|c| c.history_length);
            let history = history(length, "params.configuration.historyLength")?;
            let task = service.send(params.into_send()?).await.map_err(error)?;
            Ok(Reply::Result(task_json(task, history)))
        }
        Method::MessageStream => {
            let params: MessageSendParams = params.parse()?;
            let length = params.configuration.as_ref().and_then(|c| c.history_length);
            let history = history(length, "params.configuration.historyLength")?;
            let updates = service.send_streaming(params.into_send()?).await.map_err(error)?;
            Ok(stream(updates, history))
        }
        Method::TasksGet => {
            let params: TaskQueryParams = params.parse()?;
            let history = history(params.history_length, "params.historyLength")?;
            let task = service.task(task_ref(&params.id).map_err(error)?).await.map_err(error)?;
            Ok(Reply::Result(task_json(task, history)))
        }
        Method::TasksList => {
            let params: ListParams = params.parse_or_default()?;
            let query = ListQuery {
                offset: params.offset.unwrap_or(0),
                limit: params.length.unwrap_or(usize::MAX),
                ..ListQuery::default()
            };
            let page = service.list(query).await.map_err(error)?;
            Ok(Reply::Result(page.tasks.into_iter().map(|task| task_json(task, None)).collect()))
        }
        Method::TasksCancel => {
            let params: TaskIdParams = params.parse()?;
            let task = service.cancel(task_ref(&params.id).map_err(error)?).await.map_err(error)?;
            Ok(Reply::Result(task_json(task, None)))
        }
        Method::TasksResubscribe => {
            let params: TaskIdParams = params.parse()?;
            let updates = service.subscribe(task_ref(&params.id).map_err(error)?).await.map_err(error)?;
            Ok(stream(updates, None))
        }
        Method::PushConfigSet => {
            let params: TaskPushConfig = params.parse()?;
            let task_id = task_ref(&params.task_id).map_err(error)?;
            let config = params.push_notification_config.into_config("params.pushNotificationConfig.")?;
            let config = service.set_push(task_id, config).await.map_err(error)?;
            Ok(Reply::Result(push_json(task_id, &config)))
        }
        Method::PushConfigGet => {
            let params: PushConfigParams = params.parse()?;
            let (task_id, id) = params.refs()?;
            let config = service.get_push(task_id, id).await.map_err(error)?;
            Ok(Reply::Result(push_json(task_id, &config)))
        }
        Method::PushConfigList => {
            let params: PushConfigParams = params.parse()?;
            let (task_id, _) = params.refs()?;
            let configs = service.list_push(task_id).await.map_err(error)?;
            Ok(Reply::Result(configs.iter().map(|config| push_json(task_id, config)).collect()))
        }
        Method::PushConfigDelete => {
            let params: PushConfigParams = params.parse()?;
            let (task_id, id) = params.refs()?;
            service.delete_push(task_id, id).await.map_err(error)?;
            Ok(Reply::Result(Value::Null))
        }
        Method::AuthenticatedExtendedCard => {
            Err(RpcError::new(code::EXTENDED_CARD_NOT_CONFIGURED, "this agent has no extended agent card"))
        }
    }
}

// ---- requests ----------------------------------------------------------------------------

#[derive(Deserialize)]
struct MessageSendParams {
    message: Message,
    #[serde(default)]
    configuration: Option<MessageSendConfiguration>,
}

impl MessageSendParams {
    fn into_send(self) -> Result<Send, RpcError> {
        let configuration = self.configuration.unwrap_or_default();
        let push = match configuration.push_notification_config {
            Some(config) => Some(config.into_config("params.configuration.pushNotificationConfig.")?),
            None => None,
        };
        Ok(Send { message: self.message, wait: configuration.blocking.unwrap_or(true), push })
    }
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageSendConfiguration {
    #[serde(default)]
    blocking: Option<bool>,
    #[serde(default, alias = "history_length")]
    history_length: Option<i64>,
    #[serde(default, alias = "push_notification_config")]
    push_notification_config: Option<PushConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskQueryParams {
    id: String,
    #[serde(default, alias = "history_length")]
    history_length: Option<i64>,
}

#[derive(Deserialize)]
struct TaskIdParams {
    id: String,
}

#[derive(Default, Deserialize)]
struct ListParams {
    #[serde(default)]
    length: Option<usize>,
    #[serde(default)]
    offset: Option<usize>,
}

/// A 0.3 `TaskPushNotificationConfig`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskPushConfig {
    #[serde(alias = "task_id")]
    task_id: String,
    #[serde(alias = "push_notification_config")]
    push_notification_config: PushConfig,
}

/// A 0.3 `PushNotificationConfig`.
#[derive(Deserialize)]
struct PushConfig {
    #[serde(default)]
    id: Option<String>,
    url: String,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    authentication: Option<Value>,
}

impl PushConfig {
    fn into_config(self, path: &str) -> Result<PushNotificationConfig, RpcError> {
        wire::push_config(self.id.as_deref(), self.url, self.token, self.authentication, path)
    }
}

/// `{id, pushNotificationConfigId?}`: a task, and one of its configs.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PushConfigParams {
    id: String,
    #[serde(default, alias = "push_notification_config_id")]
    push_notification_config_id: Option<String>,
}

impl PushConfigParams {
    fn refs(&self) -> Result<(TaskId, Option<uuid::Uuid>), RpcError> {
        let task_id = task_ref(&self.id).map_err(error)?;
        let id = config_id(self.push_notification_config_id.as_deref(), &task_id).map_err(error)?;
        Ok((task_id, id))
    }
}

/// How many messages of the history to show: `None` all, `Some(n)` the last `n` (0: all);
/// `path` names the field in errors.
fn history(length: Option<i64>, path: &str) -> Result<Option<usize>, RpcError> {
    match length {
        Some(n) if n < 0 => Err(RpcError::invalid_params(format!("{path}: must not be negative"))),
        Some(0) | None => Ok(None),
        Some(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
    }
}

// ---- results -----------------------------------------------------------------------------

fn stream(updates: Updates, history: Option<usize>) -> Reply {
    Reply::updates(updates, move |update| update_json(update, history), error)
}

fn update_json(update: Update, history: Option<usize>) -> Value {
    match update {
        Update::Task(task) => task_json(task, history),
        Update::Status { task_id, context_id, status, last } => json!({
            "kind": "status-update", "taskId": task_id, "contextId": context_id, "status": status, "final": last,
        }),
        Update::Artifact { task_id, context_id, artifact } => {
            let mut event = json!({ "kind": "artifact-update", "taskId": task_id, "contextId": context_id });
            if let Some(append) = artifact.append {
                event["append"] = append.into();
            }
            if let Some(last_chunk) = artifact.last_chunk {
                event["lastChunk"] = last_chunk.into();
            }
            event["artifact"] = json!(artifact);
            event
        }
    }
}

fn task_json(mut task: Task, history: Option<usize>) -> Value {
    task.truncate_history(history);
    json!(task)
}

fn push_json(task_id: TaskId, config: &PushNotificationConfig) -> Value {
    json!({ "taskId": task_id, "pushNotificationConfig": config })
}

/// A failure as a 0.3 error (Bindu's codes).
fn error(failure: Failure) -> RpcError {
    let code = match &failure {
        Failure::TaskNotFound(_) => code::TASK_NOT_FOUND,
        Failure::NotCancelable(_) => code::TASK_NOT_CANCELABLE,
        Failure::Immutable(_) | Failure::Unsupported(_) => code::UNSUPPORTED_OPERATION,
        Failure::InvalidParams(message) => return RpcError::invalid_params(message.clone()),
        Failure::Internal(_) => code::INTERNAL_ERROR,
    };
    RpcError::new(code, failure.message())
}
