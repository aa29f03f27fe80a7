//! Classifying PostgreSQL failures, in one place: what tokio-postgres and deadpool report becomes
//! an [`Error`] with a [`Transience`].
//!
//! - **Transient** (not applied): the connection could not be made or was lost before the work
//!   was committed; SQLSTATE class 08, serialization failure 40001, deadlock 40P01, too many
//!   connections 53300, shutdown 57P01–57P03 outside a commit; pool wait or create timeouts.
//! - **Uncertain** (may be applied): an I/O error or closed connection while a statement that
//!   commits (autocommit, or COMMIT) was in flight, and so a server-sent class 08 or shutdown
//!   (57P01–57P03) error then too — the server may have committed before it went away; 08007 and
//!   40003 (the server itself cannot say); a statement timeout (57014); our own request timeout.
//! - **Permanent**: bad credentials, unknown database, syntax, constraint and data errors,
//!   decoding failures, everything else. A unique violation is a conflict; a foreign key to a
//!   missing task is "not found".

use std::io;

use deadpool_postgres::{PoolError, TimeoutType};
use tokio_postgres::error::SqlState;

use crate::error::{BackendError, Error, Transience};

const BACKEND: &str = "postgres";

/// Where an operation was when it failed: this decides what a lost connection means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Getting or opening a connection: nothing was sent.
    Connect,
    /// Inside a transaction before COMMIT: the server rolls back what it has.
    Transaction,
    /// A statement that commits (autocommit, or COMMIT): it may have been applied.
    Commit,
}

/// Classifies a driver error.
pub(crate) fn classify(err: tokio_postgres::Error, phase: Phase) -> Error {
    if let Some(db) = err.as_db_error() {
        let code = db.code().clone();
        let message = format!("{} ({}): {}", db.severity(), code.code(), db.message());
        return classify_sqlstate(&code, phase, message, err);
    }
    let (transience, what) = match io_kind(&err) {
        // While connecting, a name that does not resolve (yet: a database host still starting)
        // is worth waiting for too. A TLS handshake failure (invalid data) or a server of the
        // wrong kind (permission denied) is not.
        Some(kind)
            if is_connection_io(kind) || (phase == Phase::Connect && kind == io::ErrorKind::InvalidInput) =>
        {
            (lost_connection(phase), format!("connection problem ({kind})"))
        }
        Some(kind) => (Transience::Permanent, format!("I/O error ({kind})")),
        None if err.is_closed() => (lost_connection(phase), "the connection is closed".to_owned()),
        None => (Transience::Permanent, "unexpected driver error".to_owned()),
    };
    backend(transience, format!("{what}: {err}"), err)
}

/// [`classify`] for a statement inside a transaction, before COMMIT: a lost connection means
/// nothing was applied.
pub(crate) fn in_transaction(err: tokio_postgres::Error) -> Error {
    classify(err, Phase::Transaction)
}

/// [`classify`] for a statement that commits (autocommit, or COMMIT itself): a lost connection
/// means it may have been applied.
pub(crate) fn committing(err: tokio_postgres::Error) -> Error {
    classify(err, Phase::Commit)
}

/// Classifies a pool error.
pub(crate) fn classify_pool(err: PoolError) -> Error {
    match err {
        PoolError::Timeout(TimeoutType::Wait) => Error::Backend(BackendError::new(
            BACKEND,
            Transience::Transient,
            "timed out waiting for a pooled connection",
        )),
        PoolError::Timeout(TimeoutType::Create) => Error::Backend(BackendError::new(
            BACKEND,
            Transience::Transient,
            "timed out opening a connection",
        )),
        PoolError::Timeout(TimeoutType::Recycle) => Error::Backend(BackendError::new(
            BACKEND,
            Transience::Transient,
            "timed out checking a pooled connection",
        )),
        PoolError::Backend(err) => classify(err, Phase::Connect),
        PoolError::Closed => Error::Closed("postgres"),
        PoolError::NoRuntimeSpecified => Error::Backend(BackendError::new(
            BACKEND,
            Transience::Permanent,
            "the pool has no runtime for its timeouts",
        )),
        PoolError::PostCreateHook(err) => Error::Backend(BackendError::new(
            BACKEND,
            Transience::Permanent,
            format!("connection set-up failed: {err}"),
        )),
    }
}

/// Our own per-request timeout fired while a statement was in flight.
pub(crate) fn timed_out(after: std::time::Duration) -> Error {
    Error::Backend(BackendError::new(
        BACKEND,
        Transience::Uncertain,
        format!("no answer within {after:?}: the server may be stalled; the request may have been applied"),
    ))
}

