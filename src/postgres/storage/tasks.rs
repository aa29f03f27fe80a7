//! Task queries: load, submit, update, compare-and-swap, owner. Writes lock the row
//! (`FOR UPDATE`) inside one transaction and decide with the shared model rules (`Task::admit`,
//! `TaskUpdate::check`, `Claim::survives`), so that they are atomic and behave exactly like every
//! other backend. Timestamps are the server's `now()`.
//!
//! Messages and artifacts are rows keyed by (task, position) (migration 0005): a write reads, of
//! the conversation, only the records whose ids it names and the few it returns, and appends rows;
//! nothing it costs grows with the conversation.

use deadpool_postgres::{GenericClient, Object, Transaction};
use tokio_postgres::types::{Json, ToSql};

use super::codec::{self, CLAIM_COLUMNS};
use crate::error::{BackendError, Entity, Error, Result, Transience};
use crate::model::{
    Admission, Artifact, Claim, ContextId, Message, Metadata, Submission, SubmitOutcome, Task, TaskId,
    TaskState, TaskUpdate,
};
use crate::postgres::error::{committing, in_transaction};

pub(crate) async fn load_task(
    client: &Object,
    task_id: TaskId,
    history_length: Option<usize>,
) -> Result<Option<Task>> {
    let row = match history_length.filter(|&n| n > 0) {
        Some(last) => {
            let sql = format!("SELECT {} FROM tasks WHERE id = $1", codec::task_columns_last("$2::bigint"));
            let statement = client.prepare_cached(&sql).await.map_err(in_transaction)?;
            let last = i64::try_from(last).unwrap_or(i64::MAX);
            client.query_opt(&statement, &[&task_id.0, &last]).await
        }
        None => {
            let sql = format!("SELECT {} FROM tasks WHERE id = $1", codec::task_columns());
            let statement = client.prepare_cached(&sql).await.map_err(in_transaction)?;
            client.query_opt(&statement, &[&task_id.0]).await
        }
    }
    .map_err(committing)?;
    row.as_ref().map(codec::task).transpose()
}

/// The locking read a write decides on: the task (`FOR UPDATE`) with, as its history, the stored
/// messages among `messages` and the last `last`, every artifact, and the next positions.
struct View {
    task: Task,
    owner: Option<String>,
    claim: Option<Claim>,
    /// The next positions (past any gap an old duplicate left, see migration 0005).
    message_count: i32,
    artifact_count: i32,
    /// How many artifacts `task` held as read: the model's appends come after them.
    artifacts_read: usize,
}

async fn lock_view(
    tx: &Transaction<'_>,
    task_id: TaskId,
    messages: &[Message],
    last: usize,
) -> Result<Option<View>> {
    let statement = tx
        .prepare_cached(&format!(
            "SELECT {}, {CLAIM_COLUMNS} FROM tasks WHERE id = $1 FOR UPDATE",
            codec::view_columns("$2::uuid[]", "$3::integer")
        ))
        .await
        .map_err(in_transaction)?;
    let ids: Vec<uuid::Uuid> = messages.iter().map(|m| m.message_id.0).collect();
    let last = i32::try_from(last).unwrap_or(i32::MAX);
    let Some(row) = tx.query_opt(&statement, &[&task_id.0, &ids, &last]).await.map_err(in_transaction)?
    else {
        return Ok(None);
    };
    let task = codec::task(&row)?;
    Ok(Some(View {
        artifacts_read: task.artifacts.len(),
        task,
        owner: codec::owner(&row)?,
        claim: codec::claim(&row)?,
        message_count: codec::get(&row, "message_count")?,
        artifact_count: codec::get(&row, "artifact_count")?,
    }))
}

impl View {
    /// Writes what the model rules did to the task since [`lock_view`] read it: the state (with
    /// the server's `now()`), the metadata merge, the claim if it does not survive the state, and
    /// the messages and artifacts appended after the first `found` messages and the artifacts
    /// read — as rows at the next positions, in one statement. Returns the task as stored,
    /// holding its last `last` messages.
    async fn write(
        mut self,
        tx: &Transaction<'_>,
        found: usize,
        merge: &Metadata,
        last: usize,
    ) -> Result<Task> {
        let statement = tx
            .prepare_cached(
                "WITH head AS (
                     UPDATE tasks SET state = $2, state_timestamp = now(), metadata = metadata || $3,
                                      updated_at = now(),
                                      claim_token = CASE WHEN $4 THEN claim_token END,
                                      claim_run = CASE WHEN $4 THEN claim_run END,
                                      lease_until = CASE WHEN $4 THEN lease_until END,
                                      message_count = $5 + cardinality($6::uuid[]),
                                      artifact_count = $8 + cardinality($9::uuid[])
                     WHERE id = $1 RETURNING state_timestamp, metadata),
                 messages AS (
                     INSERT INTO task_messages (task_id, position, message_id, body)
                     SELECT $1, $5 + (n - 1)::integer, id, body
                     FROM unnest($6::uuid[], $7::jsonb[]) WITH ORDINALITY AS x (id, body, n)),
                 artifacts AS (
                     INSERT INTO task_artifacts (task_id, position, artifact_id, body)
                     SELECT $1, $8 + (n - 1)::integer, id, body
                     FROM unnest($9::uuid[], $10::jsonb[]) WITH ORDINALITY AS x (id, body, n))
                 SELECT state_timestamp, metadata FROM head",
            )
            .await
            .map_err(in_transaction)?;
        let task = &mut self.task;
        let new_messages = &task.history[found..];
        let new_artifacts = &task.artifacts[self.artifacts_read..];
        let message_ids: Vec<uuid::Uuid> = new_messages.iter().map(|m| m.message_id.0).collect();
        let messages: Vec<Json<&Message>> = new_messages.iter().map(Json).collect();
        let artifact_ids: Vec<uuid::Uuid> = new_artifacts.iter().map(|a| a.artifact_id.0).collect();
        let artifacts: Vec<Json<&Artifact>> = new_artifacts.iter().map(Json).collect();
        let params: [&(dyn ToSql + Sync); 10] = [
            &task.id.0,
            &task.status.state.as_str(),
            &Json(merge),
            &Claim::survives(task.status.state),
            &self.message_count,
            &message_ids,
            &messages,
            &self.artifact_count,
            &artifact_ids,
            &artifacts,
        ];
        let row = tx.query_one(&statement, &params).await.map_err(in_transaction)?;
        task.status.timestamp = codec::get(&row, "state_timestamp")?;
        task.metadata = codec::json(&row, "metadata")?;
        task.truncate_history(Some(last));
        Ok(self.task)
    }
}

