//! Test support for bindu (dev-only, not published): the live servers that the tests, benchmarks
//! and examples run against, and the helpers that go with them, written once.
//!
//! - [`PostgresServer`] and [`RedisServer`]: throwaway servers started from the installed
//!   binaries on free loopback ports, which a test can kill, restart, freeze and resume;
//! - [`containers`] (feature `containers`): the same servers in Docker containers, through
//!   testcontainers, on locally built images when no registry is reachable;
//! - [`consumer`]: a consumer process that receives an operation and is killed before it
//!   acknowledges it;
//! - [`free_port`], [`unique_schema`], [`unique_prefix`].
//!
//! Nothing here is skipped when a server cannot be had: the test panics and says what to install.

pub mod consumer;
#[cfg(feature = "containers")]
pub mod containers;
mod names;
mod ports;
mod postgres_server;
mod process;
mod redis_server;

pub use names::{unique_prefix, unique_schema};
pub use ports::free_port;
pub use postgres_server::{PostgresServer, TEST_PASSWORD};
pub use redis_server::{RedisServer, RedisServerOptions};
