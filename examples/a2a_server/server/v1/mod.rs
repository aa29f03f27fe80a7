//! A2A protocol 1.0 over JSON-RPC: method names like `SendMessage`, payloads in the protobuf JSON
//! mapping (`ROLE_USER`, `TASK_STATE_COMPLETED`, parts without a `kind`, push configs flat), a
//! history length of 0 meaning no history. Translated here to and from the crate's model.

mod requests;
mod results;

use serde_json::{Value, json};

use super::jsonrpc::{Params, Reply, RpcError, code};
use super::service::{Failure, ListQuery, Service};
use super::wire::{self, task_ref};
use requests::{
    GetTaskRequest, IdRequest, ListTasksRequest, PushConfigRequest, SendMessageRequest, WirePushConfig,
    WireState, history,
};
use results::{push_json, stream, task_json};

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
