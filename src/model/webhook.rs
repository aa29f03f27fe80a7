//! Webhook configs: where a task's status updates are pushed.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// A webhook that receives a task's status updates (A2A `PushNotificationConfig`).
///
/// `Debug` never shows the token, nor the URL's path and query (they often hold secrets).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushNotificationConfig {
    /// The config's id.
    pub id: Uuid,
    /// Where updates are POSTed (http or https).
    pub url: String,
    /// Sent as a bearer token when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// An A2A security scheme, kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Value>,
}

impl PushNotificationConfig {
    /// A config with a fresh id for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self { id: Uuid::new_v4(), url: url.into(), token: None, authentication: None }
    }
}

impl fmt::Debug for PushNotificationConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushNotificationConfig")
            .field("id", &self.id)
            .field("url", &crate::redact::origin(&self.url))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("authentication", &self.authentication.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}
