//! The receivers' periodic work on a stream's pending entries: taking over those idle past
//! `min_idle` (their receiver died, dropped them, or released them), burying those delivered too
//! often, and forgetting consumers long gone.

use std::sync::LazyLock;
use std::time::Duration;

use deadpool_redis::redis::{Script, Value, aio::ConnectionLike};

use super::RedisSchedulerOptions;
use super::commands::{millis, unexpected};
use super::entry::{self, Entry};
use crate::error::Result;
use crate::redis::error::command_error;

static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("lua/append.lua"),
        include_str!("lua/bury.lua"),
        include_str!("lua/claim.lua")
    ))
});
static FORGET_CONSUMERS: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/forget_consumers.lua")));

/// XAUTOCLAIM rounds per claim call: each looks at 10 pending entries, so one call scans up to
/// 1000 without claiming more than the one it delivers.
const CLAIM_ROUNDS: u32 = 100;

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

/// Takes over one entry of `stream` idle for `options.min_idle`, continuing the scan at `cursor`
/// (updated).
pub(super) async fn claim(
    con: &mut impl ConnectionLike,
    stream: &str,
    dead: &str,
    options: &RedisSchedulerOptions,
    consumer: &str,
    cursor: &mut String,
) -> Result<Claimed> {
    let reply: Vec<Value> = CLAIM
        .key(stream)
        .key(dead)
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

/// Removes the consumers of `stream`'s group idle for `idle` that hold nothing; how many went.
pub(super) async fn forget_consumers(
    con: &mut impl ConnectionLike,
    stream: &str,
    group: &str,
    idle: Duration,
) -> Result<u64> {
    FORGET_CONSUMERS
        .key(stream)
        .arg(group)
        .arg(millis(idle))
        .invoke_async(con)
        .await
        .map_err(|err| command_error("forget idle consumers", err))
}
