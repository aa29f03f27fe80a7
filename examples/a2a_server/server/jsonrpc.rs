//! The JSON-RPC 2.0 endpoint: reads the body (at most [`BODY_LIMIT`] bytes), checks the envelope,
//! hands the call to the protocol version that has the method, and answers with JSON or, for
//! streaming methods, server-sent events. Anything malformed gets a JSON-RPC error before any
//! operation runs, so it changes nothing.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::service::Failure;
use super::stream::{Update, Updates};
use super::{BODY_LIMIT, Service, v1, v03};

/// A body past the limit is still read (and dropped) up to this size, so that the client gets
/// the error instead of a connection reset; past it, the connection is closed.
const DRAIN_LIMIT: usize = 16 * BODY_LIMIT;
/// Longest method name or id quoted back in an error.
const QUOTE_LIMIT: usize = 64;

/// JSON-RPC and A2A error codes.
pub mod code {
    /// The body is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Not a valid JSON-RPC request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// The params are wrong.
    pub const INVALID_PARAMS: i64 = -32602;
    /// The server failed.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// A2A: no such task.
    pub const TASK_NOT_FOUND: i64 = -32001;
    /// A2A: the task cannot be canceled.
    pub const TASK_NOT_CANCELABLE: i64 = -32002;
    /// A2A: the operation is not supported.
    pub const UNSUPPORTED_OPERATION: i64 = -32004;
    /// A2A: no extended agent card.
    pub const EXTENDED_CARD_NOT_CONFIGURED: i64 = -32007;
}

/// A JSON-RPC error object.
#[derive(Clone, Debug, PartialEq)]
pub struct RpcError {
    /// The code.
    pub code: i64,
    /// What went wrong, for a person.
    pub message: String,
    /// Details for a program.
    pub data: Option<Value>,
}

impl RpcError {
    /// An error without data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), data: None }
    }

    /// `-32602` with `message`.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(code::INVALID_PARAMS, format!("invalid params: {}", message.into()))
    }

    fn to_json(&self) -> Value {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(data) = &self.data {
            error["data"] = data.clone();
        }
        error
    }
}

/// What a method answers.
pub enum Reply {
    /// One result.
    Result(Value),
    /// A stream of results, sent as server-sent events; an error ends it.
    Stream(BoxStream<'static, Result<Value, RpcError>>),
}

impl Reply {
    /// A task's updates, each encoded by a protocol version, its failures as that version's errors.
    pub fn updates(
        updates: Updates,
        encode: impl Fn(Update) -> Value + Send + 'static,
        error: fn(Failure) -> RpcError,
    ) -> Self {
        Self::Stream(updates.map(move |update| update.map(&encode).map_err(error)).boxed())
    }
}

/// A call's params, checked to be an object (or absent).
#[derive(Debug)]
pub struct Params(Option<Map<String, Value>>);

impl Params {
    /// The params as `T`; an error names the field that is wrong.
    pub fn parse<T: DeserializeOwned>(self) -> Result<T, RpcError> {
        let Some(map) = self.0 else {
            return Err(RpcError::invalid_params("params: missing (this method takes an object)"));
        };
        serde_path_to_error::deserialize(Value::Object(map)).map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if path == "." {
                RpcError::invalid_params(format!("params: {inner}"))
            } else {
                RpcError::invalid_params(format!("params.{path}: {inner}"))
            }
        })
    }
}

impl Params {
    /// The params as `T`, or `T::default()` when there are none.
    pub fn parse_or_default<T: DeserializeOwned + Default>(self) -> Result<T, RpcError> {
        if self.0.is_none() { Ok(T::default()) } else { self.parse() }
    }
}

/// `POST /`: one JSON-RPC request.
pub async fn handle(State(service): State<Arc<Service>>, headers: HeaderMap, body: Body) -> Response {
    let bytes = match read(&headers, body).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let (id, method, params) = match envelope(&bytes) {
        Ok(call) => call,
        Err((id, error)) => return reply_error(&id, &error),
    };
    let reply = if let Some(method) = v1::Method::named(&method) {
        v1::call(&service, method, params).await
    } else if let Some(method) = v03::Method::named(&method) {
        v03::call(&service, method, params).await
    } else {
        Err(RpcError::new(code::METHOD_NOT_FOUND, format!("method not found: {}", quote(&method))))
    };
    match reply {
        Ok(Reply::Result(result)) => {
            json_response(StatusCode::OK, json!({"jsonrpc": "2.0", "id": id, "result": result}))
        }
        Ok(Reply::Stream(results)) => events(id, results),
        Err(error) => reply_error(&id, &error),
    }
}

