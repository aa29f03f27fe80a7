//! Contexts and lists: loading, data, message logs, clearing, and the ordered indexes.

use deadpool_redis::Connection;
use deadpool_redis::redis::{self, AsyncCommands};

use super::RedisStorage;
use super::records::{StoredContext, StoredTask, decode, encode};
use super::tx::{MAX_CONFLICTS, contention, exec, get, read_error, unwatch, watch};
use crate::error::{Entity, Error, Result};
use crate::model::{Context, ContextId, ContextSummary, Message, Metadata, Page, Task, TaskId};

/// `ZRANGE` bounds for a page (`-1` = to the end).
fn bounds(page: Page) -> Option<(isize, isize)> {
    let start = isize::try_from(page.offset).ok()?;
    match page.limit {
        Some(0) => None,
        Some(limit) => Some((start, start.saturating_add(isize::try_from(limit).ok()?).saturating_sub(1))),
        None => Some((start, -1)),
    }
}

impl RedisStorage {
    async fn stored_context(
        &self,
        conn: &mut Connection,
        context_id: ContextId,
    ) -> Result<Option<StoredContext>> {
        get(conn, &self.keys.context(context_id))
            .await?
            .map(|text| decode("stored context", &text))
            .transpose()
    }

    async fn ids(&self, conn: &mut Connection, key: &str, page: Page) -> Result<Vec<String>> {
        let Some((start, stop)) = bounds(page) else { return Ok(Vec::new()) };
        conn.zrange(key, start, stop).await.map_err(|e| read_error("list", e))
    }

