//! The scheduler's events, counted where every backend passes through `Retrying`: enqueues, and
//! the deliveries of its streams with their settlements (their receipts are wrapped). A backend
//! that dead-letters an over-limit operation by itself does so out of sight of this count.

use std::time::Duration;

use ::metrics::counter;
use async_trait::async_trait;
use futures_util::StreamExt;

use super::names::{ACKNOWLEDGED, DEAD_LETTERED, DELIVERED, ENQUEUED, REDELIVERED, RELEASED};
use crate::error::Result;
use crate::model::TaskOperation;
use crate::scheduler::{Hold, OperationStream, Receipt};

/// Counts an enqueue that succeeded.
pub(crate) fn count_enqueued(backend: &'static str, operation: &TaskOperation) {
    if super::enabled() {
        counter!(ENQUEUED, "backend" => backend, "lane" => operation.action.lane().as_str()).increment(1);
    }
}

/// `stream`, counting its deliveries and, through their receipts, how they are settled. Each
/// delivery is looked at only while a recorder is installed.
pub(crate) fn metered(backend: &'static str, stream: OperationStream) -> OperationStream {
    Box::pin(stream.map(move |item| {
        item.map(|delivery| {
            if !super::enabled() {
                return delivery;
            }
            let lane = delivery.operation().action.lane().as_str();
            counter!(DELIVERED, "backend" => backend, "lane" => lane).increment(1);
            if delivery.delivery_count() > 1 {
                counter!(REDELIVERED, "backend" => backend, "lane" => lane).increment(1);
            }
            delivery.map_receipt(|inner| Box::new(MeteredReceipt { inner, backend, lane }))
        })
    }))
}

/// A receipt that counts the settlements that succeeded.
struct MeteredReceipt {
    inner: Box<dyn Receipt>,
    backend: &'static str,
    lane: &'static str,
}

impl MeteredReceipt {
    fn count<T>(&self, name: &'static str, result: Result<T>) -> Result<T> {
        if result.is_ok() {
            counter!(name, "backend" => self.backend, "lane" => self.lane).increment(1);
        }
        result
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Receipt for MeteredReceipt {
    async fn ack(&self) -> Result<()> {
        self.count(ACKNOWLEDGED, self.inner.ack().await)
    }

    async fn dead_letter(&self, reason: &str) -> Result<()> {
        self.count(DEAD_LETTERED, self.inner.dead_letter(reason).await)
    }

    async fn release(&self, delay: Duration) -> Result<()> {
        self.count(RELEASED, self.inner.release(delay).await)
    }

    async fn keep_alive(&self) -> Result<Hold> {
        self.inner.keep_alive().await
    }

    fn acknowledged_elsewhere(&self) {
        self.inner.acknowledged_elsewhere();
        counter!(ACKNOWLEDGED, "backend" => self.backend, "lane" => self.lane).increment(1);
    }
}
