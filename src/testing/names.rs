//! Names no other test uses, so that tests sharing a server do not meet.

/// A PostgreSQL schema of one test's own (a plain identifier: letters, digits, `_`).
pub fn unique_schema() -> String {
    format!("test_{}", uuid::Uuid::new_v4().simple())
}

/// A Redis key prefix of one test's own.
pub fn unique_prefix() -> String {
    format!("bindu-test-{}", uuid::Uuid::new_v4().simple())
}
