//! [`RedisScheduler`]: enqueues through a connection pool, the [`Scheduler`] impl, inspection.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use deadpool_redis::Pool;
use deadpool_redis::redis::Client;
use tokio_util::sync::CancellationToken;

use super::entry::{self, RedisDeadLetter};
use super::keys::RedisKeys;
use super::lane::{Lane, LaneConnection};
use super::{RedisOptions, pool, receiver, scripts};
use crate::error::{Error, Result};
use crate::model::{Action, OperationId, TaskIdParams, TaskOperation, TaskSendParams};
use crate::scheduler::{OperationStream, Scheduler};

/// A [`Scheduler`] on a Redis stream with a consumer group: acknowledged, at-least-once delivery
/// that survives the crash of a receiver and the restart of a Redis with persistence.
///
/// See the [module docs](super) for the design. Cloning gives another handle on the same pool.
/// Receivers started by [`receive_task_operations`](Scheduler::receive_task_operations) live as
/// long as their stream; [`close`](RedisScheduler::close) ends them.
#[derive(Clone)]
pub struct RedisScheduler {
    shared: Arc<Shared>,
}

/// What the scheduler, its receivers and their receipts share.
pub(super) struct Shared {
    pub(super) options: RedisOptions,
    pub(super) keys: RedisKeys,
    /// The URL without its password, for logs.
    pub(super) shown_url: String,
    /// Opens the receivers' dedicated connections.
    pub(super) client: Client,
    /// Provides the shared command connection (and replacements when it is lost).
    pub(super) pool: Pool,
    /// Enqueues, acknowledgements, keep-alives, dead letters from receipts.
    pub(super) lane: Lane,
    /// Cancelled by [`RedisScheduler::close`].
    pub(super) closed: CancellationToken,
}

impl Shared {
    /// A handle on the shared command connection.
    pub(super) async fn command_connection(&self, what: &str) -> Result<LaneConnection<'_>> {
        if self.closed.is_cancelled() {
            return Err(Error::Closed("redis scheduler"));
        }
        self.lane.get(&self.pool, what).await
    }
}

impl RedisScheduler {
    /// Connects to `url` with the default [`RedisOptions`].
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(RedisOptions::from_url(url)?).await
    }

    /// Connects with `options`: one round trip that checks the server is reachable, the
    /// credentials work, and creates the consumer group if it is missing. A failure is
    /// classified (an unreachable server is transient, bad credentials are permanent).
    pub async fn connect_with(options: RedisOptions) -> Result<Self> {
        options.validate()?;
        let shown_url = options.redacted_url();
        let client = Client::open(options.url.as_str()).map_err(|err| {
            Error::config("REDIS_URL", format!("{shown_url:?} is not a usable Redis URL: {err}"))
        })?;
        let pool = pool::build(&options)?;
        let keys = RedisKeys::new(&options.prefix);
        let shared = Shared {
            options,
            keys,
            shown_url,
            client,
            pool,
            lane: Lane::default(),
            closed: CancellationToken::new(),
        };
        let mut con = shared.command_connection("connect").await?;
        scripts::ensure_group(&mut con, &shared.keys, &shared.options.group).await?;
        drop(con);
        Ok(Self { shared: Arc::new(shared) })
    }

    /// The options in force.
    pub fn options(&self) -> &RedisOptions {
        &self.shared.options
    }

    /// The keys this scheduler uses.
    pub fn keys(&self) -> &RedisKeys {
        &self.shared.keys
    }

    /// Up to `count` dead letters, oldest first.
    pub async fn dead_letters(&self, count: usize) -> Result<Vec<RedisDeadLetter>> {
        let mut con = self.shared.command_connection("read dead letters").await?;
        scripts::dead_letters(&mut con, &self.shared.keys, count).await
    }

    /// Operations not yet acknowledged or dead-lettered: queued or in flight.
    pub async fn backlog(&self) -> Result<u64> {
        let mut con = self.shared.command_connection("count the backlog").await?;
        scripts::backlog(&mut con, &self.shared.keys).await
    }

    /// Ends every receiver's stream (after one [`Error::Closed`] item) and closes the pool, so
    /// later calls fail with [`Error::Closed`]. Nothing in Redis changes: operations in flight are
    /// delivered again after the idle time. Idempotent.
    pub fn close(&self) {
        self.shared.closed.cancel();
        self.shared.lane.release();
        self.shared.pool.close();
    }

    async fn enqueue(&self, id: OperationId, action: Action) -> Result<()> {
        let what = action.name();
        let operation = TaskOperation::new(id, action);
        let payload = entry::encode(&operation)?;
        let shared = &self.shared;
        let mut con = shared.command_connection("enqueue").await?;
        let added = scripts::enqueue(&mut con, &shared.keys, &shared.options, id, &payload).await?;
        if !added {
            tracing::debug!(operation = %id, action = what, "duplicate enqueue dropped");
        }
        Ok(())
    }
}

#[async_trait]
impl Scheduler for RedisScheduler {
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
        receiver::open(Arc::clone(&self.shared)).await
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