    /// The stored tasks of `ids`, in that order, skipping any deleted meanwhile.
    async fn tasks_of(&self, conn: &mut Connection, ids: &[String]) -> Result<Vec<StoredTask>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.keys.task_by_text(id)).collect();
        let values: Vec<Option<String>> =
            redis::cmd("MGET").arg(&keys).query_async(conn).await.map_err(|e| read_error("list", e))?;
        values.into_iter().flatten().map(|text| decode("stored task", &text)).collect()
    }

    pub(crate) async fn list(&self, page: Page, owner: Option<&str>) -> Result<Vec<Task>> {
        let mut conn = self.connection().await?;
        let index = owner.map_or_else(|| self.keys.tasks(), |owner| self.keys.owner_tasks(owner));
        let ids = self.ids(&mut conn, &index, page).await?;
        Ok(self.tasks_of(&mut conn, &ids).await?.into_iter().map(|s| s.task).collect())
    }

    pub(crate) async fn list_by_context(
        &self,
        context_id: ContextId,
        page: Page,
        owner: Option<&str>,
    ) -> Result<Vec<Task>> {
        let mut conn = self.connection().await?;
        let ids = self.ids(&mut conn, &self.keys.context_tasks(context_id), Page::ALL).await?;
        let tasks = self.tasks_of(&mut conn, &ids).await?;
        let visible =
            tasks.into_iter().filter(|s| owner.is_none_or(|o| s.owner.as_deref() == Some(o))).map(|s| s.task);
        Ok(page.apply(visible))
    }

    pub(crate) async fn load_context(&self, context_id: ContextId) -> Result<Option<Context>> {
        let mut conn = self.connection().await?;
        let Some(context) = self.stored_context(&mut conn, context_id).await? else { return Ok(None) };
        let task_ids = self.ids(&mut conn, &self.keys.context_tasks(context_id), Page::ALL).await?;
        Ok(Some(Context {
            context_id,
            task_ids: parse_ids(&task_ids)?,
            data: context.data,
            messages: context.messages,
        }))
    }

    /// Changes a context (creating it for `owner` when missing) with `change`, atomically.
    async fn change_context(
        &self,
        context_id: ContextId,
        owner: Option<&str>,
        what: &str,
        change: impl Fn(&mut StoredContext),
    ) -> Result<()> {
        let mut conn = self.connection().await?;
        let key = self.keys.context(context_id);
        for _ in 0..MAX_CONFLICTS {
            watch(&mut conn, &[&key]).await?;
            let existing = self.stored_context(&mut conn, context_id).await?;
            let mut pipe = redis::pipe();
            match existing {
                Some(mut context) => {
                    if context.owner.as_deref() != owner {
                        unwatch(&mut conn).await?;
                        return Err(Error::ownership(Entity::Context, context_id));
                    }
                    change(&mut context);
                    pipe.set(&key, encode(&context)?).ignore();
                }
                None => {
                    let seq: u64 =
                        conn.incr(self.keys.sequence(), 1).await.map_err(|e| read_error(what, e))?;
                    let mut context = StoredContext {
                        owner: owner.map(str::to_owned),
                        seq,
                        data: Metadata::new(),
                        messages: Vec::new(),
                    };
                    change(&mut context);
                    self.add_context(&mut pipe, context_id, &context)?;
                }
            }
            if exec(&mut conn, &mut pipe, what).await? {
                return Ok(());
            }
        }
        Err(contention(what))
    }

    pub(crate) async fn replace_context_data(
        &self,
        context_id: ContextId,
        data: &Metadata,
        owner: Option<&str>,
    ) -> Result<()> {
        self.change_context(context_id, owner, "update_context", |context| context.data = data.clone()).await
    }

    pub(crate) async fn append_context_messages(
        &self,
        context_id: ContextId,
        messages: &[Message],
        owner: Option<&str>,
    ) -> Result<()> {
        self.change_context(context_id, owner, "append_to_context", |context| {
            for message in messages {
                if !context.messages.iter().any(|m| m.message_id == message.message_id) {
                    let mut message = message.clone();
                    message.context_id = Some(context_id);
                    context.messages.push(message);
                }
            }
        })
        .await
    }

    pub(crate) async fn list_contexts(&self, page: Page, owner: Option<&str>) -> Result<Vec<ContextSummary>> {
        let mut conn = self.connection().await?;
        let index = owner.map_or_else(|| self.keys.contexts(), |owner| self.keys.owner_contexts(owner));
        let ids = self.ids(&mut conn, &index, page).await?;
        let mut summaries = Vec::with_capacity(ids.len());
        for id in parse_context_ids(&ids)? {
            let task_ids = parse_ids(&self.ids(&mut conn, &self.keys.context_tasks(id), Page::ALL).await?)?;
            summaries.push(ContextSummary { context_id: id, task_count: task_ids.len() as u64, task_ids });
        }
        Ok(summaries)
    }

    pub(crate) async fn clear_context(&self, context_id: ContextId) -> Result<()> {
        let mut conn = self.connection().await?;
        let (key, members) = (self.keys.context(context_id), self.keys.context_tasks(context_id));
        for _ in 0..MAX_CONFLICTS {
            watch(&mut conn, &[&key, &members]).await?;
            let Some(context) = self.stored_context(&mut conn, context_id).await? else {
                unwatch(&mut conn).await?;
                return Err(Error::not_found(Entity::Context, context_id));
            };
            let ids = self.ids(&mut conn, &members, Page::ALL).await?;
            let tasks = self.tasks_of(&mut conn, &ids).await?;
            let mut pipe = redis::pipe();
            for stored in &tasks {
                self.remove_task(&mut pipe, stored);
            }
            pipe.del(&key).ignore().del(&members).ignore();
            pipe.zrem(self.keys.contexts(), context_id.to_string()).ignore();
            if let Some(owner) = &context.owner {
                pipe.zrem(self.keys.owner_contexts(owner), context_id.to_string()).ignore();
            }
            if exec(&mut conn, &mut pipe, "clear_context").await? {
                return Ok(());
            }
        }
        Err(contention("clear_context"))
    }

    /// Queues the removal of a task with everything hanging off it.
    fn remove_task(&self, pipe: &mut redis::Pipeline, stored: &StoredTask) {
        let id = stored.task.id;
        pipe.del(self.keys.task(id)).ignore();
        pipe.del(self.keys.webhook(id)).ignore().srem(self.keys.webhooks(), id.to_string()).ignore();
        pipe.del(self.keys.feedback(id)).ignore();
        pipe.zrem(self.keys.tasks(), id.to_string()).ignore();
        pipe.srem(self.keys.state(stored.task.status.state), id.to_string()).ignore();
        if let Some(owner) = &stored.owner {
            pipe.zrem(self.keys.owner_tasks(owner), id.to_string()).ignore();
        }
    }
}

fn parse_ids(ids: &[String]) -> Result<Vec<TaskId>> {
    ids.iter()
        .map(|id| {
            id.parse::<TaskId>().map_err(|e| Error::Decode { what: "task index", reason: e.to_string() })
        })
        .collect()
}

fn parse_context_ids(ids: &[String]) -> Result<Vec<ContextId>> {
    ids.iter()
        .map(|id| {
            id.parse::<ContextId>()
                .map_err(|e| Error::Decode { what: "context index", reason: e.to_string() })
        })
        .collect()
}
