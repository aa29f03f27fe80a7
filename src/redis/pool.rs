//! Connections shared by the Redis backends: the pool (bounded waits, connect and response
//! timeouts from [`RedisOptions`]), pooled connections that leave the pool once spoiled, and the
//! server checks made on connect.

use deadpool_redis::redis::aio::{ConnectionLike, MultiplexedConnection};
use deadpool_redis::redis::{self, AsyncConnectionConfig, Cmd, Pipeline, RedisError, RedisFuture, Value};
use deadpool_redis::{Connection, Manager, Pool, QueueMode, Runtime};

use super::RedisOptions;
use super::error::{READ_ONLY, connect_error, is_read_only, pool_error};
use crate::error::{BackendError, Result, Transience};

/// A pool for `options` (no connection is opened yet).
pub(crate) fn build(options: &RedisOptions) -> Result<Pool> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(options.connect_timeout))
        .set_response_timeout(Some(options.response_timeout));
    let manager = Manager::new_with_config(options.connection_info()?, config)
        .map_err(|err| connect_error("configure the pool", err))?;
    Pool::builder(manager)
        .max_size(options.pool_size)
        .wait_timeout(Some(options.pool_wait_timeout))
        .create_timeout(Some(options.connect_timeout + options.response_timeout))
        .recycle_timeout(Some(options.response_timeout))
        // The most recently used connection first: a warm one, not whichever idled longest.
        .queue_mode(QueueMode::Lifo)
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|err| {
            BackendError::new("redis", Transience::Permanent, format!("build the pool: {err}")).into()
        })
}

/// Drops the pool's idle connections once one of them met a demoted server: they all talk to it,
/// and the pool's recycle check (`PING`) would not notice, as a replica answers it.
pub(crate) fn forget_idle(pool: &Pool) {
    pool.retain(|_, _| false);
}

/// Why a connection must not be used again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spoiled {
    /// It lost its server.
    Lost,
    /// Its server was demoted ([`is_read_only`](super::error::is_read_only)): so were the pool's other connections.
    Demoted,
}

/// Whether the connection that gave `result` must not be used again, and why. A server's error
/// reply arrives as a value inside `Ok` (the redis crate turns it into an error later), so the
/// replies are looked at too.
pub(crate) fn spoiled<T: Replies>(result: &Result<T, RedisError>) -> Option<Spoiled> {
    match result {
        Err(err) if is_read_only(err) => Some(Spoiled::Demoted),
        Err(err) if err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal() => {
            Some(Spoiled::Lost)
        }
        Err(_) => None,
        Ok(replies) => replies
            .replies()
            .iter()
            .any(|reply| matches!(reply, Value::ServerError(err) if err.code() == READ_ONLY))
            .then_some(Spoiled::Demoted),
    }
}

/// The replies of a command (one) or a pipeline (several).
pub(crate) trait Replies {
    fn replies(&self) -> &[Value];
}

impl Replies for Value {
    fn replies(&self) -> &[Value] {
        std::slice::from_ref(self)
    }
}

impl Replies for Vec<Value> {
    fn replies(&self) -> &[Value] {
        self
    }
}

/// A connection handle whose replies are watched (see [`Guarded`]): what it talks through, and
/// how it makes sure a spoiled connection is handed to nobody again.
pub(crate) trait Guard: Send {
    fn connection(&mut self) -> &mut MultiplexedConnection;
    fn db(&self) -> i64;
    fn pool(&self) -> &Pool;
    /// The connection proved spoiled: take it out of circulation.
    fn retire(&mut self);
}

/// A connection whose every reply is checked with [`spoiled`]: a spoiled connection is retired,
/// and a demoted server's idle connections with it.
pub(crate) struct Guarded<G>(G);

impl<G: Guard> Guarded<G> {
    pub(crate) fn new(guard: G) -> Self {
        Self(guard)
    }

    fn check<T: Replies>(&mut self, result: Result<T, RedisError>) -> Result<T, RedisError> {
        if let Some(why) = spoiled(&result) {
            self.0.retire();
            if why == Spoiled::Demoted {
                forget_idle(self.0.pool());
            }
        }
        result
    }
}

impl<G: Guard> ConnectionLike for Guarded<G> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = self.0.connection().req_packed_command(cmd).await;
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
            let result = self.0.connection().req_packed_commands(pipeline, offset, count).await;
            self.check(result)
        })
    }

    fn get_db(&self) -> i64 {
        self.0.db()
    }
}

/// A connection checked out of the pool. Once retired it is taken out of the pool: it serves the
/// rest of the caller's commands, if it can, and is closed instead of going back.
pub(crate) type PooledConnection = Guarded<Checkout>;

pub(crate) struct Checkout {
    /// `None` only while being retired.
    state: Option<Checked>,
    pool: Pool,
}

