//! Webhook configs, feedback, owners, and wiping everything.

use std::collections::HashMap;

use deadpool_postgres::Object;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Json;

use super::error::{Phase, classify};
use super::rows;
use crate::error::{Entity, Error, Result};
use crate::model::{ContextId, Feedback, PushNotificationConfig, TaskId};

fn write(err: tokio_postgres::Error, task_id: TaskId) -> Error {
    // The foreign key to tasks: the task does not exist.
    if err.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) {
        return Error::not_found(Entity::Task, task_id);
    }
    classify(err, Phase::Commit)
}

fn read(err: tokio_postgres::Error) -> Error {
    classify(err, Phase::Commit)
}

pub(crate) async fn save_webhook(
    client: &Object,
    task_id: TaskId,
    config: &PushNotificationConfig,
) -> Result<()> {
    client
        .execute(
            "INSERT INTO webhook_configs (task_id, config) VALUES ($1, $2)
             ON CONFLICT (task_id) DO UPDATE SET config = EXCLUDED.config, updated_at = now()",
            &[&task_id.0, &Json(config)],
        )
        .await
        .map_err(|e| write(e, task_id))?;
    Ok(())
}

pub(crate) async fn load_webhook(client: &Object, task_id: TaskId) -> Result<Option<PushNotificationConfig>> {
    let row = client
        .query_opt("SELECT config FROM webhook_configs WHERE task_id = $1", &[&task_id.0])
        .await
        .map_err(read)?;
    row.map(|row| rows::json(&row, "config")).transpose()
}

pub(crate) async fn delete_webhook(client: &Object, task_id: TaskId) -> Result<()> {
    client.execute("DELETE FROM webhook_configs WHERE task_id = $1", &[&task_id.0]).await.map_err(read)?;
    Ok(())
}

pub(crate) async fn all_webhooks(client: &Object) -> Result<HashMap<TaskId, PushNotificationConfig>> {
    let rows = client.query("SELECT task_id, config FROM webhook_configs", &[]).await.map_err(read)?;
    rows.iter().map(|row| Ok((TaskId(rows::get(row, "task_id")?), rows::json(row, "config")?))).collect()
}

pub(crate) async fn store_feedback(client: &Object, feedback: &Feedback) -> Result<()> {
    client
        .execute(
            "INSERT INTO task_feedback (id, task_id, feedback) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            &[&feedback.id, &feedback.task_id.0, &Json(feedback)],
        )
        .await
        .map_err(|e| write(e, feedback.task_id))?;
    Ok(())
}

pub(crate) async fn feedback(client: &Object, task_id: TaskId) -> Result<Vec<Feedback>> {
    let rows = client
        .query("SELECT feedback FROM task_feedback WHERE task_id = $1 ORDER BY seq", &[&task_id.0])
        .await
        .map_err(read)?;
    rows.iter().map(|row| rows::json(row, "feedback")).collect()
}

pub(crate) async fn task_owner(client: &Object, task_id: TaskId) -> Result<Option<String>> {
    match client.query_opt("SELECT owner FROM tasks WHERE id = $1", &[&task_id.0]).await.map_err(read)? {
        Some(row) => rows::owner(&row),
        None => Err(Error::not_found(Entity::Task, task_id)),
    }
}

pub(crate) async fn context_owner(client: &Object, context_id: ContextId) -> Result<Option<String>> {
    match client
        .query_opt("SELECT owner FROM contexts WHERE id = $1", &[&context_id.0])
        .await
        .map_err(read)?
    {
        Some(row) => rows::owner(&row),
        None => Err(Error::not_found(Entity::Context, context_id)),
    }
}

pub(crate) async fn clear_all(client: &Object) -> Result<()> {
    client.batch_execute("TRUNCATE task_feedback, webhook_configs, tasks, contexts").await.map_err(read)
}
