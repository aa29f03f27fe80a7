//! [`PostgresScheduler`]: the scheduler contract on a PostgreSQL queue table.
//!
//! Receivers claim the oldest claimable operation of their lanes with `FOR UPDATE SKIP LOCKED`
//! and lease it to that one delivery; acknowledging marks it done, an expired lease makes it
//! claimable again (a dead receiver's operation is delivered to another), a release hands it back
//! after a delay without counting a delivery, and one delivered too often is flagged, then
//! dead-lettered. Enqueue is `INSERT … ON CONFLICT (id) DO NOTHING` plus `NOTIFY`, so replays
//! deliver nothing twice, and it can run inside the caller's transaction
//! ([`PostgresScheduler::enqueue_in`]) so a task and its run commit together.

mod acks;
mod admin;
mod listener;
mod options;
mod queries;
mod receipt;
mod receiver;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Object, Pool};
use tokio_util::sync::CancellationToken;

pub use options::PostgresSchedulerOptions;

use self::queries::Queue;
use self::receipt::Lease;
use self::receiver::Receiver;
use super::{migrations, pool};
use crate::error::{Error, Result};
use crate::model::{DeadLetter, DeadLetterId, Lanes, Page, QueueStats, TaskOperation};
use crate::scheduler::{BatchHint, Delivery, OperationStream, Scheduler};

/// A scheduler on PostgreSQL. Clones share the queue, the pool and the closing. `Debug` hides
/// the password.
#[derive(Debug, Clone)]
pub struct PostgresScheduler {
    shared: Arc<Shared>,
}

/// What the scheduler, its receivers and their receipts share.
#[derive(Debug)]
struct Shared {
    pool: Pool,
    options: PostgresSchedulerOptions,
    queue: Queue,
    /// Cancelled by [`Scheduler::close`]: receivers end, listeners stop.
    closed: CancellationToken,
    /// The receivers' LISTEN connection.
    listeners: listener::Listeners,
    /// Acknowledgements waiting to be written together.
    acks: acks::AckGroups,
}

impl Shared {
    /// Runs one request through [`pool::run`] under the request timeout.
    async fn run<T>(&self, operation: impl AsyncFnOnce(&mut Object) -> Result<T>) -> Result<T> {
        pool::run(&self.pool, self.options.postgres.request_timeout, operation).await
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.is_cancelled() {
            return Err(Error::Closed("postgres scheduler"));
        }
        Ok(())
    }
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

    /// Uses an existing pool (e.g. the storage's, to enqueue in its transactions). Closing the
    /// scheduler closes the pool.
    pub async fn from_pool(pool: Pool, options: PostgresSchedulerOptions) -> Result<Self> {
        let schema = options.postgres.schema_name()?.to_owned();
        let shared = Shared {
            pool,
            queue: Queue::new(&schema),
            options,
            closed: CancellationToken::new(),
            listeners: listener::Listeners::default(),
            acks: acks::AckGroups::default(),
        };
        shared.run(async |client| migrations::migrate(client, &schema).await).await?;
        Ok(Self { shared: Arc::new(shared) })
    }

    /// Enqueues `operation` on `client` — e.g. inside the caller's transaction, so that it
    /// commits (and wakes receivers) together with the caller's writes, or not at all. It goes
    /// to this scheduler's schema whatever the client's `search_path`. Idempotent by operation
    /// id.
    pub async fn enqueue_in<C: GenericClient>(&self, client: &C, operation: &TaskOperation) -> Result<()> {
        self.shared.check_open()?;
        self.shared.queue.enqueue(client, operation).await
    }

    /// Acknowledges `delivery` on `client` — inside the caller's transaction, so that it commits
    /// with the caller's writes (and as durably: unlike [`Delivery::ack`], it does not turn
    /// `synchronous_commit` off), or not at all. `false` when `delivery` is not this scheduler's
    /// (nothing is done); `true` otherwise, also when its lease has gone to another delivery
    /// meanwhile (then, as with [`Delivery::ack`], the row is left to its holder).
    pub(crate) async fn ack_in<C: GenericClient>(&self, client: &C, delivery: &Delivery) -> Result<bool> {
        let Some(lease) = self.lease_of(delivery) else {
            return Ok(false);
        };
        self.shared.queue.ack_durably(client, lease.id, &lease.holder).await?;
        Ok(true)
    }

    /// Whether [`ack_in`](Self::ack_in) can settle `delivery`.
    pub(crate) fn leased(&self, delivery: &Delivery) -> bool {
        self.lease_of(delivery).is_some()
    }

    /// The lease of `delivery`, if this scheduler handed it out.
    fn lease_of<'d>(&self, delivery: &'d Delivery) -> Option<&'d Lease> {
        delivery.ticket::<Lease>().filter(|lease| Arc::ptr_eq(&lease.shared, &self.shared))
    }

    /// The pool.
    pub fn pool(&self) -> &Pool {
        &self.shared.pool
    }

    async fn open_stream(&self, lanes: Lanes, batch: Option<BatchHint>) -> Result<OperationStream> {
        self.shared.check_open()?;
        // Opening checks the database is there.
        self.shared.run(async |_| Ok(())).await?;
        Ok(Receiver::stream(Arc::clone(&self.shared), lanes, batch))
    }
}

#[async_trait]
impl Scheduler for PostgresScheduler {
    async fn enqueue(&self, operation: &TaskOperation) -> Result<()> {
        self.shared.check_open()?;
        let queue = &self.shared.queue;
        self.shared.run(async |client| queue.enqueue(&*client, operation).await).await
    }

    async fn receive(&self, lanes: Lanes) -> Result<OperationStream> {
        self.open_stream(lanes, None).await
    }

    async fn receive_batched(&self, lanes: Lanes, batch: BatchHint) -> Result<OperationStream> {
        self.open_stream(lanes, Some(batch)).await
    }

    async fn ping(&self) -> Result<()> {
        self.shared.check_open()?;
        self.shared.run(async |client| crate::postgres::pool::ping(client).await).await
    }

    async fn dead_letters(&self, page: Page) -> Result<Vec<DeadLetter>> {
        self.shared.check_open()?;
        let queue = &self.shared.queue;
        self.shared.run(async |client| queue.dead_letters(&*client, page).await).await
    }

    async fn replay_dead_letter(&self, id: &DeadLetterId) -> Result<bool> {
        self.shared.check_open()?;
        let queue = &self.shared.queue;
        self.shared.run(async |client| queue.replay(&*client, id).await).await
    }

    async fn discard_dead_letter(&self, id: &DeadLetterId) -> Result<bool> {
        self.shared.check_open()?;
        let queue = &self.shared.queue;
        self.shared.run(async |client| queue.discard(&*client, id).await).await
    }

    async fn stats(&self) -> Result<QueueStats> {
        self.shared.check_open()?;
        let queue = &self.shared.queue;
        self.shared.run(async |client| queue.stats(&*client).await).await
    }

    async fn prune(&self, older_than: Duration, limit: usize) -> Result<u64> {
        self.shared.check_open()?;
        let queue = &self.shared.queue;
        self.shared.run(async |client| queue.prune(&*client, older_than, limit).await).await
    }

    async fn close(&self) -> Result<()> {
        self.shared.closed.cancel();
        self.shared.pool.close();
        Ok(())
    }
}
