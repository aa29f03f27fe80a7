//! Container-based integration tests for `bindu` (filled by a later issue).
