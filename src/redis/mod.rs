//! Redis backends (feature `redis`): [`RedisStorage`] and [`RedisScheduler`] on deadpool-redis,
//! each under its own key prefix so that several agents can share one server.
//!
//! **What the server must be.** Redis 6.2 or newer (tested on 7.0). The guarantees — an
//! operation whose enqueue returned `Ok` is delivered until settled, a write that returned `Ok`
//! is kept — hold only on a server that
//!
//! - persists every write before answering: AOF with `appendfsync always`;
//! - never evicts keys: `maxmemory-policy noeviction` (writes then fail with a transient `OOM`
//!   instead of silently dropping queued operations or tasks). Both backends read the policy on
//!   connect and log a WARN naming the risk when it is anything else;
//! - is the primary. After a failover that demoted it without closing its connections, writes
//!   answer `READONLY`: that is a transient error, and the connection that got it is discarded
//!   (with the pool's idle ones), so the retry takes a fresh connection, which reaches the new
//!   primary through the same name, proxy or virtual IP.
//!
//! The URL's password may hold `/`, `?`, `#` or `@`, escaped or not; it never appears in logs,
//! errors or `Debug` output.
//!
//! ```no_run
//! # async fn run() -> bindu::Result<()> {
//! use bindu::Retrying;
//! use bindu::redis::{RedisOptions, RedisScheduler, RedisSchedulerOptions, RedisStorage};
//! let options = RedisOptions::from_url("redis://localhost:6379/0")?.with_prefix("agent-1");
//! let storage = Retrying::new(RedisStorage::connect_with(options.clone()).await?);
//! let scheduler = Retrying::new(RedisScheduler::connect_with(RedisSchedulerOptions::new(options)).await?);
//! # Ok(()) }
//! ```

mod error;
mod options;
mod pool;
mod scheduler;
mod storage;
pub(crate) mod url;

pub use options::RedisOptions;
pub use scheduler::{RedisKeys, RedisScheduler, RedisSchedulerOptions};
pub use storage::RedisStorage;
