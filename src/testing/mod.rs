//! Test doubles (feature `conformance`): a backend wrapper that injects scripted faults.
//!
//! The throwaway PostgreSQL and Redis servers the crate's own tests run against live in the
//! dev-only `bindu-test-support` crate of this workspace.

mod faulty;

pub use faulty::{Fault, Faulty};
