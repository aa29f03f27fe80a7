//! Task reads and writes: load, submit, update, compare-and-swap, owner.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deadpool_redis::redis::{self, AsyncCommands};

use super::RedisStorage;
use super::codec::{StoredContext, StoredTask, claim_from, decode};
use super::tx::{MAX_CONFLICTS, abandon, contention, exec, get, read_error, time_of};
use crate::error::{Entity, Error, Result};
use crate::model::{
    Admission, Claim, ContextId, Message, Metadata, Submission, SubmitOutcome, Task, TaskId, TaskState,
    TaskStatus, TaskUpdate,
};
use crate::redis::pool::PooledConnection;

/// A task as a write reads it under `WATCH`: the stored task (if any), its claim, and the
/// server's clock.
pub(super) struct Current {
    pub(super) stored: Option<StoredTask>,
    pub(super) claim: Option<Claim>,
    pub(super) now: DateTime<Utc>,
}

impl RedisStorage {
    pub(super) async fn load_stored(
        &self,
        conn: &mut PooledConnection,
        task_id: TaskId,
    ) -> Result<Option<StoredTask>> {
        get(conn, &self.keys.task(task_id)).await?.map(|text| decode("stored task", &text)).transpose()
    }

    /// `WATCH`es the task and its claim, and reads both and the server's time, in one round trip
    /// (the server runs a pipeline's commands in order, so the reads come after the `WATCH`).
    pub(super) async fn watch_current(
        &self,
        conn: &mut PooledConnection,
        task_id: TaskId,
    ) -> Result<Current> {
        let (task_key, claim_key) = (self.keys.task(task_id), self.keys.claim(task_id));
        let (text, fields, time): (Option<String>, HashMap<String, String>, (i64, i64)) = redis::pipe()
            .cmd("WATCH")
            .arg(&task_key)
            .arg(&claim_key)
            .ignore()
            .get(&task_key)
            .hgetall(&claim_key)
            .cmd("TIME")
            .query_async(conn)
            .await
            .map_err(|e| read_error("read a task", e))?;
        Ok(Current {
            stored: text.map(|text| decode("stored task", &text)).transpose()?,
            claim: claim_from(&fields)?,
            now: time_of(time)?,
        })
    }

    pub(super) async fn next_sequence(&self, conn: &mut PooledConnection) -> Result<u64> {
        conn.incr(self.keys.sequence(), 1).await.map_err(|e| read_error("next sequence", e))
    }

    pub(super) async fn load_task(
        &self,
        task_id: TaskId,
        history_length: Option<usize>,
    ) -> Result<Option<Task>> {
        let mut conn = self.connection().await?;
        Ok(self.load_stored(&mut conn, task_id).await?.map(|stored| {
            let mut task = stored.task;
            task.truncate_history(history_length);
            task
        }))
    }