fn classify_sqlstate(code: &SqlState, phase: Phase, message: String, err: tokio_postgres::Error) -> Error {
    let transience = match code {
        c if *c == SqlState::TRANSACTION_RESOLUTION_UNKNOWN
            || *c == SqlState::T_R_STATEMENT_COMPLETION_UNKNOWN
            // statement_timeout: the statement was cancelled, but a COMMIT may have gone through.
            || *c == SqlState::QUERY_CANCELED =>
        {
            Transience::Uncertain
        }
        c if *c == SqlState::PROTOCOL_VIOLATION => Transience::Permanent,
        // The connection is going or gone: as for a connection lost without a word, whether a
        // commit in flight happened cannot be known.
        c if c.code().starts_with("08")
            || *c == SqlState::ADMIN_SHUTDOWN
            || *c == SqlState::CRASH_SHUTDOWN
            || *c == SqlState::CANNOT_CONNECT_NOW =>
        {
            lost_connection(phase)
        }
        c if *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::TOO_MANY_CONNECTIONS
            || *c == SqlState::LOCK_NOT_AVAILABLE =>
        {
            Transience::Transient
        }
        c if *c == SqlState::UNIQUE_VIOLATION => {
            return backend(Transience::Permanent, format!("conflict: {message}"), err);
        }
        c if *c == SqlState::UNTRANSLATABLE_CHARACTER || *c == SqlState::CHARACTER_NOT_IN_REPERTOIRE => {
            // The server's message quotes the input; the code says enough.
            return Error::Invalid {
                what: "text",
                reason: format!(
                    "PostgreSQL cannot store it (SQLSTATE {}: the NUL character \\u0000?)",
                    code.code()
                ),
            };
        }
        c if *c == SqlState::INVALID_PASSWORD || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION => {
            return backend(Transience::Permanent, format!("authentication failed: {message}"), err);
        }
        c if *c == SqlState::INVALID_CATALOG_NAME => {
            return backend(Transience::Permanent, format!("the database does not exist: {message}"), err);
        }
        _ => Transience::Permanent,
    };
    backend(transience, message, err)
}

fn backend(transience: Transience, message: String, err: tokio_postgres::Error) -> Error {
    Error::Backend(BackendError::new(BACKEND, transience, message).with_source(err))
}

fn lost_connection(phase: Phase) -> Transience {
    match phase {
        Phase::Connect | Phase::Transaction => Transience::Transient,
        Phase::Commit => Transience::Uncertain,
    }
}

/// The kind of the I/O error under a driver error. Parse and encode errors also wrap an
/// `io::Error` (InvalidData/InvalidInput), so callers look at the kind, not at its presence.
fn io_kind(err: &tokio_postgres::Error) -> Option<io::ErrorKind> {
    let mut source = std::error::Error::source(err);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<io::Error>() {
            return Some(io.kind());
        }
        source = current.source();
    }
    None
}

