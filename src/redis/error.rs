//! The one place where Redis and pool errors become classified [`Error`]s.
//!
//! - Not sent or refused by the server before running: **transient**. Connection refused, the
//!   pool had no connection in time, and the server's "not now" answers: `LOADING`, `TRYAGAIN`,
//!   `MASTERDOWN`, `CLUSTERDOWN`, `READONLY` (a failover demoted the node), `BUSY` (a script
//!   runs), `OOM` (consumers free memory as they acknowledge), `NOREPLICAS`, `UNBLOCKED`.
//! - Sent, answer lost: **uncertain**. A dropped connection or a response timeout after the
//!   command went out; the command may have run.
//! - A transaction refused as a whole (`EXECABORT`: nothing ran) is as transient as the errors
//!   its commands were refused with.
//! - Everything else is **permanent**: type errors (`WRONGTYPE`, a reply that does not parse),
//!   unknown commands, `NOSCRIPT` surfacing past the script helper, authentication and
//!   permission failures, `MISCONF`, cluster redirects (this backend does not speak cluster).
//!
//! A connection that lost its server, or whose server answers `READONLY` ([`is_read_only`]: a
//! failover demoted it but left its connections open), is not used again (see `pool.rs`): the
//! next command takes a fresh one, which reaches the new primary.
//!
//! The redis crate's own `retry_method()` is not used as "transient": it says `Reconnect` for
//! parse and authentication errors, which would retry type bugs and bad passwords forever.

use deadpool_redis::{PoolError, redis};
use redis::{ErrorKind, RedisError, RetryMethod, ServerErrorKind};

use crate::error::{BackendError, Error, Transience};

const BACKEND: &str = "redis";

/// How retrying a command that failed with `err` behaves.
pub(crate) fn transience(err: &RedisError) -> Transience {
    if err.is_connection_refusal() {
        return Transience::Transient;
    }
    match err.kind() {
        ErrorKind::Io => io_transience(err),
        // `MULTI`/`EXEC` refused as a whole (nothing ran): as transient as what refused it, e.g.
        // the `READONLY` of each queued write on a demoted primary.
        ErrorKind::Server(ServerErrorKind::ExecAbort) => {
            let codes = queued_error_codes(err);
            if !codes.is_empty() && codes.iter().all(|code| code_transience(code) == Transience::Transient) {
                Transience::Transient
            } else {
                Transience::Permanent
            }
        }
        ErrorKind::Server(_) | ErrorKind::Extension => {
            err.code().map_or(Transience::Permanent, code_transience)
        }
        _ => Transience::Permanent,
    }
}

/// The server's "not now" answers.
fn code_transience(code: &str) -> Transience {
    match code {
        "LOADING" | "TRYAGAIN" | "MASTERDOWN" | "CLUSTERDOWN" | "READONLY" | "BUSY" | "OOM"
        | "NOREPLICAS" | "UNBLOCKED" => Transience::Transient,
        _ => Transience::Permanent,
    }
}

/// The codes of the errors inside an aborted transaction (`EXECABORT`).
fn queued_error_codes(err: &RedisError) -> Vec<String> {
    err.clone()
        .into_server_errors()
        .map(|errors| errors.iter().map(|(_, error)| error.code().to_owned()).collect())
        .unwrap_or_default()
}

/// `READONLY`: the server is a replica now. After a failover that demoted the primary without
/// closing its connections, every connection to it answers writes this way while fresh ones
/// (through the same name, proxy or virtual IP) reach the new primary.
pub(crate) fn is_read_only(err: &RedisError) -> bool {
    err.code() == Some(READ_ONLY) || queued_error_codes(err).iter().any(|code| code == READ_ONLY)
}

/// The code of the error a demoted server answers writes with.
pub(crate) const READ_ONLY: &str = "READONLY";

fn io_transience(err: &RedisError) -> Transience {
    // The crate says `NoRetry` for an I/O error only for `PermissionDenied` and `Unsupported`
    // (a socket we may not open): configuration, not weather.
    if matches!(err.retry_method(), RetryMethod::NoRetry) {
        Transience::Permanent
    } else {
        Transience::Uncertain
    }
}

/// `err` from a command (`what`, e.g. `enqueue`), classified.
pub(crate) fn command_error(what: &str, err: RedisError) -> Error {
    let transience = transience(&err);
    classified(what, transience, err)
}

