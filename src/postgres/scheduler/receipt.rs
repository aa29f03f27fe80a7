//! The handle on one leased operation.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::Shared;
use crate::error::Result;
use crate::scheduler::{Hold, Receipt};

/// One delivery's lease on its row: `holder` is unique per delivery. It is also the delivery's
/// [ticket](crate::scheduler::Delivery::ticket), so that
/// [`PostgresPipeline`](crate::postgres::PostgresPipeline) can acknowledge it in the transaction
/// that stores the run's result.
#[derive(Debug)]
pub(crate) struct Lease {
    pub(crate) shared: Arc<Shared>,
    pub(crate) id: uuid::Uuid,
    pub(crate) holder: String,
}

/// Acts only while its delivery is still leased to it. Dropping it unsettled does nothing: the
/// lease runs out and the operation is claimed again.
pub(crate) struct LeaseReceipt(pub(crate) Arc<Lease>);

#[async_trait]
impl Receipt for LeaseReceipt {
    async fn ack(&self) -> Result<()> {
        let Lease { shared, id, holder } = &*self.0;
        super::acks::ack(shared, *id, holder).await
    }

    async fn dead_letter(&self, reason: &str) -> Result<()> {
        let Lease { shared, id, holder } = &*self.0;
        shared.run(async |client| shared.queue.dead_letter(&*client, *id, holder, reason).await).await
    }

    async fn release(&self, delay: Duration) -> Result<()> {
        let Lease { shared, id, holder } = &*self.0;
        // Never longer than a lease: a released operation is not parked for good.
        let delay = delay.min(shared.options.lease);
        shared.run(async |client| shared.queue.release(&*client, *id, holder, delay).await).await
    }

    async fn keep_alive(&self) -> Result<Hold> {
        let Lease { shared, id, holder } = &*self.0;
        let lease = shared.options.lease;
        let held =
            shared.run(async |client| shared.queue.keep_alive(&*client, *id, holder, lease).await).await?;
        Ok(if held { Hold::Held } else { Hold::Lost })
    }
}
