//! The handle on one leased operation.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::Shared;
use crate::error::Result;
use crate::scheduler::{Hold, Receipt};

/// Acts only while its delivery is still leased to it (`holder`, unique per delivery). Dropping
/// it unsettled does nothing: the lease runs out and the operation is claimed again.
pub(crate) struct LeaseReceipt {
    pub(crate) shared: Arc<Shared>,
    pub(crate) id: uuid::Uuid,
    pub(crate) holder: String,
}

#[async_trait]
impl Receipt for LeaseReceipt {
    async fn ack(&self) -> Result<()> {
        super::acks::ack(&self.shared, self.id, &self.holder).await
    }

    async fn dead_letter(&self, reason: &str) -> Result<()> {
        let (queue, id, holder) = (&self.shared.queue, self.id, &self.holder);
        self.shared.run(async |client| queue.dead_letter(&*client, id, holder, reason).await).await
    }

    async fn release(&self, delay: Duration) -> Result<()> {
        let (queue, id, holder) = (&self.shared.queue, self.id, &self.holder);
        // Never longer than a lease: a released operation is not parked for good.
        let delay = delay.min(self.shared.options.lease);
        self.shared.run(async |client| queue.release(&*client, id, holder, delay).await).await
    }

    async fn keep_alive(&self) -> Result<Hold> {
        let (queue, id, holder, lease) =
            (&self.shared.queue, self.id, &self.holder, self.shared.options.lease);
        let held =
            self.shared.run(async |client| queue.keep_alive(&*client, id, holder, lease).await).await?;
        Ok(if held { Hold::Held } else { Hold::Lost })
    }
}
