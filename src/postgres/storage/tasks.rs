//! Task queries: load, submit, update, compare-and-swap, owner. Writes lock the row
//! (`FOR UPDATE`) inside one transaction and decide with the shared model rules (`Task::admit`,
//! `TaskUpdate::check`, `Claim::survives`), so that they are atomic and behave exactly like every
//! other backend. Timestamps are the server's `now()`.

use deadpool_postgres::{GenericClient, Object};
use tokio_postgres::types::Json;

use super::codec::{self, CLAIM_COLUMNS, TASK_COLUMNS};
use crate::error::{BackendError, Entity, Error, Result, Transience};
use crate::model::{
    Admission, Claim, ContextId, Message, Submission, SubmitOutcome, Task, TaskId, TaskState, TaskUpdate,
};
use crate::postgres::error::{committing, in_transaction};

pub(crate) async fn load_task(
    client: &Object,
    task_id: TaskId,
    history_length: Option<usize>,
) -> Result<Option<Task>> {
    let statement = client
        .prepare_cached(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1"))
        .await
        .map_err(in_transaction)?;
    let Some(row) = client.query_opt(&statement, &[&task_id.0]).await.map_err(committing)? else {
        return Ok(None);
    };
    let mut task = codec::task(&row)?;
    task.truncate_history(history_length);
    Ok(Some(task))
}

pub(crate) async fn submit_task(
    client: &mut Object,
    context_id: ContextId,
    message: &Message,
    owner: Option<&str>,
) -> Result<Submission> {
    let (task_id, message) = message.stamped_for_submit(context_id)?;
    // The task this submit creates if there is none yet.
    let fresh = Task::submitted(task_id, context_id, message);
    let message = &fresh.history[0];
    let tx = client.transaction().await.map_err(in_transaction)?;
    // Every statement is prepared once per connection: one round trip each after that.
    let lock = tx
        .prepare_cached(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 FOR UPDATE"))
        .await
        .map_err(in_transaction)?;
    // A continuation goes back to `submitted`, which no claim survives.
    let append = tx
        .prepare_cached(&format!(
            "UPDATE tasks SET history = history || $2, state = $3, state_timestamp = now(), updated_at = now(),
                              claim_token = NULL, claim_run = NULL, lease_until = NULL
             WHERE id = $1 RETURNING {TASK_COLUMNS}"
        ))
        .await
        .map_err(in_transaction)?;
    let new_context = tx
        .prepare_cached("INSERT INTO contexts (id, owner) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING")
        .await
        .map_err(in_transaction)?;
    let context_owner = tx
        .prepare_cached("SELECT owner FROM contexts WHERE id = $1 FOR SHARE")
        .await
        .map_err(in_transaction)?;
    let new_task = tx
        .prepare_cached(&format!(
            "INSERT INTO tasks (id, context_id, owner, state, state_timestamp, history)
             VALUES ($1, $2, $3, $4, now(), $5)
             ON CONFLICT (id) DO NOTHING RETURNING {TASK_COLUMNS}"
        ))
        .await
        .map_err(in_transaction)?;
    // Twice at most: if a concurrent submit creates the task between our look and our insert,
    // the insert does nothing and the second look finds (and locks) the committed row.
    for _ in 0..2 {
        if let Some(row) = tx.query_opt(&lock, &[&task_id.0]).await.map_err(in_transaction)? {
            let mut task = codec::task(&row)?;
            if task.admit(codec::owner(&row)?.as_deref(), context_id, message, owner)? == Admission::Duplicate
            {
                return Ok(Submission { task, outcome: SubmitOutcome::Duplicate });
            }
            let before = task.history.len();
            task.continue_with(message.clone());
            let appended = Json(&task.history[before..]);
            let state = task.status.state.as_str();
            let row =
                tx.query_one(&append, &[&task_id.0, &appended, &state]).await.map_err(in_transaction)?;
            let task = codec::task(&row)?;
            tx.commit().await.map_err(committing)?;
            return Ok(Submission { task, outcome: SubmitOutcome::Continued });
        }
        tx.execute(&new_context, &[&context_id.0, &owner]).await.map_err(in_transaction)?;
        let stored_owner: Option<String> =
            tx.query_one(&context_owner, &[&context_id.0]).await.map_err(in_transaction)?.get(0);
        if stored_owner.as_deref() != owner {
            return Err(Error::ownership(Entity::Context, context_id));
        }
        let state = fresh.status.state.as_str();
        let inserted = tx
            .query_opt(&new_task, &[&task_id.0, &context_id.0, &owner, &state, &Json(&fresh.history)])
            .await
            .map_err(in_transaction)?;
        if let Some(row) = inserted {
            let task = codec::task(&row)?;
            tx.commit().await.map_err(committing)?;
            return Ok(Submission { task, outcome: SubmitOutcome::Created });
        }
    }
    // Created and deleted again between our two looks: nothing was written; try again.
    Err(Error::Backend(BackendError::new(
        "postgres",
        Transience::Transient,
        "submit_task: the task was deleted while being submitted",
    )))
}

pub(crate) async fn update_task(client: &mut Object, task_id: TaskId, update: &TaskUpdate) -> Result<Task> {
    let tx = client.transaction().await.map_err(in_transaction)?;
    let lock = tx
        .prepare_cached(&format!(
            "SELECT {TASK_COLUMNS}, {CLAIM_COLUMNS} FROM tasks WHERE id = $1 FOR UPDATE"
        ))
        .await
        .map_err(in_transaction)?;
    let Some(row) = tx.query_opt(&lock, &[&task_id.0]).await.map_err(in_transaction)? else {
        return Err(Error::not_found(Entity::Task, task_id));
    };
    let mut task = codec::task(&row)?;
    if !update.check(&task, codec::claim(&row)?.as_ref())? {
        return Ok(task);
    }
    // Apply in memory to learn exactly what is new (ids already stored are skipped), then send
    // only that: appends, not whole documents.
    let (messages_before, artifacts_before) = (task.history.len(), task.artifacts.len());
    task.apply(update);
    let statement = tx
        .prepare_cached(&format!(
            "UPDATE tasks SET state = $2, state_timestamp = now(), history = history || $3,
                              artifacts = artifacts || $4, metadata = metadata || $5, updated_at = now(),
                              claim_token = CASE WHEN $6 THEN claim_token END,
                              claim_run = CASE WHEN $6 THEN claim_run END,
                              lease_until = CASE WHEN $6 THEN lease_until END
             WHERE id = $1 RETURNING {TASK_COLUMNS}"
        ))
        .await
        .map_err(in_transaction)?;
    let row = tx
        .query_one(
            &statement,
            &[
                &task_id.0,
                &update.state.as_str(),
                &Json(&task.history[messages_before..]),
                &Json(&task.artifacts[artifacts_before..]),
                &Json(&update.metadata),
                &Claim::survives(update.state),
            ],
        )
        .await
        .map_err(in_transaction)?;
    let stored = codec::task(&row)?;
    tx.commit().await.map_err(committing)?;
    Ok(stored)
}

pub(crate) async fn update_task_state_if(
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
            .map_err(committing)?
            .map(|row| row.get(0));
        return match state {
            Some(state) if state == from.as_str() => Err(Error::TaskImmutable { task_id, state: from }),
            _ => Ok(false),
        };
    }
    let statement = client
        .prepare_cached(
            "UPDATE tasks SET state = $3, state_timestamp = now(), updated_at = now(),
                              claim_token = CASE WHEN $4 THEN claim_token END,
                              claim_run = CASE WHEN $4 THEN claim_run END,
                              lease_until = CASE WHEN $4 THEN lease_until END
             WHERE id = $1 AND state = $2",
        )
        .await
        .map_err(in_transaction)?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
        [&task_id.0, &from.as_str(), &to.as_str(), &Claim::survives(to)];
    let changed = client.execute(&statement, &params).await.map_err(committing)?;
    Ok(changed == 1)
}

pub(crate) async fn get_task_owner(client: &Object, task_id: TaskId) -> Result<Option<String>> {
    match client
        .query_opt("SELECT owner FROM tasks WHERE id = $1", &[&task_id.0])
        .await
        .map_err(committing)?
    {
        Some(row) => codec::owner(&row),
        None => Err(Error::not_found(Entity::Task, task_id)),
    }
}
