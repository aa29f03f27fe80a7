//! Test doubles and throwaway servers (feature `conformance`): a backend wrapper that injects
//! scripted faults, and PostgreSQL and Redis servers started from the installed binaries that a
//! test can kill, restart, freeze and resume.
//!
//! The workspace's own tests, benchmarks and examples reach these through the dev-only
//! `bindu-test-support` crate, which adds the containers and the killed-consumer process.

mod faulty;
mod names;
mod ports;
#[cfg(feature = "postgres")]
mod postgres_server;
#[cfg(any(feature = "postgres", feature = "redis"))]
mod process;
#[cfg(feature = "redis")]
mod redis_server;

pub use faulty::{Fault, Faulty};
pub use names::{unique_prefix, unique_schema};
pub use ports::free_port;
#[cfg(feature = "postgres")]
pub use postgres_server::{PostgresServer, TEST_PASSWORD};
#[cfg(feature = "redis")]
pub use redis_server::{RedisServer, RedisServerOptions};
