//! The scheduler's shared command connection.
//!
//! Enqueues, acknowledgements and keep-alives are short commands from many tasks at once. A
//! multiplexed connection pipelines them, so each costs one round trip; checking a connection out
//! of the pool per command would add deadpool-redis's recycle check (`UNWATCH` + `PING`), another
//! round trip every time. So one pooled connection is held and shared; when a command on it fails
//! with a lost connection, it is detached from the pool and the next command takes a fresh one
//! (which the pool's recycle check has verified).

use std::sync::{Mutex, MutexGuard};

use deadpool_redis::redis::aio::{ConnectionLike, MultiplexedConnection};
use deadpool_redis::redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};
use deadpool_redis::{Connection, Pool};

use super::error::pool_error;
use crate::error::Result;

/// Holds the shared connection.
#[derive(Default)]
pub(crate) struct Lane {
    held: Mutex<Option<Connection>>,
}

impl Lane {
    /// A handle on the shared connection, taking one from `pool` when none is held.
    pub(crate) async fn get<'a>(&'a self, pool: &Pool, what: &str) -> Result<LaneConnection<'a>> {
        if let Some(held) = self.lock().as_ref() {
            return Ok(LaneConnection { lane: self, con: MultiplexedConnection::clone(held) });
        }
        let fresh = pool.get().await.map_err(|err| pool_error(what, err))?;
        let con = MultiplexedConnection::clone(&fresh);
        let mut held = self.lock();
        if held.is_none() {
            *held = Some(fresh);
        }
        Ok(LaneConnection { lane: self, con })
    }

    /// Gives the held connection back to the pool (on close).
    pub(crate) fn release(&self) {
        drop(self.lock().take());
    }

    /// Drops the held connection out of the pool (it lost its server).
    fn discard(&self) {
        if let Some(held) = self.lock().take() {
            drop(Connection::take(held));
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Connection>> {
        self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One user's handle on the shared connection; its commands report a lost connection to the lane.
pub(crate) struct LaneConnection<'a> {
    lane: &'a Lane,
    con: MultiplexedConnection,
}

impl LaneConnection<'_> {
    fn check<T>(&self, result: std::result::Result<T, RedisError>) -> std::result::Result<T, RedisError> {
        if let Err(err) = &result
            && (err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal())
        {
            self.lane.discard();
        }
        result
    }
}

impl ConnectionLike for LaneConnection<'_> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = self.con.req_packed_command(cmd).await;
            self.check(result)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let result = self.con.req_packed_commands(pipeline, offset, count).await;
            self.check(result)
        })
    }

    fn get_db(&self) -> i64 {
        self.con.get_db()
    }
}
