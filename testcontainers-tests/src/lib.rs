//! The container helpers, as this crate has always offered them to its tests; they live in the
//! dev-only `bindu-test-support` crate (feature `containers`), shared with the rest of the
//! workspace.

pub use bindu_test_support::containers::*;
pub use bindu_test_support::{free_port, unique_schema};
