//! [`RedisScheduler`]: acknowledged, at-least-once delivery of task operations on Redis streams
//! with a consumer group.
//!
//! **Guarantee.** Every operation whose enqueue returned `Ok` is delivered until a receiver
//! acknowledges or dead-letters it — across receiver crashes, reconnections and restarts of a
//! Redis that keeps its writes (see the [server requirements](super)) — and an operation id
//! enqueued again within the dedup window is not delivered again. (A `max_stream_len` cap, off
//! by default, trades the first half for bounded memory.)
//!
//! How it works (the keys are listed on [`RedisKeys`]):
//!
//! - **Lanes.** Runs go to `{prefix}:ops`, cancel, pause and resume to `{prefix}:control`, both
//!   read by the same consumer group, so a receiver of [`Lanes::Control`] gets control
//!   operations while runs wait. Whatever the runs stream holds is delivered to runs receivers,
//!   including control operations enqueued there by releases before lanes.
//! - **Enqueue** is one Lua script: if the operation id's dedup key is absent, `XADD` the entry
//!   to its lane's stream and set the key (with a ttl). A replay after an uncertain failure is a
//!   no-op, so [`Retrying`](crate::Retrying) may repeat it.
//! - **Receive**: each stream is a consumer of its own in the group, reading new entries with
//!   `XREADGROUP … COUNT 1 BLOCK` over its lanes' streams on a dedicated connection (control
//!   first; a run read together with a control operation waits for the next poll). Every
//!   `claim_interval` it sweeps each stream's pending entries with `XAUTOCLAIM`: an entry idle for
//!   `min_idle` (its receiver died, dropped or released it) is taken over and delivered again,
//!   with the delivery count Redis keeps. Past `max_deliveries` it is delivered once more flagged
//!   [`over_limit`](crate::Delivery::over_limit); past that it goes to the dead-letter stream.
//! - **Settling** acts only while the delivery still holds its entry — the same consumer and
//!   delivery count in `XPENDING`, checked atomically in each script — so a receiver whose
//!   delivery was taken over cannot settle or extend the new holder's. **Acknowledge** is `XACK`
//!   and `XDEL`: the streams hold only unfinished work. **Keep-alive** resets the idle time with
//!   `XCLAIM … JUSTID`. **Dead-letter** copies the entry with the reason and delivery count to
//!   `{prefix}:dead`, then acknowledges and deletes it. **Release** sets the idle time to
//!   `min_idle − delay` and the delivery count one lower (`XCLAIM … IDLE … RETRYCOUNT … JUSTID`),
//!   so a sweep takes it over after the delay and counts it back where it was. A delivery dropped
//!   without any of these is delivered again after `min_idle`.
//! - **Malformed entries** (not JSON, unknown operation or payload version) are dead-lettered
//!   with the decode error when read; they never stop the receiver or block the stream.
//! - **Connection loss** never ends a stream: the receiver reconnects with capped, jittered
//!   backoff ([`Backoff`](crate::retry::Backoff)), logging at WARN with the URL's password
//!   hidden, and recreates the consumer group if Redis lost it. Short commands share one
//!   pipelined connection from the pool, replaced when it loses its server or answers
//!   `READONLY`.
//!
//! ```no_run
//! # async fn run() -> bindu::Result<()> {
//! use bindu::redis::{RedisOptions, RedisScheduler, RedisSchedulerOptions};
//! use bindu::{Retrying, SchedulerExt};
//! use futures_util::StreamExt;
//!
//! let redis = RedisOptions::from_url("redis://localhost:6379/0")?.with_prefix("agent-1");
//! let scheduler = Retrying::new(RedisScheduler::connect_with(RedisSchedulerOptions::new(redis)).await?);
//! let mut operations = scheduler.receive_task_operations().await?;
//! while let Some(delivery) = operations.next().await {
//!     let delivery = delivery?;
//!     // … handle delivery.operation(), store its effect, then:
//!     delivery.ack().await?;
//! }
//! # Ok(()) }
//! ```

mod admin;
mod commands;
mod connection;
mod entry;
mod keys;
mod options;
mod receipt;
mod receiver;
mod settle;
mod shared;
mod sweep;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis::Client;
use tokio_util::sync::CancellationToken;

pub use keys::RedisKeys;
pub use options::RedisSchedulerOptions;

use self::shared::Shared;
use super::error::connect_error;
use super::pool;
use crate::error::Result;
use crate::model::{DeadLetter, DeadLetterId, Lanes, Page, QueueStats, TaskOperation};
use crate::scheduler::{BatchHint, OperationStream, Scheduler};

/// A [`Scheduler`] on Redis streams with a consumer group: acknowledged, at-least-once delivery
/// that survives the crash of a receiver and the restart of a Redis with persistence.
///
/// Its design is described at the top of `src/redis/scheduler/mod.rs`; what it needs of the
/// server, in the [`redis`](super) module. Cloning gives another handle on the same pool.
/// Receivers started by [`receive`](Scheduler::receive) live as long as their stream;
/// [`close`](Scheduler::close) ends them.
#[derive(Clone)]
pub struct RedisScheduler {
    shared: Arc<Shared>,
}

