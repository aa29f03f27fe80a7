//! A throwaway Redis server for tests.
