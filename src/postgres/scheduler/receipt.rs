//! The handle on one leased operation.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::Pool;

use super::queries;
use crate::error::Result;
use crate::postgres::error::classify_pool;
use crate::scheduler::Receipt;

/// Dropping it unsettled does nothing: the lease expires and the operation is claimed again.
pub(crate) struct LeaseReceipt {
    pub(crate) pool: Pool,
    pub(crate) id: uuid::Uuid,
    pub(crate) consumer: String,
    pub(crate) lease: Duration,
}

#[async_trait]
impl Receipt for LeaseReceipt {
    async fn ack(&self) -> Result<()> {
        let client = self.pool.get().await.map_err(classify_pool)?;
        queries::ack(&client, self.id).await
    }

    async fn dead_letter(&self, reason: &str) -> Result<()> {
        let client = self.pool.get().await.map_err(classify_pool)?;
        queries::dead_letter(&client, self.id, reason).await
    }

    async fn keep_alive(&self) -> Result<()> {
        let client = self.pool.get().await.map_err(classify_pool)?;
        queries::extend(&client, self.id, &self.consumer, self.lease).await
    }
}