    pub(super) async fn submit_task(
        &self,
        context_id: ContextId,
        message: &Message,
        owner: Option<&str>,
    ) -> Result<Submission> {
        let (task_id, message) = message.stamped_for_submit(context_id)?;
        let mut conn = self.connection().await?;
        let (task_key, context_key) = (self.keys.task(task_id), self.keys.context(context_id));
        for _ in 0..MAX_CONFLICTS {
            // WATCH, both reads and the sequence number in one round trip. Sequence numbers are
            // taken inside WATCH (INCR touches no watched key); one a continuation or a retry
            // does not use is a gap in an ordering, nothing more.
            let (task, context, seq): (Option<String>, Option<String>, u64) = redis::pipe()
                .cmd("WATCH")
                .arg(&task_key)
                .arg(&context_key)
                .ignore()
                .get(&task_key)
                .get(&context_key)
                .incr(self.keys.sequence(), 1)
                .query_async(&mut conn)
                .await
                .map_err(|e| read_error("submit_task", e))?;
            if let Some(mut stored) =
                task.map(|text| decode::<StoredTask>("stored task", &text)).transpose()?
            {
                match stored.task.admit(stored.owner.as_deref(), context_id, &message, owner) {
                    Err(err) => return abandon(&mut conn, Err(err)).await,
                    Ok(Admission::Duplicate) => {
                        let duplicate = Submission { task: stored.task, outcome: SubmitOutcome::Duplicate };
                        return abandon(&mut conn, Ok(duplicate)).await;
                    }
                    Ok(Admission::Append) => {}
                }
                let before = stored.task.status.state;
                stored.task.continue_with(message.clone());
                let mut pipe = redis::pipe();
                // A continuation drops the claim: the running agent's answer is for the old history.
                self.queue_task(&mut pipe, &stored, Some(before), None)?;
                if exec(&mut conn, &mut pipe, "submit_task").await? {
                    return Ok(Submission { task: stored.task, outcome: SubmitOutcome::Continued });
                }
                continue;
            }
            let context: Option<StoredContext> =
                context.map(|text| decode("stored context", &text)).transpose()?;
            if let Some(context) = &context
                && context.owner.as_deref() != owner
            {
                return abandon(&mut conn, Err(Error::ownership(Entity::Context, context_id))).await;
            }
            let task = Task::submitted(task_id, context_id, message.clone());
            let stored = StoredTask { task, owner: owner.map(str::to_owned), seq };
            let mut pipe = redis::pipe();
            if context.is_none() {
                let created = StoredContext {
                    owner: owner.map(str::to_owned),
                    seq,
                    data: Metadata::new(),
                    messages: Vec::new(),
                };
                self.add_context(&mut pipe, context_id, &created)?;
            }
            self.queue_task(&mut pipe, &stored, None, None)?;
            pipe.zadd(self.keys.tasks(), task_id.to_string(), seq).ignore();
            if let Some(owner) = owner {
                pipe.zadd(self.keys.owner_tasks(owner), task_id.to_string(), seq).ignore();
            }
            pipe.zadd(self.keys.context_tasks(context_id), task_id.to_string(), seq).ignore();
            if exec(&mut conn, &mut pipe, "submit_task").await? {
                return Ok(Submission { task: stored.task, outcome: SubmitOutcome::Created });
            }
        }
        Err(contention("submit_task"))
    }

    pub(super) async fn update_task(&self, task_id: TaskId, update: &TaskUpdate) -> Result<Task> {
        let mut conn = self.connection().await?;
        for _ in 0..MAX_CONFLICTS {
            // The claim is watched too: a write that keeps it must not undo a renewal.
            let Current { stored, claim, .. } = self.watch_current(&mut conn, task_id).await?;
            let Some(mut stored) = stored else {
                return abandon(&mut conn, Err(Error::not_found(Entity::Task, task_id))).await;
            };
            match update.check(&stored.task, claim.as_ref()) {
                Err(err) => return abandon(&mut conn, Err(err)).await,
                Ok(false) => return abandon(&mut conn, Ok(stored.task)).await,
                Ok(true) => {}
            }
            let before = stored.task.status.state;
            stored.task.apply(update);
            let mut pipe = redis::pipe();
            self.queue_task(&mut pipe, &stored, Some(before), claim.as_ref())?;
            if exec(&mut conn, &mut pipe, "update_task").await? {
                return Ok(stored.task);
            }
        }
        Err(contention("update_task"))
    }

    pub(super) async fn update_task_state_if(
        &self,
        task_id: TaskId,
        from: TaskState,
        to: TaskState,
    ) -> Result<bool> {
        let mut conn = self.connection().await?;
        for _ in 0..MAX_CONFLICTS {
            let Current { stored, claim, .. } = self.watch_current(&mut conn, task_id).await?;
            let Some(mut stored) = stored.filter(|s| s.task.status.state == from) else {
                return abandon(&mut conn, Ok(false)).await;
            };
            if from.is_terminal() {
                return abandon(&mut conn, Err(Error::TaskImmutable { task_id, state: from })).await;
            }
            stored.task.status = TaskStatus::now(to);
            let mut pipe = redis::pipe();
            self.queue_task(&mut pipe, &stored, Some(from), claim.as_ref())?;
            if exec(&mut conn, &mut pipe, "update_task_state_if").await? {
                return Ok(true);
            }
        }
        Err(contention("update_task_state_if"))
    }

    pub(super) async fn get_task_owner(&self, task_id: TaskId) -> Result<Option<String>> {
        let mut conn = self.connection().await?;
        match self.load_stored(&mut conn, task_id).await? {
            Some(stored) => Ok(stored.owner),
            None => Err(Error::not_found(Entity::Task, task_id)),
        }
    }
}