pub(crate) async fn submit_task(
    client: &mut Object,
    context_id: ContextId,
    message: &Message,
    owner: Option<&str>,
) -> Result<Submission> {
    let tx = client.transaction().await.map_err(in_transaction)?;
    let submission = submit_in(&tx, context_id, message, owner).await?;
    // A duplicate wrote nothing: dropping the transaction rolls it back without a round trip.
    if submission.outcome != SubmitOutcome::Duplicate {
        tx.commit().await.map_err(committing)?;
    }
    Ok(submission)
}

/// [`submit_task`] inside `tx`, which the caller commits: e.g. with the run it schedules
/// ([`PostgresPipeline`](crate::postgres::PostgresPipeline)).
pub(crate) async fn submit_in(
    tx: &Transaction<'_>,
    context_id: ContextId,
    message: &Message,
    owner: Option<&str>,
) -> Result<Submission> {
    let (task_id, message) = message.stamped_for_submit(context_id)?;
    // Every statement is prepared once per connection: one round trip each after that.
    let new_context = tx
        .prepare_cached("INSERT INTO contexts (id, owner) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING")
        .await
        .map_err(in_transaction)?;
    let context_owner = tx
        .prepare_cached("SELECT owner FROM contexts WHERE id = $1 FOR SHARE")
        .await
        .map_err(in_transaction)?;
    // The task and its first message in one statement: the message is written only if the task
    // is (the foreign key is checked at the statement's end).
    let new_task = tx
        .prepare_cached(
            "WITH task AS (
                 INSERT INTO tasks (id, context_id, owner, state, state_timestamp, message_count)
                 VALUES ($1, $2, $3, $4, now(), 1)
                 ON CONFLICT (id) DO NOTHING RETURNING id, state_timestamp),
             message AS (
                 INSERT INTO task_messages (task_id, position, message_id, body)
                 SELECT id, 0, $5, $6 FROM task)
             SELECT state_timestamp FROM task",
        )
        .await
        .map_err(in_transaction)?;
    let messages = std::slice::from_ref(&message);
    // Twice at most: if a concurrent submit creates the task between our look and our insert,
    // the insert does nothing and the second look finds (and locks) the committed row.
    for _ in 0..2 {
        if let Some(mut view) = lock_view(tx, task_id, messages, 1).await? {
            let admission = view.task.admit(view.owner.as_deref(), context_id, &message, owner)?;
            if admission == Admission::Duplicate {
                let mut task = view.task;
                task.truncate_history(Some(1));
                return Ok(Submission { task, outcome: SubmitOutcome::Duplicate });
            }
            let found = view.task.history.len();
            view.task.continue_with(message);
            // A continuation goes back to `submitted`, which no claim survives.
            let task = view.write(tx, found, &Metadata::new(), 1).await?;
            return Ok(Submission { task, outcome: SubmitOutcome::Continued });
        }
        tx.execute(&new_context, &[&context_id.0, &owner]).await.map_err(in_transaction)?;
        let stored_owner: Option<String> =
            tx.query_one(&context_owner, &[&context_id.0]).await.map_err(in_transaction)?.get(0);
        if stored_owner.as_deref() != owner {
            return Err(Error::ownership(Entity::Context, context_id));
        }
        let state = TaskState::Submitted.as_str();
        let params: [&(dyn ToSql + Sync); 6] =
            [&task_id.0, &context_id.0, &owner, &state, &message.message_id.0, &Json(&message)];
        if let Some(row) = tx.query_opt(&new_task, &params).await.map_err(in_transaction)? {
            let mut task = Task::submitted(task_id, context_id, message);
            task.status.timestamp = codec::get(&row, "state_timestamp")?;
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
    let task = update_in(&tx, task_id, update).await?;
    tx.commit().await.map_err(committing)?;
    Ok(task)
}

/// [`update_task`] inside `tx`, which the caller commits: e.g. with the acknowledgement of the
/// run whose result it stores ([`PostgresPipeline`](crate::postgres::PostgresPipeline)).
pub(crate) async fn update_in(tx: &Transaction<'_>, task_id: TaskId, update: &TaskUpdate) -> Result<Task> {
    let last = update.returned_history();
    let Some(mut view) = lock_view(tx, task_id, &update.messages, last).await? else {
        return Err(Error::not_found(Entity::Task, task_id));
    };
    if !update.check(&view.task, view.claim.as_ref())? {
        view.task.truncate_history(Some(last));
        return Ok(view.task);
    }
    // Apply in memory to learn exactly what is new (ids already stored are skipped), then send
    // only that: rows appended, never the conversation rewritten.
    let found = view.task.history.len();
    view.task.apply(update);
    view.write(tx, found, &update.metadata, last).await
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
