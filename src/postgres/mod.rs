//! PostgreSQL backends (feature `postgres`): [`PostgresStorage`] and [`PostgresScheduler`] on
//! deadpool-postgres and tokio-postgres, with embedded migrations and per-agent schemas.
//!
//! The shared pieces sit here: options, the pool and its one way of running a request
//! (`pool::run`), error classification, TLS and migrations; `storage/` and `scheduler/` hold
//! the two backends.
//!
//! ```no_run
//! # async fn run() -> bindu::Result<()> {
//! use bindu::Retrying;
//! use bindu::postgres::{PostgresOptions, PostgresStorage};
//! let storage = Retrying::new(PostgresStorage::connect("postgres://bindu:secret@localhost/bindu").await?);
//! let options = PostgresOptions::from_url("postgres://bindu:secret@localhost/bindu")?.in_schema("agent_7");
//! let another_agent = Retrying::new(PostgresStorage::connect_with(options).await?);
//! # Ok(()) }
//! ```

mod error;
mod migrations;
mod options;
mod pipeline;
mod pool;
mod scheduler;
mod storage;
mod tls;

use std::time::Duration;

pub use migrations::LATEST_VERSION;
pub use options::{PostgresOptions, TlsMode};
pub use pipeline::PostgresPipeline;
pub use scheduler::{PostgresScheduler, PostgresSchedulerOptions};
pub use storage::PostgresStorage;

/// A duration as the float seconds `make_interval(secs => …)` takes, capped at a century so that
/// an absurd lease or age saturates instead of overflowing the server's interval arithmetic.
pub(crate) fn seconds(duration: Duration) -> f64 {
    const CENTURY: f64 = 100.0 * 365.25 * 24.0 * 3600.0;
    duration.as_secs_f64().min(CENTURY)
}
