//! Test doubles (feature `conformance`): a backend wrapper that injects scripted faults.

mod faulty;

pub use faulty::{Fault, Faulty};
