//! Settings read from the environment: retry policies, and the backends an app uses.

mod app;
mod env;
mod retry;

pub use app::{AppSettings, SchedulerBackend, StorageBackend};
pub use env::Env;
pub use retry::RetrySettings;
