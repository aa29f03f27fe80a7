//! Every Redis command the scheduler sends, typed. The multi-step ones are Lua scripts (in
//! `lua/`), run atomically with `EVALSHA` (the redis crate loads a script the server does not
//! know yet, e.g. after a restart).

use std::sync::LazyLock;
use std::time::Duration;

use deadpool_redis::redis::{self, Script, Value, aio::ConnectionLike};

use super::RedisOptions;
use super::entry::{self, Entry};
use super::error::{command_error, is_existing_group};
use super::keys::RedisKeys;
use crate::error::{BackendError, Error, Result, Transience};
use crate::model::OperationId;

static ENQUEUE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/enqueue.lua")));
static CLAIM: LazyLock<Script> =
    LazyLock::new(|| Script::new(concat!(include_str!("lua/bury.lua"), include_str!("lua/claim.lua"))));
static DEAD_LETTER: LazyLock<Script> =
    LazyLock::new(|| Script::new(concat!(include_str!("lua/bury.lua"), include_str!("lua/dead_letter.lua"))));
static KEEP_ALIVE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/keep_alive.lua")));
static FORGET_CONSUMERS: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/forget_consumers.lua")));

/// XAUTOCLAIM rounds per claim call: each looks at 10 pending entries, so one call scans up to
/// 1000 without claiming more than the one it delivers.
const CLAIM_ROUNDS: u32 = 100;

/// The XAUTOCLAIM cursor that starts (and ends) a full scan of the pending entries.
pub(super) const CURSOR_START: &str = "0-0";

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn unexpected(what: &str, detail: impl std::fmt::Display) -> Error {
    BackendError::new("redis", Transience::Permanent, format!("{what}: unexpected reply: {detail}")).into()
}

/// Creates the consumer group (and the stream) if missing. From the stream's start, so that
/// operations enqueued before the group existed — or before Redis lost and recreated it — are
/// delivered too.
pub(super) async fn ensure_group(con: &mut impl ConnectionLike, keys: &RedisKeys, group: &str) -> Result<()> {
    let created = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&keys.stream)
        .arg(group)
        .arg(CURSOR_START)
        .arg("MKSTREAM")
        .query_async::<Value>(con)
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(err) if is_existing_group(&err) => Ok(()),
        Err(err) => Err(command_error("create the consumer group", err)),
    }
}

/// Adds the operation unless `id` was seen within the dedup ttl; `true` if it was added.
pub(super) async fn enqueue(
    con: &mut impl ConnectionLike,
    keys: &RedisKeys,
    options: &RedisOptions,
    id: OperationId,
    payload: &str,
) -> Result<bool> {
    let added: i64 = ENQUEUE
        .key(keys.dedup(id))
        .key(&keys.stream)
        .arg(millis(options.dedup_ttl))
        .arg(id.to_string())
        .arg(payload)
        .arg(options.max_stream_len.unwrap_or(0))
        .invoke_async(con)
        .await
        .map_err(|err| command_error("enqueue", err))?;
    Ok(added == 1)
}

/// The next new entry for `consumer`, waiting up to `block`.
pub(super) async fn read(
    con: &mut impl ConnectionLike,
    keys: &RedisKeys,
    group: &str,
    consumer: &str,
    block: Duration,
) -> Result<Option<Entry>> {
    let reply: Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(group)
        .arg(consumer)
        .arg("COUNT")
        .arg(1)
        .arg("BLOCK")
        .arg(millis(block).max(1))
        .arg("STREAMS")
        .arg(&keys.stream)
        .arg(">")
        .query_async(con)
        .await
        .map_err(|err| command_error("read operations", err))?;
    entry::read_reply(reply).map_err(|detail| unexpected("read operations", detail))
}

/// What a claim found.
#[derive(Debug)]
pub(super) enum Claimed {
    /// Nothing idle between the cursor and where the scan stopped.
    Nothing,
    /// An entry taken over; `deliveries` counts this delivery.
    Entry { entry: Entry, deliveries: u32 },
    /// An entry past the delivery limit, moved to the dead-letter stream.
    Buried { id: String, deliveries: u32 },
}

