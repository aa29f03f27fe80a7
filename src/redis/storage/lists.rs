//! Lists and counts, read from the sorted-set indexes. A record that cannot be read is skipped
//! (and logged): one broken value must not break every listing.

use std::str::FromStr;

use deadpool_redis::redis::{self, AsyncCommands};

use super::RedisStorage;
use super::codec::{StoredTask, decode};
use super::tx::read_error;
use crate::error::Result;
use crate::model::{ContextId, ContextSummary, Page, Task, TaskId, TaskState};
use crate::redis::pool::PooledConnection;

/// `ZRANGE` bounds for a page (`-1` = to the end).
fn bounds(page: Page) -> Option<(isize, isize)> {
    let start = isize::try_from(page.offset).ok()?;
    match page.limit {
        Some(0) => None,
        Some(limit) => Some((start, start.saturating_add(isize::try_from(limit).ok()?).saturating_sub(1))),
        None => Some((start, -1)),
    }
}

/// The ids of an index that parse, logging the others.
fn parse<Id: FromStr>(ids: &[String], what: &str) -> Vec<Id> {
    ids.iter()
        .filter_map(|id| match id.parse() {
            Ok(id) => Some(id),
            Err(_) => {
                tracing::warn!(index = what, id = %id, "skipping an index entry that is not an id");
                None
            }
        })
        .collect()
}

/// The task, or `None` after logging why it cannot be read.
pub(super) fn readable(id: &str, read: Result<StoredTask>) -> Option<StoredTask> {
    match read {
        Ok(stored) => Some(stored),
        Err(err) => {
            tracing::warn!(task = %id, error = %err, "skipping a task that cannot be read");
            None
        }
    }
}

pub(super) fn parse_ids(ids: &[String]) -> Vec<TaskId> {
    parse(ids, "task ids")
}

impl RedisStorage {
    /// The members of the sorted set `key` within `page`.
    pub(super) async fn ids(
        &self,
        conn: &mut PooledConnection,
        key: &str,
        page: Page,
    ) -> Result<Vec<String>> {
        let Some((start, stop)) = bounds(page) else { return Ok(Vec::new()) };
        conn.zrange(key, start, stop).await.map_err(|e| read_error("list", e))
    }

    /// The heads of `ids` (tasks without their conversation), in that order, each decoded or
    /// not; those deleted meanwhile are left out.
    pub(super) async fn read_heads<'i>(
        &self,
        conn: &mut PooledConnection,
        ids: &'i [String],
    ) -> Result<Vec<(&'i str, Result<StoredTask>)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.keys.task(id)).collect();
        let values: Vec<Option<String>> =
            redis::cmd("MGET").arg(&keys).query_async(conn).await.map_err(|e| read_error("list", e))?;
        Ok(ids
            .iter()
            .zip(values)
            .filter_map(|(id, text)| Some((id.as_str(), decode::<StoredTask>("stored task", &text?))))
            .collect())
    }

    /// The whole tasks of `ids`, in that order, skipping any deleted meanwhile or unreadable.
    pub(super) async fn tasks_of(
        &self,
        conn: &mut PooledConnection,
        ids: &[String],
    ) -> Result<Vec<StoredTask>> {
        Ok(self
            .read_tasks(conn, ids)
            .await?
            .into_iter()
            .filter_map(|(id, read)| readable(id, read))
            .collect())
    }

    pub(super) async fn list_tasks(&self, page: Page, owner: Option<&str>) -> Result<Vec<Task>> {
        let mut conn = self.connection().await?;
        let index = owner.map_or_else(|| self.keys.tasks(), |owner| self.keys.owner_tasks(owner));
        let ids = self.ids(&mut conn, &index, page).await?;
        Ok(self.tasks_of(&mut conn, &ids).await?.into_iter().map(|s| s.task).collect())
    }

    pub(super) async fn list_tasks_by_context(
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

    pub(super) async fn list_contexts(&self, page: Page, owner: Option<&str>) -> Result<Vec<ContextSummary>> {
        let mut conn = self.connection().await?;
        let index = owner.map_or_else(|| self.keys.contexts(), |owner| self.keys.owner_contexts(owner));
        let ids = self.ids(&mut conn, &index, page).await?;
        let mut summaries = Vec::with_capacity(ids.len());
        for id in parse::<ContextId>(&ids, "context ids") {
            let task_ids = parse_ids(&self.ids(&mut conn, &self.keys.context_tasks(id), Page::ALL).await?);
            summaries.push(ContextSummary { context_id: id, task_count: task_ids.len() as u64, task_ids });
        }
        Ok(summaries)
    }

    pub(super) async fn count_tasks(&self, state: Option<TaskState>) -> Result<u64> {
        let mut conn = self.connection().await?;
        match state {
            None => conn.zcard(self.keys.tasks()).await,
            Some(state) => conn.scard(self.keys.state(state)).await,
        }
        .map_err(|e| read_error("count_tasks", e))
    }
}
