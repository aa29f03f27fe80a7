//! Failed notifications (records that go with their task) and pruning of finished tasks.

use std::time::Duration;

use deadpool_postgres::Object;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Json;
use uuid::Uuid;

use super::codec;
use crate::error::{Entity, Error, Result};
use crate::model::{FailedNotification, Page};
use crate::postgres::error::{committing, in_transaction};
use crate::postgres::seconds;

/// The terminal states, as stored (the `tasks_finished` index is on exactly these).
const TERMINAL: &str = "('completed', 'failed', 'canceled', 'rejected')";

pub(crate) async fn record_failed_notification(client: &Object, failure: &FailedNotification) -> Result<()> {
    client
        .execute(
            "INSERT INTO failed_notifications (id, task_id, record) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record, updated_at = now()",
            &[&failure.notification_id, &failure.task_id.0, &Json(failure)],
        )
        .await
        .map_err(|err| {
            // The foreign key to tasks: the task does not exist.
            if err.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) {
                return Error::not_found(Entity::Task, failure.task_id);
            }
            committing(err)
        })?;
    Ok(())
}

pub(crate) async fn failed_notifications(client: &Object, page: Page) -> Result<Vec<FailedNotification>> {
    let offset = i64::try_from(page.offset).unwrap_or(i64::MAX);
    // LIMIT NULL is no limit.
    let limit = page.limit.map(|limit| i64::try_from(limit).unwrap_or(i64::MAX));
    let rows = client
        .query("SELECT record FROM failed_notifications ORDER BY seq OFFSET $1 LIMIT $2", &[&offset, &limit])
        .await
        .map_err(committing)?;
    rows.iter().map(|row| codec::json(row, "record")).collect()
}

pub(crate) async fn remove_failed_notification(client: &Object, notification_id: Uuid) -> Result<bool> {
    let removed = client
        .execute("DELETE FROM failed_notifications WHERE id = $1", &[&notification_id])
        .await
        .map_err(committing)?;
    Ok(removed == 1)
}

/// One transaction: delete the tasks (their records go by ON DELETE CASCADE), then lock their
/// contexts and delete those left without tasks. The lock comes first and the check in a later
/// statement (a fresh snapshot): a task being added to one of them holds a key-share lock on it
/// until it commits, so the check either waits for it and sees it, or the task's insert waits
/// for this transaction and finds no context — it is never deleted by the cascade.
pub(crate) async fn prune_tasks(client: &mut Object, older_than: Duration, limit: usize) -> Result<u64> {
    let tx = client.transaction().await.map_err(in_transaction)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = tx
        .query(
            &format!(
                "DELETE FROM tasks WHERE id IN (
                     SELECT id FROM tasks
                     WHERE state IN {TERMINAL} AND state_timestamp <= now() - make_interval(secs => $1)
                     ORDER BY state_timestamp LIMIT $2 FOR UPDATE SKIP LOCKED
                 ) RETURNING context_id"
            ),
            &[&seconds(older_than), &limit],
        )
        .await
        .map_err(in_transaction)?;
    let contexts: Vec<Uuid> = rows.iter().map(|row| row.get("context_id")).collect();
    if !contexts.is_empty() {
        tx.execute("SELECT 1 FROM contexts WHERE id = ANY($1) FOR UPDATE", &[&contexts])
            .await
            .map_err(in_transaction)?;
        tx.execute(
            "DELETE FROM contexts c WHERE c.id = ANY($1)
             AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.context_id = c.id)",
            &[&contexts],
        )
        .await
        .map_err(in_transaction)?;
    }
    tx.commit().await.map_err(committing)?;
    Ok(rows.len() as u64)
}
