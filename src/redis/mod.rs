//! Redis backends (feature `redis`).
