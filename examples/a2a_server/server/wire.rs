//! Checks both protocol versions share: ids, webhook URLs, page tokens.

use bindu::{PushNotificationConfig, TaskId};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use uuid::Uuid;

use super::jsonrpc::{RpcError, quote};
use super::service::Failure;

/// Longest webhook URL accepted.
const URL_LIMIT: usize = 2048;

/// A required UUID field; `path` names it in the error.
pub fn uuid<T: From<Uuid>>(raw: &str, path: &str) -> Result<T, RpcError> {
    Uuid::parse_str(raw)
        .map(T::from)
        .map_err(|_| RpcError::invalid_params(format!("{path}: {:?} is not a UUID", quote(raw))))
}

/// An optional UUID field: absent, null and "" (protobuf's unset) are `None`.
pub fn optional_uuid<T: From<Uuid>>(raw: Option<&str>, path: &str) -> Result<Option<T>, RpcError> {
    raw.filter(|raw| !raw.is_empty()).map(|raw| uuid(raw, path)).transpose()
}

/// The task a request names. Task ids here are UUIDs, so anything else names no task.
pub fn task_ref(raw: &str) -> Result<TaskId, Failure> {
    Uuid::parse_str(raw)
        .map(TaskId::from)
        .map_err(|_| Failure::TaskNotFound(format!("task {:?} not found", quote(raw))))
}

/// The push config a request names, if any. Config ids here are UUIDs, so anything else names
/// no config of the task.
pub fn config_id(raw: Option<&str>, task_id: &TaskId) -> Result<Option<Uuid>, Failure> {
    raw.filter(|raw| !raw.is_empty())
        .map(|raw| {
            Uuid::parse_str(raw).map_err(|_| {
                Failure::TaskNotFound(format!(
                    "task {task_id} has no push notification config {:?}",
                    quote(raw)
                ))
            })
        })
        .transpose()
}

/// A push config from its parts, checked: a UUID id (a fresh one when none is given) and an
/// absolute http(s) URL; `path` prefixes the field names in errors.
pub fn push_config(
    id: Option<&str>,
    url: String,
    token: Option<String>,
    authentication: Option<Value>,
    path: &str,
) -> Result<PushNotificationConfig, RpcError> {
    let id = optional_uuid(id, &format!("{path}id"))?.unwrap_or_else(Uuid::new_v4);
    check_url(&url).map_err(|reason| RpcError::invalid_params(format!("{path}url: {reason}")))?;
    Ok(PushNotificationConfig { id, url, token: token.filter(|token| !token.is_empty()), authentication })
}

#[cfg(feature = "webhooks")]
fn check_url(url: &str) -> Result<(), String> {
    if url.len() > URL_LIMIT {
        return Err(format!("longer than {URL_LIMIT} characters"));
    }
    bindu::notify::WebhookUrl::parse(url).map(drop).map_err(|err| err.to_string())
}

#[cfg(not(feature = "webhooks"))]
fn check_url(url: &str) -> Result<(), String> {
    if url.len() > URL_LIMIT {
        return Err(format!("longer than {URL_LIMIT} characters"));
    }
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !url.chars().any(char::is_whitespace) => {
            Ok(())
        }
        _ => Err("must be an absolute http or https URL".into()),
    }
}

/// The offset a page token stands for ("" or none: the first page).
pub fn page_token(raw: Option<&str>, path: &str) -> Result<usize, RpcError> {
    match raw.filter(|raw| !raw.is_empty()) {
        None => Ok(0),
        Some(raw) => raw.parse().map_err(|_| {
            RpcError::invalid_params(format!("{path}: {:?} is not a page token this server gave", quote(raw)))
        }),
    }
}

/// A boolean that may be null (protobuf JSON's "unset").
pub fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(deserializer)?.unwrap_or_default())
}
