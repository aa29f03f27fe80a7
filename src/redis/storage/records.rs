//! The JSON values stored per task and per context.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{Message, Metadata, Task};

/// A task with what storage keeps beside it.
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredTask {
    pub(crate) task: Task,
    pub(crate) owner: Option<String>,
    pub(crate) seq: u64,
}

/// A context.
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredContext {
    pub(crate) owner: Option<String>,
    pub(crate) seq: u64,
    #[serde(default)]
    pub(crate) data: Metadata,
    #[serde(default)]
    pub(crate) messages: Vec<Message>,
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|err| Error::Invalid { what: "value to store", reason: err.to_string() })
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(what: &'static str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|err| Error::Decode { what, reason: err.to_string() })
}
