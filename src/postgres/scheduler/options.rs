//! [`PostgresSchedulerOptions`].

use std::time::Duration;

use crate::error::Result;
use crate::postgres::PostgresOptions;

/// How a [`PostgresScheduler`](super::PostgresScheduler) runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresSchedulerOptions {
    /// Where the queue lives (its table is in `postgres.schema`).
    pub postgres: PostgresOptions,
    /// How long a delivery is leased to its receiver before another may claim it. A receiver
    /// working longer calls [`Delivery::keep_alive`](crate::Delivery::keep_alive).
    pub lease: Duration,
    /// How often an idle receiver looks for work when no notification arrives (the fallback
    /// for lost notifications and expired leases).
    pub poll_interval: Duration,
    /// Deliveries after which an unsettled operation is delivered once more flagged
    /// [`Delivery::over_limit`](crate::Delivery::over_limit), then dead-lettered.
    pub max_deliveries: u32,
    /// Names this process's receivers in the table (for debugging).
    pub consumer: String,
}

impl PostgresSchedulerOptions {
    /// Defaults for `url`: 30 s lease, 1 s poll, 5 deliveries. Acknowledged operations are kept
    /// (so that a late replay of their enqueue is recognised) until
    /// [`prune`](crate::Scheduler::prune)d; `App` does that on its own (`RETENTION_OPERATIONS`).
    pub fn from_url(url: &str) -> Result<Self> {
        Ok(Self::new(PostgresOptions::from_url(url)?))
    }

    /// Defaults on top of `postgres`.
    pub fn new(postgres: PostgresOptions) -> Self {
        Self {
            postgres,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            max_deliveries: 5,
            consumer: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
        }
    }
}
