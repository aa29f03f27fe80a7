//! Sending a failed notification again, for operators (`bindu-admin webhooks redeliver`).

use super::WebhookNotifier;
use super::deliver::{Delivered, Notification};
use super::payload::TaskStatusUpdateEvent;
use crate::error::{Error, Result};
use crate::model::FailedNotification;

/// How a [redelivery](WebhookNotifier::redeliver) ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Redelivery {
    /// The webhook answered 2xx; the record is removed.
    Delivered,
    /// The task has no webhook config any more (or the task is gone): there is nowhere to send
    /// it; the record is removed.
    NoWebhook,
    /// It failed again; the record is replaced with this one (same notification, same place).
    Failed(Box<FailedNotification>),
}

impl WebhookNotifier {
    /// Sends `failure`'s notification again, now, under the same `Idempotency-Key` and with the
    /// same body, so that a receiver that did get it the first time drops the copy; the webhook
    /// config is read afresh, and the api retry policy applies. It may arrive after newer states
    /// of its task: the status's timestamp tells them apart.
    pub async fn redeliver(&self, failure: &FailedNotification) -> Result<Redelivery> {
        let event = TaskStatusUpdateEvent {
            task_id: failure.task_id,
            context_id: failure.context_id,
            is_final: failure.status.state.is_terminal(),
            status: failure.status.clone(),
        };
        let Some(reservation) = self.ledger.reserve() else {
            return Err(Error::QueueFull {
                capacity: self.options().queue_capacity,
                waited: std::time::Duration::ZERO,
            });
        };
        let notification = Notification { id: failure.notification_id, event, _reservation: reservation };
        let storage = &self.deliverer.storage;
        Ok(match self.deliverer.deliver(&notification).await {
            Delivered::Sent => {
                storage.remove_failed_notification(failure.notification_id).await?;
                Redelivery::Delivered
            }
            Delivered::NoWebhook => {
                storage.remove_failed_notification(failure.notification_id).await?;
                Redelivery::NoWebhook
            }
            Delivered::Failed(again) => Redelivery::Failed(again),
        })
    }
}
