//! Task operations: submit, load, update, compare-and-swap.

use deadpool_redis::Connection;
use deadpool_redis::redis::{self, AsyncCommands};

use super::RedisStorage;
use super::records::{StoredContext, StoredTask, decode, encode};
use super::tx::{MAX_CONFLICTS, contention, exec, get, read_error, unwatch, watch};
use crate::error::{Entity, Error, Result};
use crate::model::{
    ContextId, Message, Metadata, Submission, SubmitOutcome, Task, TaskId, TaskState, TaskStatus, TaskUpdate,
};

impl RedisStorage {
    pub(crate) async fn load_stored(
        &self,
        conn: &mut Connection,
        task_id: TaskId,
    ) -> Result<Option<StoredTask>> {
        get(conn, &self.keys.task(task_id)).await?.map(|text| decode("stored task", &text)).transpose()
    }

    async fn next_sequence(&self, conn: &mut Connection) -> Result<u64> {
        conn.incr(self.keys.sequence(), 1).await.map_err(|e| read_error("next sequence", e))
    }

    pub(crate) async fn load(&self, task_id: TaskId, history_length: Option<usize>) -> Result<Option<Task>> {
        let mut conn = self.connection().await?;
        Ok(self.load_stored(&mut conn, task_id).await?.map(|stored| {
            let mut task = stored.task;
            task.truncate_history(history_length);
            task
        }))
    }

    pub(crate) async fn submit(
        &self,
        context_id: ContextId,
        message: &Message,
        owner: Option<&str>,
    ) -> Result<Submission> {
        let (task_id, message) = message.stamped_for_submit(context_id)?;
        let mut conn = self.connection().await?;
        let (task_key, context_key) = (self.keys.task(task_id), self.keys.context(context_id));
        for _ in 0..MAX_CONFLICTS {
            watch(&mut conn, &[&task_key, &context_key]).await?;
            if let Some(mut stored) = self.load_stored(&mut conn, task_id).await? {
                let refused = if stored.owner.as_deref() != owner || stored.task.context_id != context_id {
                    Some(Error::ownership(Entity::Task, task_id))
                } else if stored.task.has_message(message.message_id) {
                    unwatch(&mut conn).await?;
                    return Ok(Submission { task: stored.task, outcome: SubmitOutcome::Duplicate });
                } else if stored.task.status.state.is_terminal() {
                    Some(Error::TaskImmutable { task_id, state: stored.task.status.state })
                } else {
                    None
                };
                if let Some(err) = refused {
                    unwatch(&mut conn).await?;
                    return Err(err);
                }
                let before = stored.task.status.state;
                stored.task.history.push(message.clone());
                stored.task.status = TaskStatus::now(TaskState::Submitted);
                let mut pipe = redis::pipe();
                pipe.set(&task_key, encode(&stored)?).ignore();
                self.move_state(&mut pipe, task_id, before, TaskState::Submitted);
                if exec(&mut conn, &mut pipe, "submit_task").await? {
                    return Ok(Submission { task: stored.task, outcome: SubmitOutcome::Continued });
                }
                continue;
            }
            let context: Option<StoredContext> = get(&mut conn, &context_key)
                .await?
                .map(|text| decode("stored context", &text))
                .transpose()?;
            if let Some(context) = &context
                && context.owner.as_deref() != owner
            {
                unwatch(&mut conn).await?;
                return Err(Error::ownership(Entity::Context, context_id));
            }
            let task = Task {
                id: task_id,
                context_id,
                status: TaskStatus::now(TaskState::Submitted),
                artifacts: Vec::new(),
                history: vec![message.clone()],
                metadata: Metadata::new(),
            };
            // Sequence numbers are taken inside WATCH: INCR does not touch watched keys.
            let seq = self.next_sequence(&mut conn).await?;
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
            pipe.set(&task_key, encode(&stored)?).ignore();
            pipe.zadd(self.keys.tasks(), task_id.to_string(), seq).ignore();
            if let Some(owner) = owner {
                pipe.zadd(self.keys.owner_tasks(owner), task_id.to_string(), seq).ignore();
            }
            pipe.zadd(self.keys.context_tasks(context_id), task_id.to_string(), seq).ignore();
            pipe.sadd(self.keys.state(TaskState::Submitted), task_id.to_string()).ignore();
            if exec(&mut conn, &mut pipe, "submit_task").await? {
                return Ok(Submission { task: stored.task, outcome: SubmitOutcome::Created });
            }
        }
        Err(contention("submit_task"))
    }

    pub(crate) async fn update(&self, task_id: TaskId, update: &TaskUpdate) -> Result<Task> {
        let mut conn = self.connection().await?;
        let key = self.keys.task(task_id);
        for _ in 0..MAX_CONFLICTS {
            watch(&mut conn, &[&key]).await?;
            let Some(mut stored) = self.load_stored(&mut conn, task_id).await? else {
                unwatch(&mut conn).await?;
                return Err(Error::not_found(Entity::Task, task_id));
            };
            let apply = match update.check(&stored.task) {
                Ok(apply) => apply,
                Err(err) => {
                    unwatch(&mut conn).await?;
                    return Err(err);
                }
            };
            if !apply {
                unwatch(&mut conn).await?;
                return Ok(stored.task);
            }
            let before = stored.task.status.state;
            stored.task.apply(update);
            let mut pipe = redis::pipe();
            pipe.set(&key, encode(&stored)?).ignore();
            self.move_state(&mut pipe, task_id, before, update.state);
            if exec(&mut conn, &mut pipe, "update_task").await? {
                return Ok(stored.task);
            }
        }
        Err(contention("update_task"))
    }

    pub(crate) async fn update_state_if(
        &self,
        task_id: TaskId,
        from: TaskState,
        to: TaskState,
    ) -> Result<bool> {
        let mut conn = self.connection().await?;
        let key = self.keys.task(task_id);
        for _ in 0..MAX_CONFLICTS {
            watch(&mut conn, &[&key]).await?;
            let stored = self.load_stored(&mut conn, task_id).await?;
            let Some(mut stored) = stored.filter(|s| s.task.status.state == from) else {
                unwatch(&mut conn).await?;
                return Ok(false);
            };
            if from.is_terminal() {
                unwatch(&mut conn).await?;
                return Err(Error::TaskImmutable { task_id, state: from });
            }
            stored.task.status = TaskStatus::now(to);
            let mut pipe = redis::pipe();
            pipe.set(&key, encode(&stored)?).ignore();
            self.move_state(&mut pipe, task_id, from, to);
            if exec(&mut conn, &mut pipe, "update_task_state_if").await? {
                return Ok(true);
            }
        }
        Err(contention("update_task_state_if"))
    }

    fn move_state(&self, pipe: &mut redis::Pipeline, task_id: TaskId, from: TaskState, to: TaskState) {
        if from != to {
            pipe.smove(self.keys.state(from), self.keys.state(to), task_id.to_string()).ignore();
        }
    }

    pub(crate) fn add_context(
        &self,
        pipe: &mut redis::Pipeline,
        context_id: ContextId,
        context: &StoredContext,
    ) -> Result<()> {
        pipe.set(self.keys.context(context_id), encode(context)?).ignore();
        pipe.zadd(self.keys.contexts(), context_id.to_string(), context.seq).ignore();
        if let Some(owner) = &context.owner {
            pipe.zadd(self.keys.owner_contexts(owner), context_id.to_string(), context.seq).ignore();
        }
        Ok(())
    }
}