enum Checked {
    Pooled(Connection),
    Retired(MultiplexedConnection),
}

impl PooledConnection {
    /// A connection from `pool`, for `what`.
    pub(crate) async fn get(pool: &Pool, what: &str) -> Result<Self> {
        let connection = pool.get().await.map_err(|err| pool_error(what, err))?;
        Ok(Guarded(Checkout { state: Some(Checked::Pooled(connection)), pool: pool.clone() }))
    }
}

impl Guard for Checkout {
    fn connection(&mut self) -> &mut MultiplexedConnection {
        match self.state.as_mut().expect("a checkout") {
            Checked::Pooled(connection) => connection,
            Checked::Retired(connection) => connection,
        }
    }

    fn db(&self) -> i64 {
        match self.state.as_ref().expect("a checkout") {
            Checked::Pooled(connection) => connection.get_db(),
            Checked::Retired(connection) => connection.get_db(),
        }
    }

    fn pool(&self) -> &Pool {
        &self.pool
    }

    fn retire(&mut self) {
        self.state = match self.state.take() {
            Some(Checked::Pooled(connection)) => Some(Checked::Retired(Connection::take(connection))),
            retired => retired,
        };
    }
}

/// One cheap round trip (`PING`): health checks and circuit breaker probes.
pub(crate) async fn ping(con: &mut impl ConnectionLike) -> Result<()> {
    redis::cmd("PING")
        .query_async::<String>(con)
        .await
        .map_err(|err| super::error::command_error("ping", err))?;
    Ok(())
}

/// Warns when the server may evict keys: the backends' guarantees (nothing enqueued or stored is
/// lost) need `maxmemory-policy noeviction`, as they need AOF persistence. A server that does not
/// say (`INFO` disabled) is not warned about.
pub(crate) async fn warn_unless_noeviction(con: &mut impl ConnectionLike, shown_url: &str, role: &str) {
    let info = redis::cmd("INFO").arg("memory").query_async::<String>(con).await;
    let policy = match &info {
        Ok(info) => info.lines().find_map(|line| line.strip_prefix("maxmemory_policy:")).map(str::trim),
        Err(err) => {
            tracing::debug!(url = %shown_url, error = %err, "could not read the server's maxmemory-policy");
            return;
        }
    };
    match policy {
        Some("noeviction") | None => {}
        Some(policy) => tracing::warn!(
            url = %shown_url,
            maxmemory_policy = policy,
            role,
            "Redis may evict keys under memory pressure (maxmemory-policy {policy}): queued operations and \
             stored tasks could silently disappear; set maxmemory-policy noeviction"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{RedisServer, RedisServerOptions};

    async fn client_id(con: &mut PooledConnection) -> i64 {
        redis::cmd("CLIENT").arg("ID").query_async(con).await.unwrap()
    }

    #[tokio::test]
    async fn a_demoted_server_spoils_the_pooled_connections() {
        let server = RedisServer::spawn(RedisServerOptions::default());
        let pool = build(&RedisOptions::from_url(server.url()).unwrap()).unwrap();
        let (mut a, mut b) = (
            PooledConnection::get(&pool, "t").await.unwrap(),
            PooledConnection::get(&pool, "t").await.unwrap(),
        );
        let (first, idle) = (client_id(&mut a).await, client_id(&mut b).await);
        drop(b);
        let nowhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let () = redis::cmd("REPLICAOF").arg("127.0.0.1").arg(nowhere).query_async(&mut a).await.unwrap();
        let err = redis::cmd("SET").arg("k").arg("v").query_async::<()>(&mut a).await.unwrap_err();
        assert_eq!(spoiled::<Value>(&Err(err)), Some(Spoiled::Demoted));
        // What a connection hands back for one command: the error reply as a value.
        let mut set = redis::cmd("SET");
        set.arg("k").arg("v");
        let reply = ConnectionLike::req_packed_command(&mut a, &set).await;
        assert_eq!(spoiled(&reply), Some(Spoiled::Demoted), "{reply:?}");
        let other = redis::cmd("NOSUCHCOMMAND").query_async::<Value>(&mut a).await;
        assert_eq!(spoiled(&other), None, "{other:?}");
        let () = redis::cmd("REPLICAOF").arg("NO").arg("ONE").query_async(&mut a).await.unwrap();
        assert_eq!(client_id(&mut a).await, first, "the spoiled connection still serves its caller");
        drop(a);
        let mut fresh = PooledConnection::get(&pool, "t").await.unwrap();
        let id = client_id(&mut fresh).await;
        assert!(
            id != first && id != idle,
            "neither the spoiled nor the idle connection is reused: {id} {first} {idle}"
        );
        let () = redis::cmd("SET").arg("k").arg("v").query_async(&mut fresh).await.unwrap();
    }
}
