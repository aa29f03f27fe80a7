//! [`RedisReceipt`]: settling one delivered stream entry through the pool.

use std::sync::Arc;

use async_trait::async_trait;

use super::scheduler::Shared;
use super::scripts::{self, KeptAlive};
use crate::error::{BackendError, Result, Transience};
use crate::model::OperationId;
use crate::scheduler::Receipt;

/// The handle on one delivered entry. Dropping it does nothing: the entry stays pending under
/// this receiver's consumer and is delivered again once it has been idle for `min_idle`.
pub(super) struct RedisReceipt {
    pub(super) shared: Arc<Shared>,
    pub(super) entry_id: String,
    pub(super) consumer: String,
    pub(super) operation: OperationId,
}

#[async_trait]
impl Receipt for RedisReceipt {
    async fn ack(&self) -> Result<()> {
        let shared = &self.shared;
        let mut con = shared.command_connection("acknowledge").await?;
        scripts::ack(&mut con, &shared.keys, &shared.options.group, &self.entry_id).await
    }

    async fn dead_letter(&self, reason: &str) -> Result<()> {
        let shared = &self.shared;
        let mut con = shared.command_connection("dead-letter").await?;
        if scripts::dead_letter(&mut con, &shared.keys, &shared.options, &self.entry_id, reason).await? {
            tracing::warn!(operation = %self.operation, entry = %self.entry_id, reason, "operation dead-lettered");
        }
        Ok(())
    }

    async fn keep_alive(&self) -> Result<()> {
        let shared = &self.shared;
        let mut con = shared.command_connection("keep alive").await?;
        match scripts::keep_alive(
            &mut con,
            &shared.keys,
            &shared.options.group,
            &self.consumer,
            &self.entry_id,
        )
        .await?
        {
            KeptAlive::Reset | KeptAlive::Settled => Ok(()),
            // Retrying cannot get it back: the other receiver owns it now. The caller's fencing
            // (the run id on the task) decides which result counts.
            KeptAlive::TakenOver => Err(BackendError::new(
                "redis",
                Transience::Permanent,
                format!(
                    "operation {} was idle past {:?} and another receiver took it over",
                    self.operation, shared.options.min_idle
                ),
            )
            .into()),
        }
    }
}
