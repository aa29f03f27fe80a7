//! Task queries: submit, load, update, compare-and-swap. Writes lock the row (`FOR UPDATE`)
//! inside one transaction and apply the shared state-machine rules (`TaskUpdate::check`), so
//! that they are atomic and behave exactly like every other backend.

use deadpool_postgres::{GenericClient, Object};
use tokio_postgres::types::Json;

use super::error::{Phase, classify};
use super::rows::{self, TASK_COLUMNS};
use crate::error::{Entity, Error, Result};
use crate::model::{ContextId, Message, Submission, SubmitOutcome, Task, TaskId, TaskState, TaskUpdate};

fn tx(err: tokio_postgres::Error) -> Error {
    classify(err, Phase::Transaction)
}

fn commit(err: tokio_postgres::Error) -> Error {
    classify(err, Phase::Commit)
}

pub(crate) async fn load(
    client: &Object,
    task_id: TaskId,
    history_length: Option<usize>,
) -> Result<Option<Task>> {
    let statement = client
        .prepare_cached(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1"))
        .await
        .map_err(tx)?;
    let Some(row) = client.query_opt(&statement, &[&task_id.0]).await.map_err(commit)? else {
        return Ok(None);
    };
    let mut task = rows::task(&row)?;
    task.truncate_history(history_length);
    Ok(Some(task))
}

pub(crate) async fn submit(
    client: &mut Object,
    context_id: ContextId,
    message: &Message,
    owner: Option<&str>,
) -> Result<Submission> {
    let (task_id, message) = message.stamped_for_submit(context_id)?;
    let tx_ = client.transaction().await.map_err(tx)?;
    // Every statement is prepared once per connection: one round trip each after that.
    let lock = tx_
        .prepare_cached(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 FOR UPDATE"))
        .await
        .map_err(tx)?;
    let append = tx_
        .prepare_cached(&format!(
            "UPDATE tasks SET history = history || $2, state = 'submitted', state_timestamp = now(), updated_at = now()
             WHERE id = $1 RETURNING {TASK_COLUMNS}"
        ))
        .await
        .map_err(tx)?;
    let new_context = tx_
        .prepare_cached("INSERT INTO contexts (id, owner) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING")
        .await
        .map_err(tx)?;
    let context_owner =
        tx_.prepare_cached("SELECT owner FROM contexts WHERE id = $1 FOR SHARE").await.map_err(tx)?;
    let new_task = tx_
        .prepare_cached(&format!(
            "INSERT INTO tasks (id, context_id, owner, state, state_timestamp, history)
             VALUES ($1, $2, $3, 'submitted', now(), $4)
             ON CONFLICT (id) DO NOTHING RETURNING {TASK_COLUMNS}"
        ))
        .await
        .map_err(tx)?;
    // Twice at most: if a concurrent submit creates the task between our look and our insert,
    // the insert does nothing and the second look finds (and locks) the committed row.
    for _ in 0..2 {
        if let Some(row) = tx_.query_opt(&lock, &[&task_id.0]).await.map_err(tx)? {
            let task = rows::task(&row)?;
            if rows::owner(&row)?.as_deref() != owner || task.context_id != context_id {
                return Err(Error::ownership(Entity::Task, task_id));
            }
            if task.has_message(message.message_id) {
                return Ok(Submission { task, outcome: SubmitOutcome::Duplicate });
            }
            if task.status.state.is_terminal() {
                return Err(Error::TaskImmutable { task_id, state: task.status.state });
            }
            let row = tx_.query_one(&append, &[&task_id.0, &Json([&message])]).await.map_err(tx)?;
            let task = rows::task(&row)?;
            tx_.commit().await.map_err(commit)?;
            return Ok(Submission { task, outcome: SubmitOutcome::Continued });
        }
        tx_.execute(&new_context, &[&context_id.0, &owner]).await.map_err(tx)?;
        let stored_owner: Option<String> =
            tx_.query_one(&context_owner, &[&context_id.0]).await.map_err(tx)?.get(0);
        if stored_owner.as_deref() != owner {
            return Err(Error::ownership(Entity::Context, context_id));
        }
        let inserted = tx_
            .query_opt(&new_task, &[&task_id.0, &context_id.0, &owner, &Json([&message])])
            .await
            .map_err(tx)?;
        if let Some(row) = inserted {
            let task = rows::task(&row)?;
            tx_.commit().await.map_err(commit)?;
            return Ok(Submission { task, outcome: SubmitOutcome::Created });
        }
    }
    // Created and deleted again between our two looks: nothing was written; try again.
    Err(Error::Backend(crate::error::BackendError::new(
        "postgres",
        crate::error::Transience::Transient,
        "submit_task: the task was deleted while being submitted",
    )))
}

pub(crate) async fn update(client: &mut Object, task_id: TaskId, update: &TaskUpdate) -> Result<Task> {
    let tx_ = client.transaction().await.map_err(tx)?;
    let lock = tx_
        .prepare_cached(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 FOR UPDATE"))
        .await
        .map_err(tx)?;
    let Some(row) = tx_.query_opt(&lock, &[&task_id.0]).await.map_err(tx)? else {
        return Err(Error::not_found(Entity::Task, task_id));
    };
    let mut task = rows::task(&row)?;
    if !update.check(&task)? {
        return Ok(task);
    }
    // Apply in memory to learn exactly what is new (ids already stored are skipped), then send
    // only that: appends, not whole documents.
    let (messages_before, artifacts_before) = (task.history.len(), task.artifacts.len());
    task.apply(update);
    let statement = tx_
        .prepare_cached(&format!(
            "UPDATE tasks SET state = $2, state_timestamp = now(), history = history || $3,
                              artifacts = artifacts || $4, metadata = metadata || $5, updated_at = now()
             WHERE id = $1 RETURNING {TASK_COLUMNS}"
        ))
        .await
        .map_err(tx)?;
    let row = tx_
        .query_one(
            &statement,
            &[
                &task_id.0,
                &update.state.as_str(),
                &Json(&task.history[messages_before..]),
                &Json(&task.artifacts[artifacts_before..]),
                &Json(&update.metadata),
            ],
        )
        .await
        .map_err(tx)?;
    let stored = rows::task(&row)?;
    tx_.commit().await.map_err(commit)?;
    Ok(stored)
}

pub(crate) async fn update_state_if(
    client: &Object,
    task_id: TaskId,
    from: TaskState,
    to: TaskState,
) -> Result<bool> {
    if from.is_terminal() {
        // Terminal states never change: tell "it is in that state" (refused) from "it is not".
        let state: Option<String> = client
            .query_opt("SELECT state FROM tasks WHERE id = $1", &[&task_id.0])
            .await
            .map_err(commit)?
            .map(|row| row.get(0));
        return match state {
            Some(state) if state == from.as_str() => Err(Error::TaskImmutable { task_id, state: from }),
            _ => Ok(false),
        };
    }
    let statement = client
        .prepare_cached(
            "UPDATE tasks SET state = $3, state_timestamp = now(), updated_at = now() WHERE id = $1 AND state = $2",
        )
        .await
        .map_err(tx)?;
    let changed =
        client.execute(&statement, &[&task_id.0, &from.as_str(), &to.as_str()]).await.map_err(commit)?;
    Ok(changed == 1)
}
