//! Test doubles (feature `conformance`): a backend wrapper that injects scripted faults.

mod faulty;

pub use faulty::{Fault, Faulty};
#[cfg(feature = "postgres")]
pub use postgres_server::{PostgresServer, TEST_PASSWORD};
#[cfg(feature = "postgres")]
mod postgres_server;
#[cfg(any(feature = "postgres", feature = "redis"))]
mod process;
#[cfg(feature = "redis")]
mod redis_server;
#[cfg(feature = "redis")]
pub use redis_server::{RedisServer, RedisServerOptions};
