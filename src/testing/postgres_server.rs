//! A throwaway PostgreSQL server for tests.
