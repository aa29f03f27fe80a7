//! [`WebhookNotifier`]: a [`TaskListener`] that queues each stored state and delivers it in the
//! background, in order per task, concurrently across tasks.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use futures_util::FutureExt;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use super::deliver::{Deliverer, Notification};
use super::guard::AddressGuard;
use super::record::{FailedNotification, FailureReason, Ledger, NotifierStats};
use super::slots::Slots;
use super::{NotifierOptions, TaskStatusUpdateEvent};
use crate::error::{Error, Result};
use crate::model::{Task, TaskId};
use crate::storage::Storage;
use crate::worker::TaskListener;

/// Sends each state a worker stores to the task's webhook, if it has one.
///
/// [`task_changed`](TaskListener::task_changed) only reserves a place in a bounded backlog and
/// queues the event (no lock, no I/O, no await), so a slow or dead webhook never delays or fails
/// the task. When the backlog is full the state is dropped and recorded. A background task
/// delivers the notifications: those of one task one after the other, in the order they were
/// stored; those of different tasks concurrently. Each delivery reads the task's webhook config
/// from storage and POSTs a [`TaskStatusUpdateEvent`] under the api retry policy; one that fails
/// for good is logged (with the webhook's host only), stored
/// ([`Storage::record_failed_notification`]) for operators to [redeliver](Self::redeliver), and
/// kept for [`failed_notifications`](Self::failed_notifications). States dropped because the
/// backlog was full are kept in this process only: storing them would add load to an overload.
pub struct WebhookNotifier {
    queue: mpsc::UnboundedSender<Notification>,
    pub(super) ledger: Arc<Ledger>,
    pub(super) deliverer: Arc<Deliverer>,
    stop: CancellationToken,
    dispatcher: Mutex<Option<JoinHandle<()>>>,
    options: NotifierOptions,
}

impl WebhookNotifier {
    /// A notifier reading webhook configs from `storage`, delivering on the current tokio runtime.
    /// Each config is read once per notification, without retrying: pass the worker's
    /// ([`Retrying`](crate::Retrying)) storage to have those reads retried.
    ///
    /// [`Error::Invalid`] for invalid options, an HTTP client that cannot be built, or a call
    /// outside a tokio runtime.
    pub fn new(storage: Arc<dyn Storage>, options: NotifierOptions) -> Result<Arc<Self>> {
        options.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::Invalid {
            what: "webhook notifier",
            reason: "it must be created inside a tokio runtime".into(),
        })?;
        let client = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            // A redirected POST would be replayed elsewhere (or turned into a GET); the receiver
            // should register the final URL instead.
            .redirect(reqwest::redirect::Policy::none())
            // Every connection goes to an address the guard checked (no second DNS lookup).
            .dns_resolver(Arc::new(AddressGuard::new(&options.allowed_networks)))
            .user_agent(concat!("bindu/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| Error::Invalid { what: "webhook notifier", reason: err.to_string() })?;
        crate::telemetry::start_webhooks();
        let ledger = Ledger::new(options.queue_capacity, options.failures_kept);
        let deliverer = Arc::new(Deliverer {
            client,
            storage,
            guard: AddressGuard::new(&options.allowed_networks),
            slots: Slots::new(options.concurrency, options.per_host_concurrency),
            options: options.clone(),
            ledger: Arc::clone(&ledger),
        });
        // Unbounded only in type: every queued notification holds a reservation in `ledger`,
        // which bounds everything outstanding (queued, waiting behind its task, in flight).
        let (queue, queued) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let dispatcher = runtime.spawn(dispatch(Arc::clone(&deliverer), queued, stop.clone()));
        Ok(Arc::new(Self {
            queue,
            ledger,
            deliverer,
            stop,
            dispatcher: Mutex::new(Some(dispatcher)),
            options,
        }))
    }

    /// The notifications this notifier did not deliver, oldest first (the newest
    /// [`failures_kept`](NotifierOptions::failures_kept)). Those of every process, but for
    /// dropped ones, are in storage: [`Storage::failed_notifications`].
    pub fn failed_notifications(&self) -> Vec<FailedNotification> {
        self.ledger.failures()
    }

    /// The counters now.
    pub fn stats(&self) -> NotifierStats {
        self.ledger.stats()
    }

    /// The options in force.
    pub fn options(&self) -> &NotifierOptions {
        &self.options
    }

    /// Waits until every notification queued so far has been delivered or has failed; `false`
    /// if some were still outstanding after `limit`.
    pub async fn flush(&self, limit: Duration) -> bool {
        self.ledger.until_idle(limit).await
    }

    /// Lets outstanding deliveries finish for up to `grace`, then stops the rest and returns once
    /// they are stopped; states reported afterwards are dropped. Returns whether everything was
    /// delivered in time.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        let flushed = self.flush(grace).await;
        self.stop.cancel();
        let dispatcher = self.dispatcher.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some(dispatcher) = dispatcher {
            // An error here means the loop panicked, which tokio has already reported.
            let _ = dispatcher.await;
        }
        flushed
    }

