//! Test doubles (feature `conformance`): a backend wrapper that injects scripted faults.

mod faulty;

pub use faulty::{Fault, Faulty};
#[cfg(feature = "postgres")]
mod postgres_server;
#[cfg(feature = "redis")]
mod redis_server;
