//! Listing and counting, ordered by creation (`seq`), windowed by `Page`.

use deadpool_postgres::Object;
use tokio_postgres::types::ToSql;

use super::codec;
use crate::error::Result;
use crate::model::{ContextId, ContextSummary, Page, Task, TaskId, TaskState};
use crate::postgres::error::committing;

/// `LIMIT` and `OFFSET` values: a `NULL` limit means all.
fn window(page: Page) -> (Option<i64>, i64) {
    let clamp = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    (page.limit.map(clamp), clamp(page.offset))
}

pub(crate) async fn list_tasks(client: &Object, page: Page, owner: Option<&str>) -> Result<Vec<Task>> {
    let (limit, offset) = window(page);
    let rows = match owner {
        Some(owner) => {
            let sql = format!(
                "SELECT {} FROM tasks WHERE owner = $1 ORDER BY seq LIMIT $2 OFFSET $3",
                codec::task_columns()
            );
            let statement = client.prepare_cached(&sql).await.map_err(committing)?;
            client.query(&statement, &[&owner, &limit, &offset]).await
        }
        None => {
            let sql = format!("SELECT {} FROM tasks ORDER BY seq LIMIT $1 OFFSET $2", codec::task_columns());
            let statement = client.prepare_cached(&sql).await.map_err(committing)?;
            client.query(&statement, &[&limit, &offset]).await
        }
    }
    .map_err(committing)?;
    rows.iter().map(codec::task).collect()
}

pub(crate) async fn count_tasks(client: &Object, state: Option<TaskState>) -> Result<u64> {
    let row = match state {
        Some(state) => {
            client.query_one("SELECT count(*) FROM tasks WHERE state = $1", &[&state.as_str()]).await
        }
        None => client.query_one("SELECT count(*) FROM tasks", &[]).await,
    }
    .map_err(committing)?;
    let count: i64 = row.get(0);
    Ok(count.max(0) as u64)
}

pub(crate) async fn list_tasks_by_context(
    client: &Object,
    context_id: ContextId,
    page: Page,
    owner: Option<&str>,
) -> Result<Vec<Task>> {
    let (limit, offset) = window(page);
    let sql = format!(
        "SELECT {} FROM tasks WHERE context_id = $1 AND ($2::text IS NULL OR owner = $2)
         ORDER BY seq LIMIT $3 OFFSET $4",
        codec::task_columns()
    );
    let statement = client.prepare_cached(&sql).await.map_err(committing)?;
    let params: [&(dyn ToSql + Sync); 4] = [&context_id.0, &owner, &limit, &offset];
    let rows = client.query(&statement, &params).await.map_err(committing)?;
    rows.iter().map(codec::task).collect()
}

pub(crate) async fn list_contexts(
    client: &Object,
    page: Page,
    owner: Option<&str>,
) -> Result<Vec<ContextSummary>> {
    let (limit, offset) = window(page);
    let sql = "SELECT c.id, coalesce(array_agg(t.id ORDER BY t.seq) FILTER (WHERE t.id IS NOT NULL), '{}') AS task_ids
               FROM contexts c LEFT JOIN tasks t ON t.context_id = c.id
               WHERE ($1::text IS NULL OR c.owner = $1)
               GROUP BY c.id, c.seq ORDER BY c.seq LIMIT $2 OFFSET $3";
    let statement = client.prepare_cached(sql).await.map_err(committing)?;
    let rows = client.query(&statement, &[&owner, &limit, &offset]).await.map_err(committing)?;
    rows.iter()
        .map(|row| {
            let task_ids: Vec<uuid::Uuid> = codec::get(row, "task_ids")?;
            Ok(ContextSummary {
                context_id: ContextId(codec::get(row, "id")?),
                task_count: task_ids.len() as u64,
                task_ids: task_ids.into_iter().map(TaskId).collect(),
            })
        })
        .collect()
}
