//! Acknowledgements committed in groups.
//!
//! A worker acknowledges every delivery it settles, and each acknowledgement alone is a
//! transaction. Acknowledgements that arrive while one is being written wait for it and then go
//! together, as one statement: under load a transaction acknowledges many deliveries; alone, an
//! acknowledgement goes at once, as before. Each caller still returns only after its own
//! acknowledgement committed, so the guarantee is unchanged; a group that fails hands every
//! member back to the one-by-one path, which reports that member's own error.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use super::Shared;
use crate::error::Result;

/// The acknowledgements waiting for the next group, and whether a group is being written.
#[derive(Debug, Default)]
pub(super) struct AckGroups {
    pending: Mutex<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    /// A flusher task is running: it takes what is waiting once its group is written.
    flushing: bool,
    waiting: Vec<Waiting>,
}

#[derive(Debug)]
struct Waiting {
    id: uuid::Uuid,
    holder: String,
    /// Told whether the group committed.
    done: oneshot::Sender<bool>,
}

impl AckGroups {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Acknowledges the delivery `id` leased to `holder`, in the next group.
pub(super) async fn ack(shared: &Arc<Shared>, id: uuid::Uuid, holder: &str) -> Result<()> {
    let (done, committed) = oneshot::channel();
    let lead = {
        let mut pending = shared.acks.lock();
        pending.waiting.push(Waiting { id, holder: holder.to_owned(), done });
        !std::mem::replace(&mut pending.flushing, true)
    };
    if lead {
        // A task of its own, so that a caller giving up (a timeout, a shutdown) never strands
        // the others waiting on its group.
        tokio::spawn(flush(Arc::clone(shared)));
    }
    if committed.await == Ok(true) {
        return Ok(());
    }
    let queue = &shared.queue;
    shared.run(async |client| queue.ack(&*client, id, holder).await).await
}

/// Writes groups until nothing waits.
async fn flush(shared: Arc<Shared>) {
    loop {
        let mut group = {
            let mut pending = shared.acks.lock();
            if pending.waiting.is_empty() {
                pending.flushing = false;
                return;
            }
            std::mem::take(&mut pending.waiting)
        };
        // One order for every group: two groups never wait on each other's rows.
        group.sort_unstable_by_key(|waiting| waiting.id);
        let ids: Vec<uuid::Uuid> = group.iter().map(|waiting| waiting.id).collect();
        let holders: Vec<&str> = group.iter().map(|waiting| waiting.holder.as_str()).collect();
        let queue = &shared.queue;
        let committed =
            shared.run(async |client| queue.ack_all(&*client, &ids, &holders).await).await.is_ok();
        for waiting in group {
            let _ = waiting.done.send(committed);
        }
    }
}
