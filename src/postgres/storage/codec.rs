//! Turning rows into domain values.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use tokio_postgres::Row;
use tokio_postgres::types::Json;

use crate::error::{Error, Result};
use crate::model::{Claim, ClaimToken, ContextId, Message, OperationId, Task, TaskId, TaskState, TaskStatus};

/// A task's own columns: everything but its conversation.
const HEAD_COLUMNS: &str = "id, context_id, state, state_timestamp, status_message, metadata, owner";

/// Every artifact of the task, in order, as one JSON array. (`json_agg` rather than
/// `jsonb_agg`: it concatenates the stored values' text instead of building a new document.)
const ARTIFACTS: &str = "(SELECT coalesce(json_agg(a.body ORDER BY a.position), '[]')
                          FROM task_artifacts a WHERE a.task_id = tasks.id) AS artifacts";

/// The select list of a task (from `tasks`) with its whole history.
pub(crate) fn task_columns() -> String {
    format!(
        "{HEAD_COLUMNS}, {ARTIFACTS},
         (SELECT coalesce(json_agg(m.body ORDER BY m.position), '[]')
          FROM task_messages m WHERE m.task_id = tasks.id) AS history"
    )
}

/// The select list of a task (from `tasks`) with its last `last` messages, `last` being a
/// `bigint` parameter. Reading the end walks the primary key backwards: `last` rows, however
/// long the history.
pub(crate) fn task_columns_last(last: &str) -> String {
    format!(
        "{HEAD_COLUMNS}, {ARTIFACTS},
         (SELECT coalesce(json_agg(m.body ORDER BY m.position), '[]')
          FROM (SELECT body, position FROM task_messages WHERE task_id = tasks.id
                ORDER BY position DESC LIMIT {last}) m) AS history"
    )
}

/// The select list a write decides on (see `TaskUpdate::check`): the task with, as its history,
/// only the stored messages whose ids are in `ids` (a `uuid[]` parameter) and the last `last`
/// (an `integer` parameter), each found by index; every artifact; and the next positions
/// (`message_count`, `artifact_count`).
pub(crate) fn view_columns(ids: &str, last: &str) -> String {
    format!(
        "{HEAD_COLUMNS}, {ARTIFACTS}, message_count, artifact_count,
         (SELECT coalesce(json_agg(m.body ORDER BY m.position), '[]')
          FROM (SELECT body, position FROM task_messages
                WHERE task_id = tasks.id AND message_id = ANY({ids})
                UNION
                SELECT body, position FROM task_messages
                WHERE task_id = tasks.id AND position >= tasks.message_count - {last}) m) AS history"
    )
}

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