/// Reads the body, refusing one past [`BODY_LIMIT`] (read and dropped up to [`DRAIN_LIMIT`]).
async fn read(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, Response> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let too_large = || {
        let error = RpcError::new(
            code::INVALID_REQUEST,
            format!("invalid request: the body is larger than {BODY_LIMIT} bytes"),
        );
        error_response(StatusCode::PAYLOAD_TOO_LARGE, &Value::Null, &error)
    };
    if declared.is_some_and(|length| length > DRAIN_LIMIT as u64) {
        return Err(too_large());
    }
    let mut chunks = body.into_data_stream();
    let mut bytes = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|err| {
            // The transport's own words are for the logs.
            tracing::warn!(error = %err, "a request body could not be read");
            let error = RpcError::new(code::INVALID_REQUEST, "invalid request: the body could not be read");
            error_response(StatusCode::BAD_REQUEST, &Value::Null, &error)
        })?;
        seen = seen.saturating_add(chunk.len());
        if seen > DRAIN_LIMIT {
            return Err(too_large());
        }
        if seen <= BODY_LIMIT {
            bytes.extend_from_slice(&chunk);
        }
    }
    if seen > BODY_LIMIT {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Checks the JSON-RPC envelope: the id, method and params of one request, or the error to
/// answer (with the id when it could be read).
fn envelope(bytes: &[u8]) -> Result<(Value, String, Params), (Value, RpcError)> {
    let invalid = |id: &Value, what: &str| {
        (id.clone(), RpcError::new(code::INVALID_REQUEST, format!("invalid request: {what}")))
    };
    let request: Value = serde_json::from_slice(bytes).map_err(|err| {
        (
            Value::Null,
            RpcError::new(code::PARSE_ERROR, format!("parse error: the body is not valid JSON: {err}")),
        )
    })?;
    let mut request = match request {
        Value::Object(request) => request,
        Value::Array(_) => {
            return Err(invalid(&Value::Null, "batch requests are not supported: send one request per call"));
        }
        _ => return Err(invalid(&Value::Null, "a request must be a JSON object")),
    };
    let id = match request.remove("id") {
        Some(id @ (Value::String(_) | Value::Number(_) | Value::Null)) => id,
        Some(_) => return Err(invalid(&Value::Null, "id must be a string, a number or null")),
        None => {
            return Err(invalid(
                &Value::Null,
                "notifications (requests without an id) are not supported: add an id",
            ));
        }
    };
    if request.get("jsonrpc") != Some(&Value::String("2.0".into())) {
        return Err(invalid(&id, r#"jsonrpc must be "2.0""#));
    }
    let method = match request.remove("method") {
        Some(Value::String(method)) => method,
        Some(_) => return Err(invalid(&id, "method must be a string")),
        None => return Err(invalid(&id, "method is missing")),
    };
    let params = match request.remove("params") {
        None | Some(Value::Null) => None,
        Some(Value::Object(params)) => Some(params),
        Some(_) => {
            return Err((id, RpcError::invalid_params("params: must be an object (parameters by name)")));
        }
    };
    if let Some(params) = &params
        && let Some(path) = nul_in(params, "params")
    {
        return Err((id, RpcError::invalid_params(format!("{path}: NUL characters are not accepted"))));
    }
    Ok((id, method, Params(params)))
}

/// The path of the first string (or key) holding a NUL character: no backend stores them alike
/// (PostgreSQL's JSON refuses them), so none is accepted.
fn nul_in(map: &Map<String, Value>, path: &str) -> Option<String> {
    map.iter().find_map(|(key, value)| {
        let here = format!("{path}.{}", quote(key));
        if key.contains('\0') { Some(here) } else { nul_in_value(value, &here) }
    })
}

fn nul_in_value(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::String(text) => text.contains('\0').then(|| path.to_owned()),
        Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, item)| nul_in_value(item, &format!("{path}[{i}]")))
        }
        Value::Object(map) => nul_in(map, path),
        _ => None,
    }
}

/// A client-given string fit to quote in an error: at most [`QUOTE_LIMIT`] characters, control
/// characters escaped.
pub fn quote(text: &str) -> String {
    let mut shown: String = text.chars().take(QUOTE_LIMIT).flat_map(char::escape_debug).collect();
    if text.chars().nth(QUOTE_LIMIT).is_some() {
        shown.push('…');
    }
    shown
}

/// A body of `error` for `id`.
pub fn error_body(id: &Value, error: &RpcError) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": error.to_json()})
}

/// JSON-RPC errors travel with HTTP 200, as the A2A SDKs expect; only transport-level problems
/// (a body too large or unreadable) use another status.
fn reply_error(id: &Value, error: &RpcError) -> Response {
    error_response(StatusCode::OK, id, error)
}

fn error_response(status: StatusCode, id: &Value, error: &RpcError) -> Response {
    json_response(status, error_body(id, error))
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// Server-sent events, one JSON-RPC response each.
fn events(id: Value, results: BoxStream<'static, Result<Value, RpcError>>) -> Response {
    let events = results.map(move |item| {
        let body = match item {
            Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
            Err(error) => error_body(&id, &error),
        };
        Ok::<_, Infallible>(Event::default().data(body.to_string()))
    });
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}
