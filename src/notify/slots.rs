//! [`Slots`]: how many requests may be in flight, in all and to one host, so that a dead webhook
//! shared by many tasks cannot take every slot.

use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};

#[derive(Debug)]
pub(crate) struct Slots {
    all: Arc<Semaphore>,
    per_host: DashMap<String, Arc<Semaphore>>,
    per_host_limit: usize,
}

/// A request's place; released when dropped.
#[derive(Debug)]
pub(crate) struct Slot<'a> {
    slots: &'a Slots,
    host: &'a str,
    host_permit: Option<OwnedSemaphorePermit>,
    _permit: OwnedSemaphorePermit,
}

impl Slots {
    pub(crate) fn new(all: usize, per_host: usize) -> Self {
        Self { all: Arc::new(Semaphore::new(all)), per_host: DashMap::new(), per_host_limit: per_host }
    }

    /// Waits for a slot for `host`, then for one in all: a request waiting behind its own host
    /// holds none of the shared ones.
    pub(crate) async fn acquire<'a>(&'a self, host: &'a str) -> Result<Slot<'a>> {
        // Cloned under the shard lock, which `Slot::drop` takes to forget an idle host.
        let host_slots = Arc::clone(
            &self
                .per_host
                .entry(host.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_host_limit))),
        );
        let closed = |_| Error::Closed("webhook notifier");
        let host_permit = host_slots.acquire_owned().await.map_err(closed)?;
        let permit = Arc::clone(&self.all).acquire_owned().await.map_err(closed)?;
        Ok(Slot { slots: self, host, host_permit: Some(host_permit), _permit: permit })
    }

    #[cfg(test)]
    fn hosts(&self) -> usize {
        self.per_host.len()
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        drop(self.host_permit.take());
        // Forget a host nobody is using, so the map does not grow with every webhook ever seen.
        // Under the shard lock no one can clone the semaphore meanwhile: the map holds the only
        // reference once every permit holder and waiter is gone.
        self.slots.per_host.remove_if(self.host, |_, slots| {
            Arc::strong_count(slots) == 1 && slots.available_permits() == self.slots.per_host_limit
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn one_host_cannot_take_every_slot() {
        let slots = Slots::new(3, 2);
        let (a1, a2) = (slots.acquire("a").await.unwrap(), slots.acquire("a").await.unwrap());
        let third = tokio::time::timeout(Duration::from_millis(50), slots.acquire("a")).await;
        assert!(third.is_err(), "the host's two slots are taken");
        let b = tokio::time::timeout(Duration::from_millis(50), slots.acquire("b")).await;
        assert!(b.is_ok(), "another host still gets one");
        drop(b);
        assert_eq!(slots.hosts(), 1, "b is forgotten once idle");
        drop((a1, a2));
        assert_eq!(slots.hosts(), 0);
    }
}
