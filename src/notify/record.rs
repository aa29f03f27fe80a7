//! What a notifier remembers: counters, the backlog bound, and the latest notifications that
//! failed in this process (each is also stored, see [`Storage::record_failed_notification`](crate::Storage::record_failed_notification)).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

pub use crate::model::{FailedNotification, FailureReason};
use crate::telemetry::webhook_outcome;

/// A notifier's counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotifierStats {
    /// Notifications a webhook answered with 2xx.
    pub delivered: u64,
    /// Notifications that failed for good, queue drops included.
    pub failed: u64,
    /// Of those, states dropped because the backlog was full.
    pub dropped: u64,
    /// Notifications queued or being delivered now.
    pub outstanding: usize,
}

/// Shared by the notifier (which reserves) and the deliveries (which record).
#[derive(Debug)]
pub(crate) struct Ledger {
    outstanding: AtomicUsize,
    capacity: usize,
    idle: Notify,
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    failures: Mutex<VecDeque<FailedNotification>>,
    failures_kept: usize,
}

impl Ledger {
    pub(crate) fn new(capacity: usize, failures_kept: usize) -> Arc<Self> {
        Arc::new(Self {
            outstanding: AtomicUsize::new(0),
            capacity,
            idle: Notify::new(),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            failures: Mutex::default(),
            failures_kept,
        })
    }

    /// A place in the backlog, or `None` when it is full. Lock-free: called on the worker's path.
    pub(crate) fn reserve(self: &Arc<Self>) -> Option<Reservation> {
        self.outstanding
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.capacity).then_some(n + 1))
            .ok()
            .map(|_| Reservation(Arc::clone(self)))
    }

    pub(crate) fn delivered(&self) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
        webhook_outcome("delivered");
    }

    pub(crate) fn record(&self, failure: FailedNotification) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        webhook_outcome(failure.reason.label());
        if failure.reason == FailureReason::Dropped {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        if self.failures_kept == 0 {
            return;
        }
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if failures.len() == self.failures_kept {
            failures.pop_front();
        }
        failures.push_back(failure);
    }

    pub(crate) fn failures(&self) -> Vec<FailedNotification> {
        self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).iter().cloned().collect()
    }

    pub(crate) fn stats(&self) -> NotifierStats {
        NotifierStats {
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            outstanding: self.outstanding.load(Ordering::Acquire),
        }
    }

    /// Waits until nothing is outstanding; `false` if that took longer than `limit`.
    pub(crate) async fn until_idle(&self, limit: Duration) -> bool {
        let idle = async {
            loop {
                // Registered before the check, so a release between the two is not missed.
                let released = self.idle.notified();
                tokio::pin!(released);
                released.as_mut().enable();
                if self.outstanding.load(Ordering::Acquire) == 0 {
                    return;
                }
                released.await;
            }
        };
        tokio::time::timeout(limit, idle).await.is_ok()
    }
}

/// A notification's place in the backlog, released when it is dropped: after its delivery ends
/// however it ends (done, failed, panicked, aborted).
#[derive(Debug)]
pub(crate) struct Reservation(Arc<Ledger>);

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.0.outstanding.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;
    use crate::model::{ContextId, TaskId, TaskState, TaskStatus};

    fn failure(reason: FailureReason) -> FailedNotification {
        FailedNotification {
            notification_id: Uuid::new_v4(),
            task_id: TaskId::new(),
            context_id: ContextId::new(),
            status: TaskStatus::now(TaskState::Working),
            webhook_host: None,
            attempts: 0,
            reason,
            error: String::new(),
            failed_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn the_backlog_is_bounded_and_idles_when_released() {
        let ledger = Ledger::new(2, 10);
        let (a, b) = (ledger.reserve().unwrap(), ledger.reserve().unwrap());
        assert!(ledger.reserve().is_none(), "full");
        assert_eq!(ledger.stats().outstanding, 2);
        assert!(!ledger.until_idle(Duration::from_millis(20)).await);
        drop(a);
        let waiter = tokio::spawn({
            let ledger = Arc::clone(&ledger);
            async move { ledger.until_idle(Duration::from_secs(5)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(b);
        assert!(waiter.await.unwrap());
        assert!(ledger.reserve().is_some());
    }

    #[test]
    fn only_the_newest_failures_are_kept() {
        let ledger = Ledger::new(1, 2);
        let failures: Vec<_> = (0..3).map(|_| failure(FailureReason::Exhausted)).collect();
        for f in &failures {
            ledger.record(f.clone());
        }
        ledger.record(failure(FailureReason::Dropped));
        let kept = ledger.failures();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0], failures[2]);
        assert_eq!(kept[1].reason, FailureReason::Dropped);
        let stats = ledger.stats();
        assert_eq!((stats.failed, stats.dropped), (4, 1));
    }
}