/// `err` from opening a connection: none of our commands was sent, so what would be uncertain
/// for a command is transient here.
pub(crate) fn connect_error(what: &str, err: RedisError) -> Error {
    let transience = match transience(&err) {
        Transience::Uncertain => Transience::Transient,
        other => other,
    };
    classified(what, transience, err)
}

/// `err` from a command that changes nothing (a read, a `WATCH` before `EXEC`): even a lost
/// answer means nothing was applied, so what would be uncertain is transient.
pub(crate) fn read_error(what: &str, err: RedisError) -> Error {
    connect_error(what, err)
}

/// `err` from taking a pooled connection.
pub(crate) fn pool_error(what: &str, err: PoolError) -> Error {
    match err {
        PoolError::Timeout(kind) => BackendError::new(
            BACKEND,
            Transience::Transient,
            format!("{what}: no pooled connection in time ({kind:?} timeout)"),
        )
        .into(),
        PoolError::Backend(err) => connect_error(what, err),
        PoolError::Closed => Error::Closed("redis scheduler"),
        other => BackendError::new(BACKEND, Transience::Permanent, format!("{what}: {other}")).into(),
    }
}

/// The consumer group (or the stream with it) is gone: Redis lost its data, or someone deleted
/// the key. The receiver recreates the group and goes on.
pub(crate) fn is_missing_group(err: &RedisError) -> bool {
    err.code() == Some("NOGROUP")
}

/// [`is_missing_group`] for an error already classified.
pub(crate) fn lost_group(err: &Error) -> bool {
    match err {
        Error::Backend(backend) => backend
            .source
            .as_deref()
            .and_then(|source| source.downcast_ref::<RedisError>())
            .is_some_and(is_missing_group),
        _ => false,
    }
}

/// The group exists already (`XGROUP CREATE` is not idempotent on its own).
pub(crate) fn is_existing_group(err: &RedisError) -> bool {
    err.code() == Some("BUSYGROUP")
}

