//! Settings read from the environment: retry policies, and the backends an app uses.

mod app;
mod env;
mod input;
pub(crate) mod names;
mod network;
mod retention;
mod retry;
mod worker;

pub use app::{AppSettings, SchedulerBackend, StorageBackend};
pub use env::{Env, Seconds};
pub use network::{IpNetwork, is_public};
pub use retention::RetentionSettings;
pub use retry::{GuardSettings, RetrySettings};
pub use worker::WorkerSettings;
