//! What an operator does with the streams: list, replay and discard dead letters, read the
//! queue's state. A dead letter's handle is its entry id in the dead-letter stream.

use std::sync::LazyLock;
use std::time::Duration;

use deadpool_redis::redis::{self, Script, Value, aio::ConnectionLike};

use super::commands::{millis, unexpected};
use super::entry::{self, Entry};
use super::shared::Shared;
use crate::error::{Error, Result};
use crate::model::{DeadLetter, DeadLetterId, Lane, Lanes, Page, QueueStats};
use crate::redis::error::command_error;

static REPLAY: LazyLock<Script> =
    LazyLock::new(|| Script::new(concat!(include_str!("lua/append.lua"), include_str!("lua/replay.lua"))));
static STATS: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/stats.lua")));

/// The dead-letter stream's entries of `page`, oldest first.
pub(super) async fn dead_letters(
    con: &mut impl ConnectionLike,
    shared: &Shared,
    page: Page,
) -> Result<Vec<DeadLetter>> {
    let mut range = redis::cmd("XRANGE");
    range.arg(&shared.keys.dead).arg("-").arg("+");
    match page.limit {
        // XRANGE answers nil to COUNT 0.
        Some(0) => return Ok(Vec::new()),
        Some(limit) => {
            range.arg("COUNT").arg(page.offset.saturating_add(limit));
        }
        None => {}
    }
    let reply: Value = range.query_async(con).await.map_err(|err| command_error("read dead letters", err))?;
    let entries = entry::array(reply).ok_or_else(|| unexpected("read dead letters", "not an array"))?;
    let entries = entries
        .into_iter()
        .map(|value| Entry::from_value(value).map_err(|detail| unexpected("read dead letters", detail)))
        .collect::<Result<Vec<_>>>()?;
    Ok(page.apply(entries.iter().map(entry::dead_letter)))
}

/// Re-enqueues dead letter `id` (see `lua/replay.lua`). Its operation is read and written again
/// in the current payload version, so one that cannot be read is refused here.
pub(super) async fn replay(
    con: &mut impl ConnectionLike,
    shared: &Shared,
    id: &DeadLetterId,
) -> Result<bool> {
    let Some(dead) = read_one(con, shared, id).await? else { return Ok(false) };
    let operation = dead.operation().map_err(|problem| Error::Invalid {
        what: "dead letter",
        reason: format!("its operation cannot be read, so it cannot be replayed: {problem}"),
    })?;
    let keys = &shared.keys;
    let replayed: i64 = REPLAY
        .key(&keys.dead)
        .key(keys.stream(operation.lane()))
        .key(keys.dedup(operation.id))
        .arg(id.as_str())
        .arg(operation.id.to_string())
        .arg(entry::encode(&operation)?)
        .arg(millis(shared.options.dedup_ttl))
        .arg(shared.options.max_stream_len.unwrap_or(0))
        .invoke_async(con)
        .await
        .map_err(|err| command_error("replay a dead letter", err))?;
    Ok(replayed == 1)
}

/// Deletes dead letter `id`. The operation id's dedup key stays until it expires, so a late
/// enqueue of the discarded operation is still dropped.
pub(super) async fn discard(
    con: &mut impl ConnectionLike,
    shared: &Shared,
    id: &DeadLetterId,
) -> Result<bool> {
    if !entry::is_entry_id(id.as_str()) {
        return Ok(false);
    }
    let deleted: i64 = redis::cmd("XDEL")
        .arg(&shared.keys.dead)
        .arg(id.as_str())
        .query_async(con)
        .await
        .map_err(|err| command_error("discard a dead letter", err))?;
    Ok(deleted == 1)
}

async fn read_one(
    con: &mut impl ConnectionLike,
    shared: &Shared,
    id: &DeadLetterId,
) -> Result<Option<Entry>> {
    if !entry::is_entry_id(id.as_str()) {
        return Ok(None);
    }
    let reply: Value = redis::cmd("XRANGE")
        .arg(&shared.keys.dead)
        .arg(id.as_str())
        .arg(id.as_str())
        .query_async(con)
        .await
        .map_err(|err| command_error("read a dead letter", err))?;
    let entries = entry::array(reply).ok_or_else(|| unexpected("read a dead letter", "not an array"))?;
    entries
        .into_iter()
        .next()
        .map(|value| Entry::from_value(value).map_err(|detail| unexpected("read a dead letter", detail)))
        .transpose()
}

/// Each lane's stream: entries the group has not read yet are waiting, entries read and not
/// settled are in flight (a receiver that died still holds its entries until they are taken
/// over). The age is the oldest unread entry's, on the server's clock.
pub(super) async fn stats(con: &mut impl ConnectionLike, shared: &Shared) -> Result<QueueStats> {
    let keys = &shared.keys;
    let lanes: Vec<Lane> = Lanes::All.lanes().collect();
    let mut invocation = STATS.prepare_invoke();
    for lane in &lanes {
        invocation.key(keys.stream(*lane));
    }
    invocation.key(&keys.dead).arg(&shared.options.group);
    let reply: Vec<Value> =
        invocation.invoke_async(con).await.map_err(|err| command_error("read the queue's state", err))?;
    let number = |value: Option<&Value>| match value {
        Some(Value::Int(n)) => Ok(u64::try_from(*n).unwrap_or(0)),
        other => Err(unexpected("read the queue's state", format!("{other:?}"))),
    };
    let now = number(reply.first())?;
    let mut stats = QueueStats { dead_letters: number(reply.get(1))?, ..QueueStats::default() };
    let mut oldest: Option<u64> = None;
    for (index, lane) in lanes.iter().enumerate() {
        let at = 2 + index * 3;
        let (length, pending) = (number(reply.get(at))?, number(reply.get(at + 1))?);
        let waiting = length.saturating_sub(pending);
        match lane {
            Lane::Runs => stats.waiting_runs = waiting,
            Lane::Control => stats.waiting_control = waiting,
        }
        stats.in_flight += pending;
        let first = reply.get(at + 2).cloned().and_then(entry::text).unwrap_or_default();
        if let Some(millis) = first.split_once('-').and_then(|(ms, _)| ms.parse::<u64>().ok()) {
            oldest = Some(oldest.map_or(millis, |seen| seen.min(millis)));
        }
    }
    stats.oldest_waiting_age = oldest.map(|millis| Duration::from_millis(now.saturating_sub(millis)));
    Ok(stats)
}
