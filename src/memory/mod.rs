//! In-process backends: no services needed, same contracts as the others. Data lives as long as
//! the value does.

mod scheduler;
mod storage;

pub use scheduler::{InMemoryScheduler, InMemorySchedulerOptions};
pub use storage::InMemoryStorage;