fn classified(what: &str, transience: Transience, err: RedisError) -> Error {
    // The redis crate's messages carry no URL or password; the source keeps the details.
    BackendError::new(BACKEND, transience, format!("{what}: {err}")).with_source(err).into()
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::time::Duration;

    use redis::{AsyncConnectionConfig, Client, Value};

    use super::*;
    use crate::testing::{RedisServer, RedisServerOptions};

    fn parsed(reply: &str) -> RedisError {
        redis::parse_redis_value(reply.as_bytes()).unwrap().extract_error().unwrap_err()
    }

    async fn connect(url: &str, response_timeout: Duration) -> redis::aio::MultiplexedConnection {
        let config = AsyncConnectionConfig::new()
            .set_response_timeout(Some(response_timeout))
            .set_connection_timeout(Some(Duration::from_secs(2)));
        Client::open(url).unwrap().get_multiplexed_async_connection_with_config(&config).await.unwrap()
    }

    /// A real reply with `code` from the server, produced by a Lua script.
    async fn server_error(con: &mut redis::aio::MultiplexedConnection, reply: &str) -> RedisError {
        redis::cmd("EVAL")
            .arg("return redis.error_reply(ARGV[1])")
            .arg(0)
            .arg(reply)
            .query_async::<Value>(con)
            .await
            .unwrap_err()
    }

    const TRANSIENT_REPLIES: [&str; 9] = [
        "LOADING Redis is loading the dataset in memory",
        "TRYAGAIN Multiple keys request during rehashing of slot",
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        "CLUSTERDOWN The cluster is down",
        "READONLY You can't write against a read only replica.",
        "BUSY Redis is busy running a script.",
        "OOM command not allowed when used memory > 'maxmemory'.",
        "NOREPLICAS Not enough good replicas to write.",
        "UNBLOCKED the stream key no longer exists",
    ];
    const PERMANENT_REPLIES: [&str; 7] = [
        "WRONGTYPE Operation against a key holding the wrong kind of value",
        "ERR unknown command 'NOPE'",
        "NOSCRIPT No matching script.",
        "NOPERM this user has no permissions to run the 'xadd' command",
        "MISCONF Redis is configured to save RDB snapshots, but it's unable to persist.",
        "MOVED 3999 127.0.0.1:6381",
        "NOGROUP No such key 'k' or consumer group 'g'",
    ];

    #[test]
    fn server_replies_parsed_offline() {
        for reply in TRANSIENT_REPLIES {
            let reply = format!("-{reply}\r\n");
            assert_eq!(transience(&parsed(&reply)), Transience::Transient, "{reply}");
        }
        for reply in PERMANENT_REPLIES {
            let reply = format!("-{reply}\r\n");
            assert_eq!(transience(&parsed(&reply)), Transience::Permanent, "{reply}");
        }
        assert!(is_missing_group(&parsed("-NOGROUP No such key\r\n")));
        assert!(lost_group(&command_error("read", parsed("-NOGROUP No such key\r\n"))));
        assert!(!lost_group(&command_error("read", parsed("-ERR other\r\n"))));
        assert!(is_existing_group(&parsed("-BUSYGROUP Consumer Group name already exists\r\n")));
    }

    #[test]
    fn io_errors_by_kind() {
        let io = |kind: io::ErrorKind| RedisError::from(io::Error::from(kind));
        for (kind, expected) in [
            (io::ErrorKind::ConnectionRefused, Transience::Transient),
            (io::ErrorKind::TimedOut, Transience::Uncertain),
            (io::ErrorKind::ConnectionReset, Transience::Uncertain),
            (io::ErrorKind::BrokenPipe, Transience::Uncertain),
            (io::ErrorKind::UnexpectedEof, Transience::Uncertain),
            (io::ErrorKind::PermissionDenied, Transience::Permanent),
            (io::ErrorKind::Unsupported, Transience::Permanent),
        ] {
            assert_eq!(transience(&io(kind)), expected, "{kind:?}");
        }
    }

    #[tokio::test]
    async fn server_replies_from_a_real_server() {
        let server = RedisServer::start();
        let mut con = connect(server.url(), Duration::from_secs(2)).await;
        for reply in TRANSIENT_REPLIES {
            let err = server_error(&mut con, reply).await;
            assert_eq!(transience(&err), Transience::Transient, "{reply}: {err:?}");
        }
        for reply in PERMANENT_REPLIES {
            let err = server_error(&mut con, reply).await;
            assert_eq!(transience(&err), Transience::Permanent, "{reply}: {err:?}");
        }
    }

    #[tokio::test]
    async fn writes_to_a_demoted_server_are_transient() {
        let server = RedisServer::spawn(RedisServerOptions::default());
        let mut con = connect(server.url(), Duration::from_secs(2)).await;
        let nowhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let () = redis::cmd("REPLICAOF").arg("127.0.0.1").arg(nowhere).query_async(&mut con).await.unwrap();
        let plain = redis::cmd("SET").arg("k").arg("v").query_async::<Value>(&mut con).await;
        let transaction =
            redis::pipe().atomic().set("k", "v").incr("n", 1).query_async::<Value>(&mut con).await;
        let script = redis::Script::new("return redis.call('SET', KEYS[1], 'v')")
            .key("k")
            .invoke_async::<Value>(&mut con)
            .await;
        for (name, result) in [("plain", plain), ("MULTI/EXEC", transaction), ("script", script)] {
            let err = result.unwrap_err();
            assert!(is_read_only(&err), "{name}: {err:?}");
            assert_eq!(transience(&err), Transience::Transient, "{name}: {err:?}");
        }
        let () = redis::cmd("REPLICAOF").arg("NO").arg("ONE").query_async(&mut con).await.unwrap();
        let refused = parsed("-EXECABORT Transaction discarded because of previous errors.\r\n");
        assert_eq!(transience(&refused), Transience::Permanent, "no queued errors to go by");
        assert!(!is_read_only(&parsed("-ERR other\r\n")));
    }

    #[tokio::test]
    async fn real_command_errors_are_permanent() {
        let server = RedisServer::start();
        let key = format!("{}:plain", RedisServer::unique_prefix());
        let mut con = connect(server.url(), Duration::from_secs(2)).await;
        let () = redis::cmd("SET").arg(&key).arg("v").query_async(&mut con).await.unwrap();
        let wrong_type =
            redis::cmd("XADD").arg(&key).arg("*").arg("f").arg("v").query_async::<Value>(&mut con).await;
        let unknown = redis::cmd("NOSUCHCOMMAND").query_async::<Value>(&mut con).await;
        let no_script = redis::cmd("EVALSHA").arg("0".repeat(40)).arg(0).query_async::<Value>(&mut con).await;
        let not_a_number = redis::cmd("GET").arg(&key).query_async::<i64>(&mut con).await;
        for (name, result, code) in [
            ("WRONGTYPE", wrong_type.map(drop), Some("WRONGTYPE")),
            ("unknown command", unknown.map(drop), Some("ERR")),
            ("NOSCRIPT", no_script.map(drop), Some("NOSCRIPT")),
            ("parse", not_a_number.map(drop), None),
        ] {
            let err = result.unwrap_err();
            assert_eq!(err.code(), code, "{name}: {err:?}");
            assert_eq!(transience(&err), Transience::Permanent, "{name}: {err:?}");
            let classified = command_error("test", err);
            assert!(!classified.is_retryable(true), "{name}: {classified}");
        }
    }

    #[tokio::test]
    async fn refused_connections_are_transient() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("redis://127.0.0.1:{port}/0");
        let err = Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap_err();
        assert!(err.is_connection_refusal(), "{err:?}");
        assert_eq!(transience(&err), Transience::Transient);
        assert_eq!(connect_error("connect", err).transience(), Transience::Transient);
        let pool =
            deadpool_redis::Config::from_url(url).create_pool(Some(deadpool_redis::Runtime::Tokio1)).unwrap();
        let err = pool.get().await.err().expect("nothing listens");
        assert_eq!(pool_error("enqueue", err).transience(), Transience::Transient);
    }

    #[tokio::test]
    async fn timeouts_and_dropped_connections_are_uncertain() {
        let server = RedisServer::start();
        let key = format!("{}:list", RedisServer::unique_prefix());
        let mut slow = connect(server.url(), Duration::from_millis(100)).await;
        let err = redis::cmd("BLPOP").arg(&key).arg(1).query_async::<Value>(&mut slow).await.unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert_eq!(transience(&err), Transience::Uncertain);
        // A connection connected fine, then killed by the server.
        let mut victim = connect(server.url(), Duration::from_secs(2)).await;
        let id: i64 = redis::cmd("CLIENT").arg("ID").query_async(&mut victim).await.unwrap();
        let mut admin = connect(server.url(), Duration::from_secs(2)).await;
        let killed: i64 =
            redis::cmd("CLIENT").arg("KILL").arg("ID").arg(id).query_async(&mut admin).await.unwrap();
        assert_eq!(killed, 1);
        let err = redis::cmd("PING").query_async::<Value>(&mut victim).await.unwrap_err();
        assert!(err.is_connection_dropped(), "{err:?}");
        assert_eq!(transience(&err), Transience::Uncertain);
        assert_eq!(connect_error("connect", err).transience(), Transience::Transient);
    }

    #[tokio::test]
    async fn authentication_failures_are_permanent_and_hide_the_password() {
        let password = "right-horse-battery-staple";
        let server =
            RedisServer::spawn(RedisServerOptions { password: Some(password.into()), ..Default::default() });
        let port = server.port().unwrap();
        let wrong = format!("redis://:wrong-password-123@127.0.0.1:{port}");
        let missing = format!("redis://127.0.0.1:{port}");
        for (url, expected) in [(wrong, "WRONGPASS"), (missing, "NOAUTH")] {
            let client = Client::open(url.as_str()).unwrap();
            let err = match client.get_multiplexed_async_connection().await {
                Err(err) => err,
                // Without a password the handshake succeeds and the first command is refused.
                Ok(mut con) => redis::cmd("PING").query_async::<Value>(&mut con).await.unwrap_err(),
            };
            let described = format!("{:?} {:?} {err}", err.kind(), err.code());
            assert!(
                described.contains(expected) || err.kind() == ErrorKind::AuthenticationFailed,
                "{described}"
            );
            assert_eq!(transience(&err), Transience::Permanent, "{err:?}");
            let classified = connect_error("connect", err);
            let text = format!("{classified} {classified:?}");
            assert!(!text.contains("wrong-password-123") && !text.contains(password), "{text}");
        }
    }

    #[tokio::test]
    async fn pool_timeouts_are_transient_and_a_closed_pool_is_closed() {
        let server = RedisServer::start();
        let manager = deadpool_redis::Manager::new(server.url()).unwrap();
        let pool = deadpool_redis::Pool::builder(manager)
            .max_size(1)
            .wait_timeout(Some(Duration::from_millis(50)))
            .runtime(deadpool_redis::Runtime::Tokio1)
            .build()
            .unwrap();
        let held = pool.get().await.unwrap();
        let err = pool.get().await.err().expect("the only connection is held");
        assert_eq!(pool_error("enqueue", err).transience(), Transience::Transient);
        drop(held);
        pool.close();
        let err = pool.get().await.err().expect("closed");
        assert!(matches!(pool_error("enqueue", err), Error::Closed(_)));
    }
}
