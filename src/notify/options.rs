//! [`NotifierOptions`]: timeouts, limits and the retry policy of a
//! [`WebhookNotifier`](super::WebhookNotifier).

use std::time::Duration;

use crate::error::{Error, Result};
use crate::retry::RetryPolicy;
use crate::settings::{AppSettings, IpNetwork};

/// How a [`WebhookNotifier`](super::WebhookNotifier) delivers.
#[derive(Clone, Debug, PartialEq)]
pub struct NotifierOptions {
    /// Longest wait for a TCP (and TLS) connection. A connect that times out surely sent nothing,
    /// so it is retried.
    pub connect_timeout: Duration,
    /// Longest wait for one attempt as a whole, from sending to the end of the (limited) response
    /// body. A request that times out may have been received, so it is retried with the same
    /// idempotency key.
    pub request_timeout: Duration,
    /// At most this many bytes of a response body are read; the rest is never read (the
    /// connection is dropped instead of being reused). Error messages quote a shorter prefix.
    pub max_response_bytes: usize,
    /// Notifications waiting or being delivered, at most; a state reported while this many are
    /// outstanding is dropped and recorded, never waited for.
    pub queue_capacity: usize,
    /// HTTP requests in flight at once, over all webhooks. A slot is held only while a request is
    /// in flight, not while waiting to retry.
    pub concurrency: usize,
    /// HTTP requests in flight at once to one host, so that a dead webhook shared by many tasks
    /// leaves slots for the others.
    pub per_host_concurrency: usize,
    /// Failed notifications kept for [`failed_notifications`](super::WebhookNotifier::failed_notifications);
    /// the oldest are forgotten first.
    pub failures_kept: usize,
    /// Retries of each delivery: the `RETRY__API_*` policy.
    pub retry: RetryPolicy,
    /// Webhooks may reach public addresses, and these ranges besides
    /// (`WEBHOOK_ALLOWED_NETWORKS`). Loopback, private, link-local (the cloud metadata address
    /// among them) and every other non-public address is refused otherwise — after DNS
    /// resolution, and the connection goes to the address that was checked.
    pub allowed_networks: Vec<IpNetwork>,
}

impl NotifierOptions {
    /// The defaults with the app's api policy (`RETRY__API_*`) and allowed networks
    /// (`WEBHOOK_ALLOWED_NETWORKS`).
    pub fn from_settings(settings: &AppSettings) -> Self {
        Self {
            allowed_networks: settings.webhook_allowed_networks.clone(),
            ..Self::with_retry(settings.retry.api)
        }
    }

    const fn with_retry(retry: RetryPolicy) -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_response_bytes: 4096,
            queue_capacity: 4096,
            concurrency: 16,
            per_host_concurrency: 4,
            failures_kept: 1000,
            retry,
            allowed_networks: Vec::new(),
        }
    }

    /// Checks that every limit allows at least something to happen.
    pub fn validate(&self) -> Result<()> {
        let invalid =
            |reason: &str| Err(Error::Invalid { what: "notifier options", reason: reason.to_owned() });
        if self.connect_timeout.is_zero() || self.request_timeout.is_zero() {
            return invalid("the connect and request timeouts must be above zero");
        }
        if self.queue_capacity == 0 || self.concurrency == 0 || self.per_host_concurrency == 0 {
            return invalid("queue_capacity, concurrency and per_host_concurrency must be at least 1");
        }
        self.retry.validate()
    }
}

impl Default for NotifierOptions {
    /// Bindu's api policy ([`RetryPolicy::API`]: 4 attempts, 1–15 s; nothing is read from the
    /// environment, see [`NotifierOptions::from_settings`]); 5 s to connect, 10 s per attempt,
    /// 4 KiB of response, 4096 queued, 16 requests in flight, 4 to one host, public addresses only.
    fn default() -> Self {
        Self::with_retry(RetryPolicy::API)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_use_the_api_policy_and_validate() {
        let options = NotifierOptions::from_settings(&AppSettings::default());
        assert_eq!(options.retry, RetryPolicy::API);
        assert!(options.validate().is_ok());
    }

    #[test]
    fn nothing_may_be_zero() {
        let base = NotifierOptions::from_settings(&AppSettings::default());
        for broken in [
            NotifierOptions { request_timeout: Duration::ZERO, ..base.clone() },
            NotifierOptions { connect_timeout: Duration::ZERO, ..base.clone() },
            NotifierOptions { queue_capacity: 0, ..base.clone() },
            NotifierOptions { concurrency: 0, ..base.clone() },
            NotifierOptions { per_host_concurrency: 0, ..base.clone() },
            NotifierOptions { retry: base.retry.with_max_attempts(0), ..base.clone() },
        ] {
            assert!(matches!(broken.validate(), Err(Error::Invalid { .. })), "{broken:?}");
        }
    }
}
