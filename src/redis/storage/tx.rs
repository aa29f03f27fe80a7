//! Optimistic transactions (`WATCH` … `MULTI`/`EXEC`) and the classification of their failures.
//!
//! A write reads what it needs under `WATCH`, decides in Rust (the same state-machine rules as
//! every backend), and commits with `MULTI`/`EXEC`; if a watched key changed meanwhile `EXEC`
//! does nothing and the write starts over. Failures before `EXEC` cannot have changed anything,
//! so they are classified with `read_error` (never "uncertain"); `EXEC` with `write_error`.

use deadpool_redis::Connection;
use deadpool_redis::redis::{self, AsyncCommands, Pipeline, Value};

use crate::error::{BackendError, Error, Result, Transience};

/// How often a write starts over because a watched key changed before it gives up (transient).
pub(crate) const MAX_CONFLICTS: usize = 50;

pub(crate) use crate::redis::error::{command_error as write_error, read_error};

pub(crate) fn contention(what: &str) -> Error {
    BackendError::new(
        "redis",
        Transience::Transient,
        format!("{what}: gave up after {MAX_CONFLICTS} concurrent changes"),
    )
    .into()
}

pub(crate) async fn watch(conn: &mut Connection, keys: &[&str]) -> Result<()> {
    redis::cmd("WATCH").arg(keys).query_async::<()>(conn).await.map_err(|e| read_error("watch", e))
}

pub(crate) async fn unwatch(conn: &mut Connection) -> Result<()> {
    redis::cmd("UNWATCH").query_async::<()>(conn).await.map_err(|e| read_error("unwatch", e))
}

pub(crate) async fn get(conn: &mut Connection, key: &str) -> Result<Option<String>> {
    conn.get(key).await.map_err(|e| read_error("read", e))
}

/// Runs `pipe` as `MULTI`/`EXEC`; `false` if a watched key changed and nothing was applied.
pub(crate) async fn exec(conn: &mut Connection, pipe: &mut Pipeline, what: &str) -> Result<bool> {
    let reply: Value = pipe.atomic().query_async(conn).await.map_err(|e| write_error(what, e))?;
    Ok(!matches!(reply, Value::Nil))
}
