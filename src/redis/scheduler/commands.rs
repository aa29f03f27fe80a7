//! The scheduler's commands on its streams, typed: groups, enqueue, reads, the backlog (what an
//! operator does is in `admin.rs`). The multi-step ones are Lua scripts (in `lua/`), run
//! atomically with `EVALSHA` (the redis crate loads a script the server does not know yet, e.g.
//! after a restart).

use std::sync::LazyLock;
use std::time::Duration;

use deadpool_redis::redis::{self, Script, Value, aio::ConnectionLike};

use super::RedisSchedulerOptions;
use super::entry::{self, Entry};
use super::keys::RedisKeys;
use crate::error::{BackendError, Error, Result, Transience};
use crate::model::{Lane, Lanes, OperationId};
use crate::redis::error::{command_error, is_existing_group};

static ENQUEUE: LazyLock<Script> =
    LazyLock::new(|| Script::new(concat!(include_str!("lua/append.lua"), include_str!("lua/enqueue.lua"))));

/// The cursor that starts (and ends) a full scan of a group's pending entries.
pub(super) const CURSOR_START: &str = "0-0";

pub(super) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

pub(super) fn unexpected(what: &str, detail: impl std::fmt::Display) -> Error {
    BackendError::new("redis", Transience::Permanent, format!("{what}: unexpected reply: {detail}")).into()
}

/// Creates the consumer group (and the stream) of each lane if missing. From the stream's start,
/// so that operations enqueued before the group existed — or before Redis lost and recreated
/// it — are delivered too.
pub(super) async fn ensure_groups(
    con: &mut impl ConnectionLike,
    keys: &RedisKeys,
    group: &str,
) -> Result<()> {
    for lane in Lanes::All.lanes() {
        let created = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(keys.stream(lane))
            .arg(group)
            .arg(CURSOR_START)
            .arg("MKSTREAM")
            .query_async::<Value>(con)
            .await;
        match created {
            Ok(_) => {}
            Err(err) if is_existing_group(&err) => {}
            Err(err) => return Err(command_error("create the consumer group", err)),
        }
    }
    Ok(())
}

/// Adds the operation to `lane`'s stream unless `id` was seen within the dedup ttl; `true` if it
/// was added.
pub(super) async fn enqueue(
    con: &mut impl ConnectionLike,
    keys: &RedisKeys,
    options: &RedisSchedulerOptions,
    lane: Lane,
    id: OperationId,
    payload: &str,
) -> Result<bool> {
    let added: i64 = ENQUEUE
        .key(keys.dedup(id))
        .key(keys.stream(lane))
        .arg(millis(options.dedup_ttl))
        .arg(id.to_string())
        .arg(payload)
        .arg(options.max_stream_len.unwrap_or(0))
        .invoke_async(con)
        .await
        .map_err(|err| command_error("enqueue", err))?;
    Ok(added == 1)
}

/// The next new entries (up to `count` per stream) of each of `lanes` for `consumer`, control
/// first, waiting up to `block` for one; `None` does not wait at all.
pub(super) async fn read(
    con: &mut impl ConnectionLike,
    keys: &RedisKeys,
    group: &str,
    consumer: &str,
    lanes: Lanes,
    count: usize,
    block: Option<Duration>,
) -> Result<Vec<(Lane, Entry)>> {
    let mut read = redis::cmd("XREADGROUP");
    read.arg("GROUP").arg(group).arg(consumer).arg("COUNT").arg(count.max(1));
    if let Some(block) = block {
        read.arg("BLOCK").arg(millis(block).max(1));
    }
    read.arg("STREAMS");
    for lane in lanes.lanes() {
        read.arg(keys.stream(lane));
    }
    for _ in lanes.lanes() {
        read.arg(">");
    }
    let reply: Value = read.query_async(con).await.map_err(|err| command_error("read operations", err))?;
    let mut entries: Vec<(Lane, Entry)> = entry::read_reply(reply)
        .map_err(|detail| unexpected("read operations", detail))?
        .into_iter()
        .filter_map(|(stream, entry)| {
            lanes.lanes().find(|lane| keys.stream(*lane) == stream).map(|lane| (lane, entry))
        })
        .collect();
    // Stable: each stream's entries stay in their order.
    entries.sort_by_key(|(lane, _)| *lane != Lane::Control);
    Ok(entries)
}

/// Entries in the operation streams: queued or in flight.
pub(super) async fn backlog(con: &mut impl ConnectionLike, keys: &RedisKeys) -> Result<u64> {
    let (runs, control): (u64, u64) = redis::pipe()
        .cmd("XLEN")
        .arg(&keys.runs)
        .cmd("XLEN")
        .arg(&keys.control)
        .query_async(con)
        .await
        .map_err(|err| command_error("count the backlog", err))?;
    Ok(runs + control)
}