/// Takes over one entry idle for `options.min_idle`, continuing the scan at `cursor` (updated).
pub(super) async fn claim(
    con: &mut impl ConnectionLike,
    keys: &RedisKeys,
    options: &RedisOptions,
    consumer: &str,
    cursor: &mut String,
) -> Result<Claimed> {
    let reply: Vec<Value> = CLAIM
        .key(&keys.stream)
        .key(&keys.dead)
        .arg(&options.group)
        .arg(consumer)
        .arg(millis(options.min_idle))
        .arg(cursor.as_str())
        .arg(options.max_deliveries)
        .arg(options.max_dead_letters.unwrap_or(0))
        .arg(CLAIM_ROUNDS)
        .invoke_async(con)
        .await
        .map_err(|err| command_error("claim idle operations", err))?;
    let mut reply = reply.into_iter();
    *cursor = reply.next().and_then(entry::text).ok_or_else(|| unexpected("claim", "no cursor"))?;
    let Some(kind) = reply.next().and_then(entry::text) else {
        return Ok(Claimed::Nothing);
    };
    let id = reply.next().and_then(entry::text).ok_or_else(|| unexpected("claim", "no entry id"))?;
    let deliveries = match reply.next() {
        Some(Value::Int(n)) => u32::try_from(n).unwrap_or(u32::MAX),
        other => return Err(unexpected("claim", format!("delivery count {other:?}"))),
    };
    match kind.as_str() {
        "dead" => Ok(Claimed::Buried { id, deliveries }),
        "claimed" => {
            let fields = reply.next().unwrap_or(Value::Nil);
            let entry = Entry::from_value(Value::Array(vec![Value::BulkString(id.into_bytes()), fields]))
                .map_err(|detail| unexpected("claim", detail))?;
            Ok(Claimed::Entry { entry, deliveries })
        }
        other => Err(unexpected("claim", other)),
    }
}

/// Moves a pending entry to the dead-letter stream; `false` if it was settled already.
pub(super) async fn dead_letter(
    con: &mut impl ConnectionLike,
    keys: &RedisKeys,
    options: &RedisOptions,
    entry_id: &str,
    reason: &str,
) -> Result<bool> {
    let buried: i64 = DEAD_LETTER
        .key(&keys.stream)
        .key(&keys.dead)
        .arg(&options.group)
        .arg(entry_id)
        .arg(reason)
        .arg(options.max_dead_letters.unwrap_or(0))
        .invoke_async(con)
        .await
        .map_err(|err| command_error("dead-letter", err))?;
    Ok(buried == 1)
}

/// Settles an entry: acknowledged and deleted in one transaction, so the stream only holds
/// unfinished work. Idempotent.
pub(super) async fn ack(
    con: &mut impl ConnectionLike,
    keys: &RedisKeys,
    group: &str,
    entry_id: &str,
) -> Result<()> {
    let (_acked, _deleted): (i64, i64) = redis::pipe()
        .atomic()
        .cmd("XACK")
        .arg(&keys.stream)
        .arg(group)
        .arg(entry_id)
        .cmd("XDEL")
        .arg(&keys.stream)
        .arg(entry_id)
        .query_async(con)
        .await
        .map_err(|err| command_error("acknowledge", err))?;
    Ok(())
}

/// Whether a keep-alive reset the idle time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeptAlive {
    /// The idle time is zero again.
    Reset,
    /// The entry was acknowledged or dead-lettered already.
    Settled,
    /// Another consumer took it over after it went idle.
    TakenOver,
}

/// Resets the idle time of `entry_id` if `consumer` still holds it.
pub(super) async fn keep_alive(
    con: &mut impl ConnectionLike,
    keys: &RedisKeys,
    group: &str,
    consumer: &str,
    entry_id: &str,
) -> Result<KeptAlive> {
    let outcome: i64 = KEEP_ALIVE
        .key(&keys.stream)
        .arg(group)
        .arg(consumer)
        .arg(entry_id)
        .invoke_async(con)
        .await
        .map_err(|err| command_error("keep alive", err))?;
    Ok(match outcome {
        1 => KeptAlive::Reset,
        0 => KeptAlive::Settled,
        _ => KeptAlive::TakenOver,
    })
}

/// Removes consumers idle for `idle` that hold nothing; how many went.
pub(super) async fn forget_consumers(
    con: &mut impl ConnectionLike,
    keys: &RedisKeys,
    group: &str,
    idle: Duration,
) -> Result<u64> {
    FORGET_CONSUMERS
        .key(&keys.stream)
        .arg(group)
        .arg(millis(idle))
        .invoke_async(con)
        .await
        .map_err(|err| command_error("forget idle consumers", err))
}

/// Up to `count` dead letters, oldest first.
pub(super) async fn dead_letters(
    con: &mut impl ConnectionLike,
    keys: &RedisKeys,
    count: usize,
) -> Result<Vec<entry::RedisDeadLetter>> {
    let reply: Value = redis::cmd("XRANGE")
        .arg(&keys.dead)
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(count)
        .query_async(con)
        .await
        .map_err(|err| command_error("read dead letters", err))?;
    let entries = entry::array(reply).ok_or_else(|| unexpected("read dead letters", "not an array"))?;
    entries
        .into_iter()
        .map(|value| {
            Entry::from_value(value)
                .map(|entry| entry::RedisDeadLetter::from_entry(&entry))
                .map_err(|detail| unexpected("read dead letters", detail))
        })
        .collect()
}

/// Entries in the operation stream: queued or in flight.
pub(super) async fn backlog(con: &mut impl ConnectionLike, keys: &RedisKeys) -> Result<u64> {
    redis::cmd("XLEN")
        .arg(&keys.stream)
        .query_async(con)
        .await
        .map_err(|err| command_error("count the backlog", err))
}
