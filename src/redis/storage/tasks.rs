//! Task reads and writes: load, submit, update, compare-and-swap, owner.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deadpool_redis::redis::{self, AsyncCommands, Value};

use super::RedisStorage;
use super::codec::{StoredContext, StoredTask, claim_from, decode};
use super::conversation::{Extent, Window, next};
use super::tx::{MAX_CONFLICTS, abandon, contention, exec, get, read_error, time_of};
use crate::error::{Entity, Error, Result};
use crate::model::{
    Admission, Claim, ContextId, Message, MessageId, Metadata, Submission, SubmitOutcome, Task, TaskId,
    TaskState, TaskStatus, TaskUpdate,
};
use crate::redis::pool::PooledConnection;

/// A task as a write reads it under `WATCH`: the stored task (if any; with the part of its
/// conversation the write asked for), its claim, and the server's clock.
pub(super) struct Current {
    pub(super) stored: Option<StoredTask>,
    pub(super) claim: Option<Claim>,
    pub(super) now: DateTime<Utc>,
    /// How much of the conversation `stored` holds.
    pub(super) extent: Extent,
}

impl RedisStorage {
    pub(super) async fn load_stored(
        &self,
        conn: &mut PooledConnection,
        task_id: TaskId,
    ) -> Result<Option<StoredTask>> {
        get(conn, &self.keys.task(task_id)).await?.map(|text| decode("stored task", &text)).transpose()
    }

    /// `WATCH`es the task and its claim, and reads both, the server's time and (unless
    /// `conversation` is `None`) the messages of the window and those named, in one round trip
    /// (the server runs a pipeline's commands in order, so the reads come after the `WATCH`).
    /// Every write of the conversation also writes the head, so watching the head covers it.
    pub(super) async fn watch_current(
        &self,
        conn: &mut PooledConnection,
        task_id: TaskId,
        conversation: Option<(Window, &[MessageId])>,
    ) -> Result<Current> {
        let (task_key, claim_key) = (self.keys.task(task_id), self.keys.claim(task_id));
        let mut pipe = redis::pipe();
        pipe.cmd("WATCH").arg(&task_key).arg(&claim_key).ignore();
        pipe.get(&task_key).hgetall(&claim_key).cmd("TIME");
        if let Some((window, named)) = conversation {
            self.queue_read(&mut pipe, task_id, window, named);
        }
        let replies: Vec<Value> = pipe.query_async(conn).await.map_err(|e| read_error("read a task", e))?;
        let mut replies = replies.into_iter();
        let text: Option<String> = next(&mut replies, "read a task")?;
        let fields: HashMap<String, String> = next(&mut replies, "read a claim")?;
        let now = time_of(next(&mut replies, "read the server's clock")?)?;
        let mut stored: Option<StoredTask> = text.map(|text| decode("stored task", &text)).transpose()?;
        let mut extent = Extent::default();
        if let (Some(stored), Some((_, named))) = (&mut stored, conversation) {
            extent = self.assemble(conn, &mut stored.task, &mut replies, named).await?;
        }
        Ok(Current { stored, claim: claim_from(&fields)?, now, extent })
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
        let mut pipe = redis::pipe();
        // MULTI/EXEC: the head and the conversation as of one moment.
        pipe.atomic().get(self.keys.task(task_id));
        self.queue_read(&mut pipe, task_id, Window::of(history_length), &[]);
        let replies: Vec<Value> =
            pipe.query_async(&mut conn).await.map_err(|e| read_error("load_task", e))?;
        let mut replies = replies.into_iter();
        let Some(text) = next::<Option<String>>(&mut replies, "load_task")? else { return Ok(None) };
        let mut task = decode::<StoredTask>("stored task", &text)?.task;
        self.assemble(&mut conn, &mut task, &mut replies, &[]).await?;
        Ok(Some(task))
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
            // With a continuation's reads: the last message (what it returns) and the position
            // of the submitted one (a duplicate?).
            let named = [message.message_id];
            let mut pipe = redis::pipe();
            pipe.cmd("WATCH").arg(&task_key).arg(&context_key).ignore();
            pipe.get(&task_key).get(&context_key).incr(self.keys.sequence(), 1);
            self.queue_read(&mut pipe, task_id, Window::Last(1), &named);
            let replies: Vec<Value> =
                pipe.query_async(&mut conn).await.map_err(|e| read_error("submit_task", e))?;
            let mut replies = replies.into_iter();
            let task: Option<String> = next(&mut replies, "submit_task")?;
            let context: Option<String> = next(&mut replies, "submit_task")?;
            let seq: u64 = next(&mut replies, "submit_task")?;
            if let Some(mut stored) =
                task.map(|text| decode::<StoredTask>("stored task", &text)).transpose()?
            {
                let extent = self.assemble(&mut conn, &mut stored.task, &mut replies, &named).await?;
                match stored.task.admit(stored.owner.as_deref(), context_id, &message, owner) {
                    Err(err) => return abandon(&mut conn, Err(err)).await,
                    Ok(Admission::Duplicate) => {
                        stored.task.truncate_history(Some(1));
                        let duplicate = Submission { task: stored.task, outcome: SubmitOutcome::Duplicate };
                        return abandon(&mut conn, Ok(duplicate)).await;
                    }
                    Ok(Admission::Append) => {}
                }
                let before = stored.task.status.state;
                stored.task.continue_with(message.clone());
                let mut pipe = redis::pipe();
                // A continuation drops the claim: the running agent's answer is for the old history.
                self.queue_task(&mut pipe, &stored, extent, Some(before), None)?;
                if exec(&mut conn, &mut pipe, "submit_task").await? {
                    stored.task.truncate_history(Some(1));
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
            self.queue_task(&mut pipe, &stored, Extent::default(), None, None)?;
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
        let keep = update.returned_history();
        let named: Vec<MessageId> = update.messages.iter().map(|m| m.message_id).collect();
        for _ in 0..MAX_CONFLICTS {
            // The claim is watched too: a write that keeps it must not undo a renewal. Of the
            // history: what the update returns, and the messages it names (the check and `apply`
            // test their ids only).
            let conversation = (Window::Last(keep), named.as_slice());
            let Current { stored, claim, extent, .. } =
                self.watch_current(&mut conn, task_id, Some(conversation)).await?;
            let Some(mut stored) = stored else {
                return abandon(&mut conn, Err(Error::not_found(Entity::Task, task_id))).await;
            };
            match update.check(&stored.task, claim.as_ref()) {
                Err(err) => return abandon(&mut conn, Err(err)).await,
                Ok(false) => {
                    stored.task.truncate_history(Some(keep));
                    return abandon(&mut conn, Ok(stored.task)).await;
                }
                Ok(true) => {}
            }
            let before = stored.task.status.state;
            stored.task.apply(update);
            let mut pipe = redis::pipe();
            self.queue_task(&mut pipe, &stored, extent, Some(before), claim.as_ref())?;
            if exec(&mut conn, &mut pipe, "update_task").await? {
                stored.task.truncate_history(Some(keep));
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
            // The state alone: no history, no artifacts.
            let Current { stored, claim, .. } = self.watch_current(&mut conn, task_id, None).await?;
            let Some(mut stored) = stored.filter(|s| s.task.status.state == from) else {
                return abandon(&mut conn, Ok(false)).await;
            };
            if from.is_terminal() {
                return abandon(&mut conn, Err(Error::TaskImmutable { task_id, state: from })).await;
            }
            stored.task.status = TaskStatus::now(to);
            let mut pipe = redis::pipe();
            self.queue_task(&mut pipe, &stored, Extent::default(), Some(from), claim.as_ref())?;
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
