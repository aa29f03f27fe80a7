//! PostgreSQL backends (feature `postgres`).
