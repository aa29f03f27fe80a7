//! Settings read from the environment: retry policies, and the backends an app uses.

mod env;
mod retry;

pub use env::Env;
pub use retry::RetrySettings;
