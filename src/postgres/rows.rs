//! Turning rows into domain values.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use tokio_postgres::Row;
use tokio_postgres::types::Json;

use crate::error::{Error, Result};
use crate::model::{ContextId, Message, Task, TaskId, TaskState, TaskStatus};

/// The task columns every task query selects, in this order.
pub(crate) const TASK_COLUMNS: &str =
    "id, context_id, state, state_timestamp, status_message, history, artifacts, metadata, owner";

pub(crate) fn task(row: &Row) -> Result<Task> {
    let state: String = get(row, "state")?;
    let state = TaskState::from_wire(&state)
        .ok_or_else(|| Error::Decode { what: "stored task", reason: format!("unknown state {state:?}") })?;
    let timestamp: DateTime<Utc> = get(row, "state_timestamp")?;
    Ok(Task {
        id: TaskId(get(row, "id")?),
        context_id: ContextId(get(row, "context_id")?),
        status: TaskStatus {
            state,
            timestamp,
            message: get::<Option<Json<Message>>>(row, "status_message")?.map(|Json(message)| message),
        },
        artifacts: json(row, "artifacts")?,
        history: json(row, "history")?,
        metadata: json(row, "metadata")?,
    })
}

pub(crate) fn owner(row: &Row) -> Result<Option<String>> {
    get(row, "owner")
}

pub(crate) fn get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, column: &str) -> Result<T> {
    row.try_get(column)
        .map_err(|err| Error::Decode { what: "stored row", reason: format!("column {column}: {err}") })
}

pub(crate) fn json<T: DeserializeOwned>(row: &Row, column: &str) -> Result<T> {
    let Json(value) = get::<Json<T>>(row, column)?;
    Ok(value)
}