impl RedisScheduler {
    /// Connects to `url` with the default [`RedisSchedulerOptions`].
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(RedisSchedulerOptions::from_url(url)?).await
    }

    /// Connects with `options`: one round trip that checks the server is reachable, the
    /// credentials work, and creates the consumer groups if they are missing; then a look at the
    /// server's eviction policy. A failure is classified (an unreachable server is transient, bad
    /// credentials are permanent).
    pub async fn connect_with(options: RedisSchedulerOptions) -> Result<Self> {
        options.validate()?;
        let shown_url = options.redis.redacted_url();
        let client = Client::open(options.redis.connection_info()?)
            .map_err(|err| connect_error("configure the receivers' client", err))?;
        let pool = pool::build(&options.redis)?;
        let keys = RedisKeys::new(&options.redis.prefix);
        let shared = Shared {
            options,
            keys,
            shown_url,
            client,
            pool,
            commands: Default::default(),
            closed: CancellationToken::new(),
        };
        let mut con = shared.command_connection("connect").await?;
        commands::ensure_groups(&mut con, &shared.keys, &shared.options.group).await?;
        pool::warn_unless_noeviction(&mut con, &shared.shown_url, "scheduler").await;
        drop(con);
        Ok(Self { shared: Arc::new(shared) })
    }

    /// The options in force.
    pub fn options(&self) -> &RedisSchedulerOptions {
        &self.shared.options
    }

    /// The keys this scheduler uses.
    pub fn keys(&self) -> &RedisKeys {
        &self.shared.keys
    }

    /// Operations not yet acknowledged or dead-lettered, in both lanes: queued or in flight.
    pub async fn backlog(&self) -> Result<u64> {
        let mut con = self.shared.command_connection("count the backlog").await?;
        commands::backlog(&mut con, &self.shared.keys).await
    }
}

#[async_trait]
impl Scheduler for RedisScheduler {
    async fn enqueue(&self, operation: &TaskOperation) -> Result<()> {
        let payload = entry::encode(operation)?;
        let shared = &self.shared;
        let mut con = shared.command_connection("enqueue").await?;
        let lane = operation.lane();
        let added =
            commands::enqueue(&mut con, &shared.keys, &shared.options, lane, operation.id, &payload).await?;
        if !added {
            tracing::debug!(operation = %operation.id, action = operation.action.name(), "duplicate enqueue dropped");
        }
        Ok(())
    }

    async fn receive(&self, lanes: Lanes) -> Result<OperationStream> {
        receiver::open(Arc::clone(&self.shared), lanes, None).await
    }

    async fn receive_batched(&self, lanes: Lanes, batch: BatchHint) -> Result<OperationStream> {
        receiver::open(Arc::clone(&self.shared), lanes, Some(batch)).await
    }

    /// Ends every receiver's stream (after one [`Error::Closed`](crate::Error::Closed) item) and
    /// closes the pool, so later calls fail with it. Nothing in Redis changes: operations in
    /// flight are delivered again after the idle time. Idempotent.
    async fn ping(&self) -> Result<()> {
        crate::redis::pool::ping(&mut self.shared.command_connection("ping").await?).await
    }

    async fn dead_letters(&self, page: Page) -> Result<Vec<DeadLetter>> {
        let mut con = self.shared.command_connection("read dead letters").await?;
        admin::dead_letters(&mut con, &self.shared, page).await
    }

    async fn replay_dead_letter(&self, id: &DeadLetterId) -> Result<bool> {
        let mut con = self.shared.command_connection("replay a dead letter").await?;
        admin::replay(&mut con, &self.shared, id).await
    }

    async fn discard_dead_letter(&self, id: &DeadLetterId) -> Result<bool> {
        let mut con = self.shared.command_connection("discard a dead letter").await?;
        admin::discard(&mut con, &self.shared, id).await
    }

    async fn stats(&self) -> Result<QueueStats> {
        let mut con = self.shared.command_connection("read the queue's state").await?;
        admin::stats(&mut con, &self.shared).await
    }

    /// Nothing to forget: acknowledged entries are deleted at once, and each operation id's
    /// dedup key expires by itself after `dedup_ttl`.
    async fn prune(&self, _older_than: Duration, _limit: usize) -> Result<u64> {
        self.shared.check_open()?;
        Ok(0)
    }

    async fn close(&self) -> Result<()> {
        self.shared.close();
        Ok(())
    }
}

impl fmt::Debug for RedisScheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisScheduler")
            .field("options", &self.shared.options)
            .field("keys", &self.shared.keys)
            .field("closed", &self.shared.closed.is_cancelled())
            .finish_non_exhaustive()
    }
}
