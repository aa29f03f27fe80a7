//! [`PostgresScheduler`]: the scheduler contract on a PostgreSQL queue table.
//!
//! Receivers claim the oldest claimable operation with `FOR UPDATE SKIP LOCKED` and lease it;
//! acknowledging marks it done, an expired lease makes it claimable again (a dead receiver's
//! operation is delivered to another), and one delivered more than `max_deliveries` times is
//! dead-lettered. Enqueue is `INSERT … ON CONFLICT (id) DO NOTHING` plus `NOTIFY`, so replays
//! deliver nothing twice, and it can run inside the caller's transaction
//! ([`PostgresScheduler::enqueue_in`]) so a task and its run commit together.

mod listener;
mod options;
mod queries;
mod receipt;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Pool};
use tokio::sync::Notify;

pub use options::PostgresSchedulerOptions;
pub use queries::DeadOperation;

use self::listener::Listener;
use self::queries::Claimed;
use self::receipt::LeaseReceipt;
use super::error::classify_pool;
use super::pool::Checkout;
use super::{migrations, pool};
use crate::error::{Error, Result};
use crate::model::{Action, OperationId, TaskIdParams, TaskOperation, TaskSendParams};
use crate::retry::RetryPolicy;
use crate::scheduler::{Delivery, OperationStream, Scheduler};

/// A scheduler on PostgreSQL. `Debug` hides the password.
#[derive(Debug, Clone)]
pub struct PostgresScheduler {
    pool: Pool,
    options: Arc<PostgresSchedulerOptions>,
    schema: String,
}

impl PostgresScheduler {
    /// Connects to `url` with the default options (a real round trip; migrates the schema).
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(PostgresSchedulerOptions::from_url(url)?).await
    }

    /// Connects with `options`.
    pub async fn connect_with(options: PostgresSchedulerOptions) -> Result<Self> {
        let pool = pool::build(&options.postgres)?;
        Self::from_pool(pool, options).await
    }

    /// Uses an existing pool (e.g. the storage's, to enqueue in its transactions).
    pub async fn from_pool(pool: Pool, options: PostgresSchedulerOptions) -> Result<Self> {
        let schema = options.postgres.schema_name()?.to_owned();
        let mut checkout = Checkout::get(&pool).await?;
        let limit = options.postgres.request_timeout;
        match tokio::time::timeout(limit, migrations::migrate(checkout.client(), &schema)).await {
            Ok(result) => {
                result?;
                checkout.release();
            }
            Err(_) => return Err(super::error::timed_out(limit)),
        }
        Ok(Self { pool, options: Arc::new(options), schema })
    }

    /// Enqueues `operation` on `client` — e.g. inside the caller's transaction, so that it
    /// commits (and wakes receivers) together with the caller's writes, or not at all.
    /// Idempotent by operation id.
    pub async fn enqueue_in<C: GenericClient>(&self, client: &C, operation: &TaskOperation) -> Result<()> {
        queries::enqueue(client, &self.schema, operation).await
    }

    /// The pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Operations that will not be delivered again, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<DeadOperation>> {
        let client = self.pool.get().await.map_err(classify_pool)?;
        queries::dead(&client).await
    }

    /// Deletes acknowledged operations older than the retention; returns how many.
    pub async fn prune(&self) -> Result<u64> {
        let client = self.pool.get().await.map_err(classify_pool)?;
        queries::prune(&client, self.options.retention).await
    }

    async fn enqueue(&self, id: OperationId, action: Action) -> Result<()> {
        let operation = TaskOperation::new(id, action);
        let mut checkout = Checkout::get(&self.pool).await?;
        let limit = self.options.postgres.request_timeout;
        match tokio::time::timeout(limit, queries::enqueue(&*checkout.client(), &self.schema, &operation))
            .await
        {
            Ok(result) => {
                checkout.release();
                result
            }
            Err(_) => Err(super::error::timed_out(limit)),
        }
    }
}

/// A receiver's state: the pool, and the wake-ups from its LISTEN connection.
struct Receiver {
    scheduler: PostgresScheduler,
    wake: Arc<Notify>,
    _listener: Listener,
    failures: u32,
}

const BACKOFF: RetryPolicy = RetryPolicy::new(u32::MAX, Duration::from_millis(100), Duration::from_secs(5));

impl Receiver {
    async fn next(mut self) -> Option<(Result<Delivery>, Self)> {
        loop {
            match self.claim().await {
                Ok(Some(delivery)) => {
                    self.failures = 0;
                    return Some((Ok(delivery), self));
                }
                Ok(None) => {
                    self.failures = 0;
                    let _ = tokio::time::timeout(self.scheduler.options.poll_interval, self.wake.notified())
                        .await;
                }
                Err(Error::Closed(what)) => return Some((Err(Error::Closed(what)), self)),
                Err(err) => {
                    // The stream does not end on a lost database: wait and claim again.
                    self.failures += 1;
                    tracing::warn!(error = %err, attempt = self.failures, "could not claim an operation; retrying");
                    tokio::time::sleep(BACKOFF.base_wait(self.failures)).await;
                }
            }
        }
    }

    async fn claim(&self) -> Result<Option<Delivery>> {
        let options = &self.scheduler.options;
        loop {
            let mut checkout = Checkout::get(&self.scheduler.pool).await?;
            let claim =
                queries::claim(&*checkout.client(), &options.consumer, options.lease, options.max_deliveries);
            let claimed = match tokio::time::timeout(options.postgres.request_timeout, claim).await {
                Ok(result) => {
                    checkout.release();
                    result?
                }
                Err(_) => return Err(super::error::timed_out(options.postgres.request_timeout)),
            };
            match claimed {
                Claimed::Delivery(operation, deliveries) => {
                    let receipt = LeaseReceipt {
                        pool: self.scheduler.pool.clone(),
                        id: *operation.id.as_uuid(),
                        consumer: options.consumer.clone(),
                        lease: options.lease,
                    };
                    return Ok(Some(Delivery::new(*operation, deliveries, Box::new(receipt))));
                }
                Claimed::Poison => {
                    tracing::warn!("dead-lettered an operation that cannot be delivered; going on");
                    continue;
                }
                Claimed::Empty => return Ok(None),
            }
        }
    }
}

#[async_trait]
impl Scheduler for PostgresScheduler {
    async fn run_task(&self, id: OperationId, params: &TaskSendParams) -> Result<()> {
        self.enqueue(id, Action::Run(params.clone())).await
    }
    async fn cancel_task(&self, id: OperationId, params: &TaskIdParams) -> Result<()> {
        self.enqueue(id, Action::Cancel(params.clone())).await
    }
    async fn pause_task(&self, id: OperationId, params: &TaskIdParams) -> Result<()> {
        self.enqueue(id, Action::Pause(params.clone())).await
    }
    async fn resume_task(&self, id: OperationId, params: &TaskIdParams) -> Result<()> {
        self.enqueue(id, Action::Resume(params.clone())).await
    }
    async fn receive_task_operations(&self) -> Result<OperationStream> {
        // Opening checks the database is there.
        drop(self.pool.get().await.map_err(classify_pool)?);
        let wake = Arc::new(Notify::new());
        let listener =
            Listener::spawn(self.options.postgres.clone(), queries::channel(&self.schema), Arc::clone(&wake));
        let receiver = Receiver { scheduler: self.clone(), wake, _listener: listener, failures: 0 };
        Ok(Box::pin(futures_util::stream::unfold(receiver, Receiver::next)))
    }
}