fn is_connection_io(kind: io::ErrorKind) -> bool {
    use io::ErrorKind::*;
    matches!(
        kind,
        ConnectionRefused
            | ConnectionReset
            | ConnectionAborted
            | NotConnected
            | BrokenPipe
            | TimedOut
            | UnexpectedEof
            | Interrupted
            | WouldBlock
            | AddrNotAvailable
            | HostUnreachable
            | NetworkUnreachable
            | NetworkDown
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::postgres::{PostgresOptions, PostgresStorage};
    use crate::testing::{PostgresServer, TEST_PASSWORD};

    /// A real error with SQLSTATE `code`, raised by the server.
    async fn raised(client: &deadpool_postgres::Object, code: &str) -> tokio_postgres::Error {
        let sql = format!("DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '{code}'; END $$");
        client.batch_execute(&sql).await.expect_err("the DO block raises")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn real_driver_errors_are_classified() {
        let server = PostgresServer::start();
        let storage = PostgresStorage::connect_with(server.options()).await.unwrap();
        let client = storage.pool().get().await.unwrap();
        use Transience::{Permanent, Transient, Uncertain};
        // (code, inside a transaction or connecting, during a commit)
        let table = [
            ("08006", Transient, Uncertain),
            ("08001", Transient, Uncertain),
            ("08003", Transient, Uncertain),
            ("57P01", Transient, Uncertain),
            ("57P02", Transient, Uncertain),
            ("57P03", Transient, Uncertain),
            ("40001", Transient, Transient),
            ("40P01", Transient, Transient),
            ("53300", Transient, Transient),
            ("55P03", Transient, Transient),
            ("08007", Uncertain, Uncertain),
            ("40003", Uncertain, Uncertain),
            ("57014", Uncertain, Uncertain),
            ("08P01", Permanent, Permanent),
            ("23505", Permanent, Permanent),
            ("42601", Permanent, Permanent),
            ("42P01", Permanent, Permanent),
            ("22012", Permanent, Permanent),
            ("53100", Permanent, Permanent),
            ("28P01", Permanent, Permanent),
            ("3D000", Permanent, Permanent),
        ];
        for (code, before_commit, committing) in table {
            for phase in [Phase::Connect, Phase::Transaction] {
                let err = classify(raised(&client, code).await, phase);
                assert_eq!(err.transience(), before_commit, "{code} in {phase:?}: {err}");
            }
            let err = classify(raised(&client, code).await, Phase::Commit);
            assert_eq!(err.transience(), committing, "{code} committing: {err}");
        }
        let conflict = classify(raised(&client, "23505").await, Phase::Commit).to_string();
        assert!(conflict.contains("conflict"), "{conflict}");
        let nul = classify(raised(&client, "22P05").await, Phase::Commit);
        assert!(matches!(nul, Error::Invalid { what: "text", .. }), "{nul:?}");
        assert!(!nul.to_string().contains("raised"), "the server's message stays out: {nul}");
        // A real syntax error and a real decode error.
        let syntax = classify(client.batch_execute("SELEC 1").await.unwrap_err(), Phase::Commit);
        assert_eq!(syntax.transience(), Transience::Permanent);
        let row = client.query_one("SELECT 'not a number'::text AS value", &[]).await.unwrap();
        let decode = crate::postgres::storage::codec::get::<i64>(&row, "value").unwrap_err();
        assert!(matches!(decode, Error::Decode { .. }), "{decode:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lost_connection_is_uncertain_only_when_it_may_have_committed() {
        let server = PostgresServer::start();
        let storage = PostgresStorage::connect_with(server.options()).await.unwrap();
        for (phase, expected) in
            [(Phase::Commit, Transience::Uncertain), (Phase::Transaction, Transience::Transient)]
        {
            let client = storage.pool().get().await.unwrap();
            let terminated =
                client.batch_execute("SELECT pg_terminate_backend(pg_backend_pid())").await.unwrap_err();
            // The server says 57P01 (admin shutdown) as it goes: what was in flight may have
            // committed, unless it was inside a transaction.
            assert_eq!(terminated.code(), Some(&SqlState::ADMIN_SHUTDOWN), "{terminated}");
            assert_eq!(classify(terminated, phase).transience(), expected, "57P01 in {phase:?}");
            let next = client.batch_execute("SELECT 1").await.unwrap_err();
            assert!(next.is_closed() || io_kind(&next).is_some(), "{next}");
            assert_eq!(classify(next, phase).transience(), expected, "{phase:?}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connection_and_pool_failures_are_classified() {
        let server = PostgresServer::start();
        let url = |password: &str, database: &str| {
            format!("postgres://postgres:{password}@127.0.0.1:{}/{database}", server.port())
        };
        let cases = [
            (
                format!("postgres://postgres:{TEST_PASSWORD}@127.0.0.1:1/postgres"),
                Transience::Transient,
                "refused",
            ),
            (url("wrong", "postgres"), Transience::Permanent, "authentication failed"),
            (url(TEST_PASSWORD, "missing_db"), Transience::Permanent, "does not exist"),
        ];
        for (url, expected, text) in cases {
            let err = PostgresStorage::connect(&url).await.unwrap_err();
            assert_eq!(err.transience(), expected, "{err}");
            assert!(err.to_string().contains(text), "{err}");
        }
        let mut options = PostgresOptions::from_url(server.url()).unwrap();
        options.pool_size = 1;
        options.wait_timeout = Duration::from_millis(50);
        let storage = PostgresStorage::connect_with(options).await.unwrap();
        let _held = storage.pool().get().await.unwrap();
        let waited = classify_pool(storage.pool().get().await.unwrap_err());
        assert_eq!(waited.transience(), Transience::Transient, "{waited}");
        storage.pool().close();
        assert!(matches!(classify_pool(storage.pool().get().await.unwrap_err()), Error::Closed(_)));
    }
}
