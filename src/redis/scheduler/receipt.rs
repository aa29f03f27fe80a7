//! [`RedisReceipt`]: settling one delivered stream entry through the shared connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use super::settle::{Found, Holding};
use super::shared::Shared;
use crate::error::Result;
use crate::model::{Lane, OperationId};
use crate::scheduler::{Hold, Receipt};

/// The handle on one delivered entry. Dropping it does nothing: the entry stays pending under
/// this receiver's consumer and is delivered again once it has been idle for `min_idle`.
///
/// Every call acts only while this delivery still holds the entry (checked in Redis, see
/// `lua/holder.lua`); once this receipt settled or released it, it does nothing more, since the
/// same consumer may be handed the entry again in a later delivery.
pub(super) struct RedisReceipt {
    pub(super) shared: Arc<Shared>,
    pub(super) lane: Lane,
    pub(super) entry_id: String,
    pub(super) consumer: String,
    pub(super) deliveries: u32,
    pub(super) operation: OperationId,
    /// Set once an ack, dead letter or release went through (or found the entry gone).
    pub(super) done: AtomicBool,
}

impl RedisReceipt {
    fn holding(&self) -> Holding<'_> {
        Holding {
            stream: self.shared.keys.stream(self.lane),
            group: &self.shared.options.group,
            consumer: &self.consumer,
            entry_id: &self.entry_id,
            deliveries: self.deliveries,
        }
    }

    fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    fn finish(&self) {
        self.done.store(true, Ordering::Release);
    }
}

#[async_trait]
impl Receipt for RedisReceipt {
    async fn ack(&self) -> Result<()> {
        if self.is_done() {
            return Ok(());
        }
        let mut con = self.shared.command_connection("acknowledge").await?;
        self.holding().ack(&mut con).await?;
        self.finish();
        Ok(())
    }

    async fn dead_letter(&self, reason: &str) -> Result<()> {
        if self.is_done() {
            return Ok(());
        }
        let shared = &self.shared;
        let mut con = shared.command_connection("dead-letter").await?;
        if self.holding().dead_letter(&mut con, &shared.keys.dead, &shared.options, reason).await?
            == Found::Held
        {
            tracing::warn!(operation = %self.operation, entry = %self.entry_id, reason, "operation dead-lettered");
        }
        self.finish();
        Ok(())
    }

    async fn release(&self, delay: Duration) -> Result<()> {
        if self.is_done() {
            return Ok(());
        }
        let mut con = self.shared.command_connection("release").await?;
        self.holding().release(&mut con, delay, self.shared.options.min_idle).await?;
        self.finish();
        Ok(())
    }

    async fn keep_alive(&self) -> Result<Hold> {
        if self.is_done() {
            return Ok(Hold::Lost);
        }
        let mut con = self.shared.command_connection("keep alive").await?;
        Ok(match self.holding().keep_alive(&mut con).await? {
            Found::Held => Hold::Held,
            Found::Settled | Found::TakenOver => Hold::Lost,
        })
    }
}
