//! Context queries: load, replace data, append messages, owner, clear one or all.

use deadpool_postgres::Object;
use tokio_postgres::types::Json;

use super::codec;
use crate::error::{Entity, Error, Result};
use crate::model::{Context, ContextId, Message, Metadata, TaskId};
use crate::postgres::error::{committing, in_transaction};

pub(crate) async fn load_context(client: &Object, context_id: ContextId) -> Result<Option<Context>> {
    let statement = client
        .prepare_cached(
            "SELECT c.data, c.messages,
                    coalesce((SELECT array_agg(t.id ORDER BY t.seq) FROM tasks t WHERE t.context_id = c.id), '{}')
                        AS task_ids
             FROM contexts c WHERE c.id = $1",
        )
        .await
        .map_err(committing)?;
    let Some(row) = client.query_opt(&statement, &[&context_id.0]).await.map_err(committing)? else {
        return Ok(None);
    };
    let task_ids: Vec<uuid::Uuid> = codec::get(&row, "task_ids")?;
    Ok(Some(Context {
        context_id,
        task_ids: task_ids.into_iter().map(TaskId).collect(),
        data: codec::json(&row, "data")?,
        messages: codec::json(&row, "messages")?,
    }))
}

pub(crate) async fn update_context(
    client: &Object,
    context_id: ContextId,
    data: &Metadata,
    owner: Option<&str>,
) -> Result<()> {
    // One statement: create for `owner`, or replace the data only if `owner` owns it.
    let statement = client
        .prepare_cached(
            "INSERT INTO contexts (id, owner, data) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, updated_at = now()
             WHERE contexts.owner IS NOT DISTINCT FROM EXCLUDED.owner",
        )
        .await
        .map_err(committing)?;
    let changed =
        client.execute(&statement, &[&context_id.0, &owner, &Json(data)]).await.map_err(committing)?;
    if changed == 0 {
        return Err(Error::ownership(Entity::Context, context_id));
    }
    Ok(())
}

pub(crate) async fn append_to_context(
    client: &mut Object,
    context_id: ContextId,
    messages: &[Message],
    owner: Option<&str>,
) -> Result<()> {
    let tx = client.transaction().await.map_err(in_transaction)?;
    tx.execute(
        "INSERT INTO contexts (id, owner) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        &[&context_id.0, &owner],
    )
    .await
    .map_err(in_transaction)?;
    let row = tx
        .query_one("SELECT owner, messages FROM contexts WHERE id = $1 FOR UPDATE", &[&context_id.0])
        .await
        .map_err(in_transaction)?;
    if codec::owner(&row)?.as_deref() != owner {
        return Err(Error::ownership(Entity::Context, context_id));
    }
    let stored: Vec<Message> = codec::json(&row, "messages")?;
    let mut new: Vec<Message> = Vec::new();
    for message in messages {
        let known = stored.iter().chain(&new).any(|m| m.message_id == message.message_id);
        if !known {
            let mut message = message.clone();
            message.context_id = Some(context_id);
            new.push(message);
        }
    }
    if !new.is_empty() {
        tx.execute(
            "UPDATE contexts SET messages = messages || $2, updated_at = now() WHERE id = $1",
            &[&context_id.0, &Json(&new)],
        )
        .await
        .map_err(in_transaction)?;
    }
    tx.commit().await.map_err(committing)
}

pub(crate) async fn clear_context(client: &Object, context_id: ContextId) -> Result<()> {
    // Tasks, their feedback, webhook configs and failed notifications go with it (ON DELETE
    // CASCADE).
    let deleted =
        client.execute("DELETE FROM contexts WHERE id = $1", &[&context_id.0]).await.map_err(committing)?;
    if deleted == 0 {
        return Err(Error::not_found(Entity::Context, context_id));
    }
    Ok(())
}

pub(crate) async fn get_context_owner(client: &Object, context_id: ContextId) -> Result<Option<String>> {
    match client
        .query_opt("SELECT owner FROM contexts WHERE id = $1", &[&context_id.0])
        .await
        .map_err(committing)?
    {
        Some(row) => codec::owner(&row),
        None => Err(Error::not_found(Entity::Context, context_id)),
    }
}

pub(crate) async fn clear_all(client: &Object) -> Result<()> {
    client
        .batch_execute("TRUNCATE failed_notifications, task_feedback, webhook_configs, task_messages, task_artifacts, tasks, contexts")
        .await
        .map_err(committing)
}