    fn dropped(&self, event: &TaskStatusUpdateEvent, why: &str) {
        self.ledger.record(FailedNotification {
            notification_id: event.notification_id(),
            task_id: event.task_id,
            context_id: event.context_id,
            status: event.status.clone(),
            webhook_host: None,
            attempts: 0,
            reason: FailureReason::Dropped,
            error: why.to_owned(),
            failed_at: Utc::now(),
        });
        // Logged at 1, 2, 4, 8… drops, so an overload cannot flood the log.
        let dropped = self.ledger.stats().dropped;
        if dropped.is_power_of_two() {
            tracing::warn!(
                task = %event.task_id,
                state = %event.status.state,
                dropped,
                reason = why,
                "push notification dropped",
            );
        }
    }
}

impl TaskListener for WebhookNotifier {
    fn task_changed(&self, task: &Task) {
        let event = TaskStatusUpdateEvent::for_task(task);
        if self.stop.is_cancelled() {
            return self.dropped(&event, "the notifier was shut down");
        }
        let Some(reservation) = self.ledger.reserve() else {
            let why =
                format!("{} notifications outstanding (the queue capacity)", self.options.queue_capacity);
            return self.dropped(&event, &why);
        };
        let notification = Notification { id: event.notification_id(), event, _reservation: reservation };
        if let Err(mpsc::error::SendError(notification)) = self.queue.send(notification) {
            self.dropped(&notification.event, "the notifier was shut down");
        }
    }
}

impl Drop for WebhookNotifier {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookNotifier")
            .field("options", &self.options)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Starts each task's next notification when its previous one is done, until stopped.
async fn dispatch(
    deliverer: Arc<Deliverer>,
    mut queued: mpsc::UnboundedReceiver<Notification>,
    stop: CancellationToken,
) {
    let mut running = JoinSet::new();
    // Tasks with a delivery in flight, and their notifications waiting behind it, in order.
    let mut busy: HashMap<TaskId, VecDeque<Notification>> = HashMap::new();
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            Some(done) = running.join_next(), if !running.is_empty() => {
                // Deliveries catch their own panics; a join error means they were aborted.
                let Ok(task_id) = done else { continue };
                match busy.get_mut(&task_id).and_then(VecDeque::pop_front) {
                    Some(next) => {
                        running.spawn(deliver(Arc::clone(&deliverer), next));
                    }
                    None => {
                        busy.remove(&task_id);
                    }
                }
            }
            received = queued.recv() => match received {
                Some(notification) => match busy.entry(notification.event.task_id) {
                    Entry::Occupied(mut waiting) => waiting.get_mut().push_back(notification),
                    Entry::Vacant(idle) => {
                        idle.insert(VecDeque::new());
                        running.spawn(deliver(Arc::clone(&deliverer), notification));
                    }
                },
                None => break,
            },
        }
    }
    // Stopped: whatever is in flight or waiting is abandoned (its reservation is released).
    running.shutdown().await;
}

async fn deliver(deliverer: Arc<Deliverer>, notification: Notification) -> TaskId {
    let task_id = notification.event.task_id;
    if AssertUnwindSafe(deliverer.deliver(&notification)).catch_unwind().await.is_err() {
        tracing::error!(task = %task_id, "a push notification delivery panicked");
    }
    task_id
}
