//! Turning rows into domain values.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use tokio_postgres::Row;
use tokio_postgres::types::Json;

use crate::error::{Error, Result};
use crate::model::{Claim, ClaimToken, ContextId, Message, OperationId, Task, TaskId, TaskState, TaskStatus};

/// The task columns every task query selects, in this order.
pub(crate) const TASK_COLUMNS: &str =
    "id, context_id, state, state_timestamp, status_message, history, artifacts, metadata, owner";

/// The claim kept beside a task (all three set, or all three NULL).
pub(crate) const CLAIM_COLUMNS: &str = "claim_token, claim_run, lease_until";

pub(crate) fn task(row: &Row) -> Result<Task> {
    let state = state(row)?;
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

/// The task's claim, from a row that selected [`CLAIM_COLUMNS`].
pub(crate) fn claim(row: &Row) -> Result<Option<Claim>> {
    let token: Option<uuid::Uuid> = get(row, "claim_token")?;
    let run: Option<uuid::Uuid> = get(row, "claim_run")?;
    let lease_until: Option<DateTime<Utc>> = get(row, "lease_until")?;
    Ok(match (token, run, lease_until) {
        (Some(token), Some(run), Some(lease_until)) => {
            Some(Claim { token: ClaimToken(token), run: OperationId(run), lease_until })
        }
        _ => None,
    })
}

pub(crate) fn state(row: &Row) -> Result<TaskState> {
    let state: String = get(row, "state")?;
    TaskState::from_wire(&state)
        .ok_or_else(|| Error::Decode { what: "stored task", reason: format!("unknown state {state:?}") })
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
