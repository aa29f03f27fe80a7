//! A task's conversation — its messages and artifacts — kept beside the task's head as
//! append-only lists (see [`StorageKeys`](super::keys::StorageKeys)), so that an append writes
//! only what it appends and reading the last *n* messages reads *n*, however long the history.
//!
//! A read is queued into the caller's pipeline (after its `WATCH` and its other reads) and parsed
//! from the replies, so a write keeps its round trips. A write reads of the history only the
//! messages it returns (the last *k*) and those whose ids it names (looked up in the id hash):
//! the model's rules test membership only, and what they append lands after everything read.

use std::collections::{BTreeMap, BTreeSet};

use deadpool_redis::redis::{self, FromRedisValue, Pipeline, Value};

use super::RedisStorage;
use super::codec::{StoredTask, decode, encode};
use super::tx::read_error;
use crate::error::{Error, Result};
use crate::model::{MessageId, Task, TaskId};
use crate::redis::pool::PooledConnection;

/// Which messages a read takes, besides those a write names.
#[derive(Clone, Copy, Debug)]
pub(super) enum Window {
    /// The last *n* (more than zero).
    Last(usize),
    All,
}

impl Window {
    /// As `load_task`'s `history_length`: `None` or `Some(0)` is the whole history.
    pub(super) fn of(history_length: Option<usize>) -> Self {
        match history_length {
            Some(n) if n > 0 => Window::Last(n),
            _ => Window::All,
        }
    }

    fn bounds(self) -> (isize, isize) {
        match self {
            Window::Last(n) => (isize::try_from(n).map_or(isize::MIN, |n| -n), -1),
            Window::All => (0, -1),
        }
    }
}

/// What a pipeline read of a conversation returned, before decoding.
pub(super) struct Read {
    /// How many messages are stored.
    length: usize,
    /// The window's messages (the last ones), oldest first.
    window: Vec<String>,
    /// The positions of the named messages that are stored.
    found: Vec<usize>,
    artifacts: Vec<String>,
}

/// How much of a conversation a task in memory holds: a write stores as new only what lies
/// beyond (what the model appended).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Extent {
    /// Messages read into `task.history`.
    pub(super) loaded: usize,
    /// Messages stored: the position of the first one appended.
    pub(super) stored: usize,
    /// Artifacts read into `task.artifacts` (all of them).
    pub(super) artifacts: usize,
}

/// The next reply of a pipeline, as `T`.
pub(super) fn next<T: FromRedisValue>(replies: &mut impl Iterator<Item = Value>, what: &str) -> Result<T> {
    let reply = replies
        .next()
        .ok_or_else(|| Error::Decode { what: "redis reply", reason: format!("{what}: missing") })?;
    redis::from_redis_value(reply).map_err(|e| read_error(what, e.into()))
}

impl RedisStorage {
    /// Queues the reads of task `id`'s conversation: the message count, the messages of
    /// `window`, all artifacts and the positions of the `named` messages.
    pub(super) fn queue_read(&self, pipe: &mut Pipeline, id: TaskId, window: Window, named: &[MessageId]) {
        let messages = self.keys.messages(id);
        let (start, stop) = window.bounds();
        pipe.llen(&messages).lrange(&messages, start, stop).lrange(self.keys.artifacts(id), 0, -1);
        // HMGET needs at least one field.
        if !named.is_empty() {
            let ids: Vec<String> = named.iter().map(ToString::to_string).collect();
            pipe.cmd("HMGET").arg(self.keys.message_ids(id)).arg(ids);
        }
    }

