//! PostgreSQL backends (feature `postgres`): [`PostgresStorage`] and [`PostgresScheduler`] on
//! deadpool-postgres and tokio-postgres, with embedded migrations and per-agent schemas.
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

mod contexts;
mod error;
mod lists;
mod migrations;
mod options;
mod pool;
mod records;
pub(crate) mod rows;
mod scheduler;
mod storage;
mod tasks;
mod tls;

pub use migrations::LATEST_VERSION;
pub use options::{PostgresOptions, TlsMode};
pub use scheduler::{DeadOperation, PostgresScheduler, PostgresSchedulerOptions};
pub use storage::PostgresStorage;
