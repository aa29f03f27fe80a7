//! The names an agent's data lives under — the Redis key prefix and the PostgreSQL schema — with
//! one rule each, checked both when settings are read (naming the variable) and by the backends'
//! options (for options built in code).

/// Longest Redis key prefix, in bytes: it is repeated in every key.
pub(crate) const MAX_PREFIX_BYTES: usize = 64;

/// Longest PostgreSQL schema name, in bytes: PostgreSQL truncates identifiers past 63.
pub(crate) const MAX_SCHEMA_BYTES: usize = 63;

/// Checks a Redis key prefix: 1 to [`MAX_PREFIX_BYTES`] bytes without braces (the keys use them
/// as a Redis Cluster hash tag), whitespace or control characters. The error says what is wrong.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() || prefix.len() > MAX_PREFIX_BYTES {
        return Err(format!("{prefix:?}: use 1 to {MAX_PREFIX_BYTES} bytes"));
    }
    if prefix.contains(['{', '}']) {
        return Err(format!("{prefix:?}: no braces (keys use them as a Redis Cluster hash tag)"));
    }
    if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{prefix:?}: no whitespace or control characters"));
    }
    Ok(())
}

/// Checks a PostgreSQL schema name: a plain identifier, because it is written into SQL — 1 to
/// [`MAX_SCHEMA_BYTES`] lower-case letters, digits and `_`, not starting with a digit.
pub(crate) fn check_schema(schema: &str) -> Result<(), String> {
    let valid = !schema.is_empty()
        && schema.len() <= MAX_SCHEMA_BYTES
        && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && schema.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{schema:?}: use 1–{MAX_SCHEMA_BYTES} lower-case letters, digits and _, not starting with a digit"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        for good in ["bindu", "agent-1", "a:b", &"x".repeat(64)] {
            check_prefix(good).unwrap();
        }
        for bad in ["", "a{b", "a}b", "a b", "a\nb", &"x".repeat(65)] {
            assert!(check_prefix(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn schemas() {
        for good in ["agent_7", "_x", &"s".repeat(63)] {
            check_schema(good).unwrap();
        }
        for bad in ["", "Agent", "7agent", "a-b", "a;drop", "é", &"x".repeat(64)] {
            assert!(check_schema(bad).is_err(), "{bad:?}");
        }
    }
}
