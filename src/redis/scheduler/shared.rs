//! [`Shared`]: what a scheduler, its receivers and their receipts have in common.

use deadpool_redis::Pool;
use deadpool_redis::redis::Client;
use tokio_util::sync::CancellationToken;

use super::RedisSchedulerOptions;
use super::connection::{SharedConnection, SharedHandle};
use super::keys::RedisKeys;
use crate::error::{Error, Result};

/// The scheduler's state, behind one `Arc`.
pub(super) struct Shared {
    pub(super) options: RedisSchedulerOptions,
    pub(super) keys: RedisKeys,
    /// The URL without its password, for logs.
    pub(super) shown_url: String,
    /// Opens the receivers' dedicated connections.
    pub(super) client: Client,
    /// Provides the shared command connection (and replacements when it is lost).
    pub(super) pool: Pool,
    /// Enqueues, acknowledgements, keep-alives, releases, dead letters.
    pub(super) commands: SharedConnection,
    /// Cancelled by [`close`](crate::Scheduler::close).
    pub(super) closed: CancellationToken,
}

impl Shared {
    /// A handle on the shared command connection; [`Error::Closed`] once closed.
    pub(super) async fn command_connection(&self, what: &str) -> Result<SharedHandle<'_>> {
        self.check_open()?;
        self.commands.get(&self.pool, what).await
    }

    pub(super) fn check_open(&self) -> Result<()> {
        if self.closed.is_cancelled() {
            return Err(Error::Closed("redis scheduler"));
        }
        Ok(())
    }

    /// Ends the receivers' streams and closes the pool. Idempotent.
    pub(super) fn close(&self) {
        self.closed.cancel();
        self.commands.release();
        self.pool.close();
    }
}
