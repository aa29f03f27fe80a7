//! The push notifications' metrics: deliveries by outcome, attempts, and how long each took.

use std::time::Instant;

use ::metrics::{counter, histogram};

use super::names::{WEBHOOK_ATTEMPTS, WEBHOOK_DELIVERIES, WEBHOOK_DURATION};

/// A notifier starts: its counters' series start at zero.
pub(crate) fn start_webhooks() {
    if super::enabled() {
        for outcome in
            ["delivered", "exhausted", "rejected", "invalid_config", "storage", "dropped", "forbidden"]
        {
            counter!(WEBHOOK_DELIVERIES, "outcome" => outcome).increment(0);
        }
        counter!(WEBHOOK_ATTEMPTS).increment(0);
    }
}

/// A notification ended with `outcome` (`delivered`, or why it failed).
pub(crate) fn webhook_outcome(outcome: &'static str) {
    if super::enabled() {
        counter!(WEBHOOK_DELIVERIES, "outcome" => outcome).increment(1);
    }
}

/// One POST attempt.
pub(crate) fn webhook_attempt() {
    if super::enabled() {
        counter!(WEBHOOK_ATTEMPTS).increment(1);
    }
}

/// A notification's attempts being timed, while a recorder is installed.
#[derive(Debug)]
pub(crate) struct WebhookTimer(Option<Instant>);

impl WebhookTimer {
    pub(crate) fn start() -> Self {
        Self(super::enabled().then(Instant::now))
    }

    /// The attempts ended with `outcome`.
    pub(crate) fn stop(self, outcome: &'static str) {
        if let Some(started) = self.0 {
            histogram!(WEBHOOK_DURATION, "outcome" => outcome).record(started.elapsed().as_secs_f64());
        }
    }
}
