//! The scheduler's shared command connection.
//!
//! Enqueues, acknowledgements and keep-alives are short commands from many tasks at once. A
//! multiplexed connection pipelines them, so each costs one round trip; checking a connection out
//! of the pool per command would add deadpool-redis's recycle check (`UNWATCH` + `PING`), another
//! round trip every time. So one pooled connection is held and shared; when a command on it shows
//! it spoiled (it lost its server, or the server was demoted: `READONLY`), it is detached from
//! the pool and the next command takes a fresh one (which the pool's recycle check has verified).

use std::sync::{Mutex, MutexGuard};

use deadpool_redis::redis::aio::{ConnectionLike, MultiplexedConnection};
use deadpool_redis::{Connection, Pool};

use crate::error::Result;
use crate::redis::error::pool_error;
use crate::redis::pool::{Guard, Guarded};

/// Holds the shared connection.
#[derive(Default)]
pub(super) struct SharedConnection {
    held: Mutex<Held>,
}

/// The shared connection, if one is held, and which one it is: a handle on a connection that has
/// since been replaced must not discard its replacement.
#[derive(Default)]
struct Held {
    connection: Option<Connection>,
    generation: u64,
}

impl SharedConnection {
    /// A handle on the shared connection, taking one from `pool` when none is held.
    pub(super) async fn get<'a>(&'a self, pool: &'a Pool, what: &str) -> Result<SharedHandle<'a>> {
        {
            let held = self.lock();
            if let Some(connection) = held.connection.as_ref() {
                let con = MultiplexedConnection::clone(connection);
                return Ok(Guarded::new(Handle { shared: self, pool, con, generation: held.generation }));
            }
        }
        let fresh = pool.get().await.map_err(|err| pool_error(what, err))?;
        let mut held = self.lock();
        match held.connection.as_ref() {
            // Another caller installed one meanwhile: use it, and `fresh` goes back to the pool.
            Some(connection) => {
                let con = MultiplexedConnection::clone(connection);
                Ok(Guarded::new(Handle { shared: self, pool, con, generation: held.generation }))
            }
            None => {
                held.generation += 1;
                let con = MultiplexedConnection::clone(&fresh);
                held.connection = Some(fresh);
                Ok(Guarded::new(Handle { shared: self, pool, con, generation: held.generation }))
            }
        }
    }

    /// Gives the held connection back to the pool (on close).
    pub(super) fn release(&self) {
        drop(self.lock().connection.take());
    }

    /// Drops the held connection out of the pool (it lost its server), unless it is no longer
    /// the `generation` the failing handle came from.
    fn discard(&self, generation: u64) {
        let mut held = self.lock();
        if held.generation == generation
            && let Some(connection) = held.connection.take()
        {
            drop(Connection::take(connection));
        }
    }

    fn lock(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One user's handle on the shared connection; a spoiled connection is discarded for all.
pub(super) type SharedHandle<'a> = Guarded<Handle<'a>>;

pub(super) struct Handle<'a> {
    shared: &'a SharedConnection,
    pool: &'a Pool,
    con: MultiplexedConnection,
    generation: u64,
}

impl Guard for Handle<'_> {
    fn connection(&mut self) -> &mut MultiplexedConnection {
        &mut self.con
    }

    fn db(&self) -> i64 {
        self.con.get_db()
    }

    fn pool(&self) -> &Pool {
        self.pool
    }

    fn retire(&mut self) {
        self.shared.discard(self.generation);
    }
}

#[cfg(test)]
mod tests {
    use deadpool_redis::redis;

    use super::*;
    use crate::redis::{RedisOptions, pool};
    use crate::testing::{RedisServer, RedisServerOptions};

    async fn ping(con: &mut SharedHandle<'_>) -> std::result::Result<(), redis::RedisError> {
        redis::cmd("PING").query_async::<()>(con).await
    }

    #[tokio::test]
    async fn a_handle_on_a_replaced_connection_never_discards_its_replacement() {
        let server = RedisServer::spawn(RedisServerOptions::default());
        let pool = pool::build(&RedisOptions::from_url(server.url()).unwrap()).unwrap();
        let shared = SharedConnection::default();
        let mut first = shared.get(&pool, "test").await.unwrap();
        let mut second = shared.get(&pool, "test").await.unwrap();
        ping(&mut first).await.unwrap();

        server.kill();
        server.restart();
        ping(&mut first).await.expect_err("the connection lost its server");
        assert!(shared.lock().connection.is_none(), "the lost connection is dropped");
        let mut replacement = shared.get(&pool, "test").await.unwrap();
        ping(&mut replacement).await.unwrap();

        // `second` still holds the lost connection: its failure must leave the replacement held.
        ping(&mut second).await.expect_err("still the lost connection");
        assert!(shared.lock().connection.is_some(), "the replacement is still held");
        ping(&mut shared.get(&pool, "test").await.unwrap()).await.unwrap();
        assert_eq!(shared.lock().generation, 2, "no third connection was taken");
    }
}
