#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub, rust_2018_idioms)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod app;
pub mod error;
mod forwarding;
pub mod health;
pub mod memory;
pub mod model;
#[cfg(feature = "webhooks")]
pub mod notify;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod redact;
#[cfg(feature = "redis")]
pub mod redis;
pub mod retention;
pub mod retry;
pub mod scheduler;
pub mod settings;
pub mod storage;
pub mod telemetry;
pub mod worker;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
#[cfg(any(test, feature = "conformance"))]
pub mod testing;

pub use app::App;
pub use error::{BackendError, Entity, Error, GaveUp, Result, Transience};
pub use health::Health;
pub use memory::{InMemoryScheduler, InMemoryStorage};
pub use model::*;
pub use retry::{
    BreakerOptions, BudgetOptions, Call, CircuitBreaker, RetryBudget, RetryPolicy, Retrying,
    execute_with_retry,
};
pub use scheduler::{BatchHint, Delivery, Hold, OperationStream, Receipt, Scheduler, SchedulerExt};
pub use settings::{AppSettings, RetrySettings};
pub use storage::Storage;
