//! Webhook configs and feedback: per-task records that go with their task (ON DELETE CASCADE).

use std::collections::HashMap;

use deadpool_postgres::Object;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Json;

use super::codec;
use crate::error::{Entity, Error, Result};
use crate::model::{Feedback, PushNotificationConfig, TaskId};
use crate::postgres::error::committing;

fn write(err: tokio_postgres::Error, task_id: TaskId) -> Error {
    // The foreign key to tasks: the task does not exist.
    if err.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) {
        return Error::not_found(Entity::Task, task_id);
    }
    committing(err)
}

pub(crate) async fn save_webhook_config(
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

pub(crate) async fn load_webhook_config(
    client: &Object,
    task_id: TaskId,
) -> Result<Option<PushNotificationConfig>> {
    let row = client
        .query_opt("SELECT config FROM webhook_configs WHERE task_id = $1", &[&task_id.0])
        .await
        .map_err(committing)?;
    row.map(|row| codec::json(&row, "config")).transpose()
}

pub(crate) async fn delete_webhook_config(client: &Object, task_id: TaskId) -> Result<()> {
    client
        .execute("DELETE FROM webhook_configs WHERE task_id = $1", &[&task_id.0])
        .await
        .map_err(committing)?;
    Ok(())
}

pub(crate) async fn load_all_webhook_configs(
    client: &Object,
) -> Result<HashMap<TaskId, PushNotificationConfig>> {
    let rows = client.query("SELECT task_id, config FROM webhook_configs", &[]).await.map_err(committing)?;
    rows.iter().map(|row| Ok((TaskId(codec::get(row, "task_id")?), codec::json(row, "config")?))).collect()
}

pub(crate) async fn store_task_feedback(client: &Object, feedback: &Feedback) -> Result<()> {
    client
        .execute(
            "INSERT INTO task_feedback (id, task_id, feedback) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            &[&feedback.id, &feedback.task_id.0, &Json(feedback)],
        )
        .await
        .map_err(|e| write(e, feedback.task_id))?;
    Ok(())
}

pub(crate) async fn get_task_feedback(client: &Object, task_id: TaskId) -> Result<Vec<Feedback>> {
    let rows = client
        .query("SELECT feedback FROM task_feedback WHERE task_id = $1 ORDER BY seq", &[&task_id.0])
        .await
        .map_err(committing)?;
    rows.iter().map(|row| codec::json(row, "feedback")).collect()
}
