//! Optimistic transactions (`WATCH` … `MULTI`/`EXEC`) and the classification of their failures.
//!
//! A write reads what it needs under `WATCH`, decides in Rust (the same state-machine rules as
//! every backend), and commits with `MULTI`/`EXEC`; if a watched key changed meanwhile `EXEC`
//! does nothing and the write starts over. Failures before `EXEC` cannot have changed anything,
//! so they are classified with `read_error` (never "uncertain"); `EXEC` with `write_error`.

use chrono::{DateTime, Utc};
use deadpool_redis::redis::{self, AsyncCommands, Pipeline, Value};

use super::RedisStorage;
use crate::error::{BackendError, Entity, Error, Result, Transience};
use crate::model::TaskId;
use crate::redis::pool::PooledConnection;

pub(super) use crate::redis::error::{command_error as write_error, read_error};

/// How often a write starts over because a watched key changed before it gives up (transient).
pub(super) const MAX_CONFLICTS: usize = 50;

pub(super) fn contention(what: &str) -> Error {
    BackendError::new(
        "redis",
        Transience::Transient,
        format!("{what}: gave up after {MAX_CONFLICTS} concurrent changes"),
    )
    .into()
}

pub(super) async fn watch(conn: &mut PooledConnection, keys: &[&str]) -> Result<()> {
    redis::cmd("WATCH").arg(keys).query_async::<()>(conn).await.map_err(|e| read_error("watch", e))
}

pub(super) async fn unwatch(conn: &mut PooledConnection) -> Result<()> {
    redis::cmd("UNWATCH").query_async::<()>(conn).await.map_err(|e| read_error("unwatch", e))
}

/// Gives up a transaction after `WATCH`: `UNWATCH`, then `result`.
pub(super) async fn abandon<T>(conn: &mut PooledConnection, result: Result<T>) -> Result<T> {
    unwatch(conn).await?;
    result
}

pub(super) async fn get(conn: &mut PooledConnection, key: &str) -> Result<Option<String>> {
    conn.get(key).await.map_err(|e| read_error("read", e))
}

/// The server's clock: leases and cutoffs are measured on it, whatever the clocks of the
/// processes sharing the data say.
pub(super) async fn server_now(conn: &mut PooledConnection) -> Result<DateTime<Utc>> {
    let time: (i64, i64) =
        redis::cmd("TIME").query_async(conn).await.map_err(|e| read_error("read the server's clock", e))?;
    time_of(time)
}

/// A `TIME` reply: seconds and microseconds.
pub(super) fn time_of((seconds, micros): (i64, i64)) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp(seconds, u32::try_from(micros * 1000).unwrap_or(0))
        .ok_or_else(|| Error::Decode { what: "server time", reason: format!("{seconds}.{micros:06}") })
}

/// One `SCAN` step over the keys matching `pattern`: the next cursor (0 when done) and a batch.
pub(super) async fn scan(
    conn: &mut PooledConnection,
    cursor: u64,
    pattern: &str,
    batch: usize,
    what: &str,
) -> Result<(u64, Vec<String>)> {
    redis::cmd("SCAN")
        .arg(cursor)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(batch)
        .query_async(conn)
        .await
        .map_err(|e| read_error(what, e))
}

/// Runs `pipe` as `MULTI`/`EXEC`; `false` if a watched key changed and nothing was applied.
pub(super) async fn exec(conn: &mut PooledConnection, pipe: &mut Pipeline, what: &str) -> Result<bool> {
    let reply: Value = pipe.atomic().query_async(conn).await.map_err(|e| write_error(what, e))?;
    Ok(!matches!(reply, Value::Nil))
}

impl RedisStorage {
    /// Writes `build`'s pipeline only while the task exists (so that no config or feedback
    /// outlives it), watching `extra_watch` too and handing `build` its value.
    pub(super) async fn while_task_exists(
        &self,
        task_id: TaskId,
        what: &str,
        extra_watch: &str,
        build: impl Fn(Option<String>) -> Result<Option<Pipeline>>,
    ) -> Result<()> {
        let mut conn = self.connection().await?;
        let task_key = self.keys.task(task_id);
        for _ in 0..MAX_CONFLICTS {
            watch(&mut conn, &[&task_key, extra_watch]).await?;
            let exists: bool = conn.exists(&task_key).await.map_err(|e| read_error(what, e))?;
            if !exists {
                return abandon(&mut conn, Err(Error::not_found(Entity::Task, task_id))).await;
            }
            let current = get(&mut conn, extra_watch).await?;
            let Some(mut pipe) = build(current)? else {
                return abandon(&mut conn, Ok(())).await;
            };
            if exec(&mut conn, &mut pipe, what).await? {
                return Ok(());
            }
        }
        Err(contention(what))
    }
}
