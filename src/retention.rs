//! Pruning what is finished: acknowledged operations and, when a retention is set, terminal
//! tasks — in bounded batches, once ([`prune`], what `bindu-admin prune` runs) or every
//! `RETENTION_INTERVAL` in the background ([`Pruner`], started by [`App`](crate::App)).

use std::sync::Mutex;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::scheduler::Scheduler;
use crate::settings::RetentionSettings;
use crate::storage::Storage;

/// Most batches of each kind per round: a backlog of old rows is worked off over several rounds
/// rather than in one long burst.
pub const MAX_BATCHES: usize = 100;

/// What one round deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Acknowledged operations forgotten.
    pub operations: u64,
    /// Terminal tasks deleted (with their records; 0 when `RETENTION_TASKS` is off).
    pub tasks: u64,
}

/// One round: batches of `settings.batch` acknowledged operations older than
/// `settings.operations`, then of terminal tasks older than `settings.tasks` (when set), each
/// while batches come back full, at most [`MAX_BATCHES`] of them.
pub async fn prune(
    storage: &dyn Storage,
    scheduler: &dyn Scheduler,
    settings: &RetentionSettings,
) -> Result<PruneReport> {
    let operations = batches(settings.batch, || scheduler.prune(settings.operations, settings.batch)).await?;
    let tasks = match settings.tasks {
        Some(older_than) => {
            batches(settings.batch, || storage.prune_tasks(older_than, settings.batch)).await?
        }
        None => 0,
    };
    Ok(PruneReport { operations, tasks })
}

async fn batches<F, Fut>(batch: usize, mut prune: F) -> Result<u64>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64>>,
{
    let mut total = 0;
    for _ in 0..MAX_BATCHES {
        let deleted = prune().await?;
        total += deleted;
        if deleted < batch as u64 {
            break;
        }
    }
    Ok(total)
}

/// The background pruning of an [`App`](crate::App): a round every `RETENTION_INTERVAL`, the
/// first one interval after the start. A failed round is logged and the next one tries again.
/// Stopped by [`stop`](Self::stop), or when dropped.
#[derive(Debug)]
pub struct Pruner {
    stop: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Pruner {
    /// Starts pruning on the current tokio runtime; `None` when `settings.interval` is off.
    pub fn spawn(
        storage: std::sync::Arc<dyn Storage>,
        scheduler: std::sync::Arc<dyn Scheduler>,
        settings: RetentionSettings,
    ) -> Option<Self> {
        let interval = settings.interval?;
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stopped.cancelled() => return,
                    () = tokio::time::sleep(interval) => {}
                }
                let round = tokio::select! {
                    () = stopped.cancelled() => return,
                    round = prune(&*storage, &*scheduler, &settings) => round,
                };
                match round {
                    Ok(report) if report == PruneReport::default() => {}
                    Ok(report) => {
                        tracing::info!(
                            operations = report.operations,
                            tasks = report.tasks,
                            "pruned finished work"
                        )
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "could not prune finished work; trying again later")
                    }
                }
            }
        });
        Some(Self { stop, task: Mutex::new(Some(task)) })
    }

    /// Stops pruning (a round under way is abandoned) and waits until it has stopped.
    pub async fn stop(&self) {
        self.stop.cancel();
        let task = self.task.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some(task) = task {
            // An error means the task panicked, which tokio has already reported.
            let _ = task.await;
        }
    }
}

impl Drop for Pruner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
