//! Push notifications (feature `webhooks`): every state a worker stores is POSTed to the task's
//! webhook ([`PushNotificationConfig`](crate::PushNotificationConfig)) as an A2A
//! [`TaskStatusUpdateEvent`], under the api retry policy (`RETRY__API_*`).
//!
//! - **Off the task's path.** [`WebhookNotifier`] is a [`TaskListener`](crate::worker::TaskListener):
//!   it only queues; a background task delivers. A slow or dead webhook never delays or fails
//!   the task.
//! - **What a receiver gets.** `POST <url>` with `Content-Type: application/json`,
//!   `Authorization: Bearer <token>` when the config has a token, and `Idempotency-Key: <uuid>`,
//!   the same on every retry of one notification; the body is the event's JSON.
//! - **Retries.** Failures are classified where they are born (`classify.rs`): nothing sent
//!   (refused, DNS, connect timeout) and 408/429/5xx are retried, the latter after the
//!   `Retry-After` they ask for (capped at the policy's longest wait); a timeout or reset after
//!   sending is retried too, since the key makes a replay harmless; other answers are final. All
//!   through [`execute_with_retry`](crate::execute_with_retry), the crate's one retry loop.
//! - **Records.** A notification that fails for good is logged with the webhook's host (never
//!   its URL or token) and stored ([`Storage::failed_notifications`](crate::Storage::failed_notifications)),
//!   where an operator sees it and redelivers it under the same idempotency key
//!   ([`WebhookNotifier::redeliver`], `bindu-admin webhooks redeliver`).
//! - **Public addresses only.** A webhook whose host is, or resolves to, a loopback, private,
//!   link-local (the cloud metadata address among them) or other non-public address is refused
//!   (recorded as `forbidden address`, never retried) unless its range is allowed
//!   ([`NotifierOptions::allowed_networks`], `WEBHOOK_ALLOWED_NETWORKS`). The check is made on
//!   the resolved addresses and the connection goes to a checked one, so DNS rebinding cannot
//!   slip past it; redirects are not followed.
//! - **Restarts.** Configs are read from storage at send time, so a long-running task's webhook
//!   keeps working after a restart.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> bindu::Result<()> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use bindu::notify::{NotifierOptions, WebhookNotifier};
//! use bindu::worker::{AgentError, AgentInput, AgentOutput, FnAgent, Worker};
//! use bindu::{InMemoryScheduler, InMemoryStorage, Scheduler, Storage};
//!
//! let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
//! let scheduler: Arc<dyn Scheduler> = Arc::new(InMemoryScheduler::new());
//! let agent = Arc::new(FnAgent::new(|_: AgentInput| async { Ok::<_, AgentError>(AgentOutput::text("hi")) }));
//! let notifier = WebhookNotifier::new(Arc::clone(&storage), NotifierOptions::default())?;
//! let worker = Worker::new(storage, scheduler, agent).with_listener(notifier.clone()).spawn();
//! // … tasks with a saved webhook config now notify it on every state …
//! worker.shutdown(Duration::from_secs(5)).await;
//! notifier.shutdown(Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```

mod classify;
mod deliver;
mod guard;
mod notifier;
mod options;
mod payload;
mod record;
mod redeliver;
mod slots;
mod url;

pub use deliver::IDEMPOTENCY_KEY;
pub use notifier::WebhookNotifier;
pub use options::NotifierOptions;
pub use payload::TaskStatusUpdateEvent;
pub use record::{FailedNotification, FailureReason, NotifierStats};
pub use redeliver::Redelivery;
pub use url::WebhookUrl;