    /// Assembles the task of `head` from the replies to [`RedisStorage::queue_read`]: the
    /// window's messages and the named ones, in stored order, and every artifact. A named message
    /// older than the window (a replay) takes a second round trip.
    pub(super) async fn assemble(
        &self,
        conn: &mut PooledConnection,
        task: &mut Task,
        replies: &mut impl Iterator<Item = Value>,
        named: &[MessageId],
    ) -> Result<Extent> {
        let read = Read {
            length: next(replies, "message count")?,
            window: next(replies, "messages")?,
            artifacts: next(replies, "artifacts")?,
            found: if named.is_empty() {
                Vec::new()
            } else {
                let positions: Vec<Option<usize>> = next(replies, "message ids")?;
                positions.into_iter().flatten().collect()
            },
        };
        let start = read.length.saturating_sub(read.window.len());
        let mut messages: BTreeMap<usize, String> = (start..).zip(read.window).collect();
        let older: BTreeSet<usize> = read.found.into_iter().filter(|&at| at < start).collect();
        if !older.is_empty() {
            let key = self.keys.messages(task.id);
            let mut pipe = redis::pipe();
            for &at in &older {
                pipe.lindex(&key, isize::try_from(at).unwrap_or(isize::MAX));
            }
            let texts: Vec<Option<String>> =
                pipe.query_async(conn).await.map_err(|e| read_error("read named messages", e))?;
            messages.extend(older.into_iter().zip(texts).filter_map(|(at, text)| Some((at, text?))));
        }
        task.history = messages.values().map(|text| decode("stored message", text)).collect::<Result<_>>()?;
        task.artifacts =
            read.artifacts.iter().map(|text| decode("stored artifact", text)).collect::<Result<_>>()?;
        Ok(Extent { loaded: task.history.len(), stored: read.length, artifacts: task.artifacts.len() })
    }

    /// Queues the storing of what `task` holds beyond `extent`: the messages and artifacts the
    /// model appended, with the new messages' positions.
    pub(super) fn queue_append(&self, pipe: &mut Pipeline, task: &Task, extent: Extent) -> Result<()> {
        let messages = task.history.get(extent.loaded..).unwrap_or_default();
        if !messages.is_empty() {
            let texts = messages.iter().map(encode).collect::<Result<Vec<_>>>()?;
            let positions: Vec<(String, usize)> =
                messages.iter().zip(extent.stored..).map(|(m, at)| (m.message_id.to_string(), at)).collect();
            pipe.rpush(self.keys.messages(task.id), texts).ignore();
            pipe.hset_multiple(self.keys.message_ids(task.id), &positions).ignore();
        }
        let artifacts = task.artifacts.get(extent.artifacts..).unwrap_or_default();
        if !artifacts.is_empty() {
            let texts = artifacts.iter().map(encode).collect::<Result<Vec<_>>>()?;
            pipe.rpush(self.keys.artifacts(task.id), texts).ignore();
        }
        Ok(())
    }

    /// Queues the removal of task `id`'s conversation.
    pub(super) fn queue_remove_conversation(&self, pipe: &mut Pipeline, id: &str) {
        pipe.del(self.keys.messages(id)).ignore();
        pipe.del(self.keys.message_ids(id)).ignore();
        pipe.del(self.keys.artifacts(id)).ignore();
    }

    /// The whole tasks of `ids` (head and conversation, one round trip), in that order, each
    /// decoded or not; those deleted meanwhile are left out.
    pub(super) async fn read_tasks<'i>(
        &self,
        conn: &mut PooledConnection,
        ids: &'i [String],
    ) -> Result<Vec<(&'i str, Result<StoredTask>)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        // MULTI/EXEC: heads and conversations as of one moment.
        pipe.atomic().cmd("MGET").arg(ids.iter().map(|id| self.keys.task(id)).collect::<Vec<_>>());
        for id in ids {
            pipe.lrange(self.keys.messages(id), 0, -1).lrange(self.keys.artifacts(id), 0, -1);
        }
        let replies: Vec<Value> = pipe.query_async(conn).await.map_err(|e| read_error("list", e))?;
        let mut replies = replies.into_iter();
        let heads: Vec<Option<String>> = next(&mut replies, "tasks")?;
        let mut tasks = Vec::with_capacity(ids.len());
        for (id, head) in ids.iter().zip(heads) {
            let (messages, artifacts): (Vec<String>, Vec<String>) =
                (next(&mut replies, "messages")?, next(&mut replies, "artifacts")?);
            let Some(head) = head else { continue };
            let read = decode::<StoredTask>("stored task", &head).and_then(|mut stored| {
                stored.task.history =
                    messages.iter().map(|text| decode("stored message", text)).collect::<Result<_>>()?;
                stored.task.artifacts =
                    artifacts.iter().map(|text| decode("stored artifact", text)).collect::<Result<_>>()?;
                Ok(stored)
            });
            tasks.push((id.as_str(), read));
        }
        Ok(tasks)
    }
}
