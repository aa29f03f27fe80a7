//! Test support for bindu (dev-only, not published): the live servers that the tests, benchmarks
//! and examples run against, and the helpers that go with them, written once.
//!
//! - [`PostgresServer`] and [`RedisServer`]: throwaway servers started from the installed
//!   binaries on free loopback ports, which a test can kill, restart, freeze and resume (from
//!   `bindu::testing`, where applications' own tests find them too);
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

pub use bindu::testing::{
    PostgresServer, RedisServer, RedisServerOptions, TEST_PASSWORD, free_port, unique_prefix, unique_schema,
};
