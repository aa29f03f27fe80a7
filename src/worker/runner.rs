//! [`Worker`]: the loop that receives operations and hands each to its handler; graceful
//! shutdown.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::context::{Context, Disposition};
use super::{Agent, StatsSnapshot, TaskListener, WorkerOptions, control, run};
use crate::model::Action;
use crate::retry::{Call, RetryPolicy};
use crate::scheduler::{Delivery, OperationStream, Scheduler};
use crate::storage::Storage;

/// Consumes a scheduler's operations and applies them to storage, running the agent for runs.
///
/// Several workers (in one process or many) may consume one scheduler. Runs execute up to
/// `concurrency` at once; cancel, pause and resume never wait for a slot and interrupt a running
/// agent. Each operation is acknowledged once, after its effect is stored; one whose effect could
/// not be stored is left unacknowledged for the scheduler to deliver again.
pub struct Worker {
    ctx: Context,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("options", &self.ctx.options).finish_non_exhaustive()
    }
}

/// What [`WorkerHandle::shutdown`] observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Operations that finished within the grace period.
    pub finished: usize,
    /// Operations still running at the deadline, stopped and left unacknowledged.
    pub abandoned: usize,
}

/// A running worker.
#[derive(Debug)]
pub struct WorkerHandle {
    stop: Option<oneshot::Sender<Duration>>,
    join: tokio::task::JoinHandle<ShutdownReport>,
    stats: Arc<super::WorkerStats>,
}

impl Worker {
    /// A worker with the default options (the worker retry policy from the process settings when
    /// they are valid, else Bindu's).
    pub fn new(storage: Arc<dyn Storage>, scheduler: Arc<dyn Scheduler>, agent: Arc<dyn Agent>) -> Self {
        let mut options = WorkerOptions::default();
        if let Ok(settings) = crate::settings::RetrySettings::global() {
            options.retry = settings.worker;
        }
        Self { ctx: Context::new(storage, scheduler, agent, options, None) }
    }

    /// Replaces the options.
    pub fn with_options(mut self, options: WorkerOptions) -> Self {
        self.ctx.options = options;
        self
    }

    /// Tells `listener` about every state this worker stores.
    pub fn with_listener(mut self, listener: Arc<dyn TaskListener>) -> Self {
        self.ctx.listener = Some(listener);
        self
    }

    /// Starts consuming on the current tokio runtime.
    pub fn spawn(self) -> WorkerHandle {
        let (stop, stopped) = oneshot::channel();
        let stats = Arc::clone(&self.ctx.stats);
        let join = tokio::spawn(consume(Arc::new(self.ctx), stopped));
        WorkerHandle { stop: Some(stop), join, stats }
    }
}

impl WorkerHandle {
    /// The worker's counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Stops taking new operations, lets running ones finish for up to `grace`, then stops the
    /// rest, leaving them unacknowledged so that the scheduler delivers them again.
    pub async fn shutdown(mut self, grace: Duration) -> ShutdownReport {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(grace);
        }
        match (&mut self.join).await {
            Ok(report) => report,
            Err(err) => {
                tracing::error!(error = %err, "the worker loop ended abnormally");
                ShutdownReport { finished: 0, abandoned: 0 }
            }
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        if self.stop.is_some() {
            self.join.abort();
        }
    }
}

/// How long the loop waits before reopening a stream that failed or ended.
const REOPEN: RetryPolicy = RetryPolicy::new(u32::MAX, Duration::from_millis(200), Duration::from_secs(10));

async fn consume(ctx: Arc<Context>, mut stopped: oneshot::Receiver<Duration>) -> ShutdownReport {
    let slots = Arc::new(Semaphore::new(ctx.options.concurrency.max(1)));
    let stop = CancellationToken::new();
    let mut handlers = JoinSet::new();
    let mut stream: Option<OperationStream> = None;
    let mut reopen_attempt = 0u32;
    // At most this many operations are held (running or waiting for a slot), so that one worker
    // does not hoard a shared queue.
    let hold = ctx.options.concurrency.max(1) * 2;
    let grace = loop {
        let Some(operations) = stream.as_mut() else {
            tokio::select! {
                grace = &mut stopped => break grace.unwrap_or_default(),
                opened = ctx.step(Call::RECEIVE_TASK_OPERATIONS, || ctx.scheduler.receive_task_operations()) => match opened {
                    Ok(opened) => { stream = Some(opened); reopen_attempt = 0; }
                    Err(err) => {
                        reopen_attempt += 1;
                        tracing::warn!(error = %err, "could not open the operation stream; trying again");
                        tokio::select! {
                            grace = &mut stopped => break grace.unwrap_or_default(),
                            () = tokio::time::sleep(REOPEN.base_wait(reopen_attempt)) => {}
                        }
                    }
                },
            }
            continue;
        };
        tokio::select! {
            biased;
            grace = &mut stopped => break grace.unwrap_or_default(),
            Some(_) = handlers.join_next(), if !handlers.is_empty() => {}
            item = operations.next(), if handlers.len() < hold => match item {
                Some(Ok(delivery)) => {
                    let (ctx, slots, stop) = (Arc::clone(&ctx), Arc::clone(&slots), stop.clone());
                    handlers.spawn(handle(ctx, delivery, slots, stop));
                }
                Some(Err(err)) => {
                    tracing::warn!(error = %err, "the operation stream failed; reopening it");
                    stream = None;
                }
                None => {
                    tracing::warn!("the operation stream ended; reopening it");
                    stream = None;
                }
            },
        }
    };
    // Stop taking new operations; runs still waiting for a slot give up at once.
    drop(stream);
    stop.cancel();
    let mut finished = 0;
    let drained = tokio::time::timeout(grace, async {
        while handlers.join_next().await.is_some() {
            finished += 1;
        }
    })
    .await;
    let abandoned = if drained.is_err() { handlers.len() } else { 0 };
    handlers.abort_all();
    while handlers.join_next().await.is_some() {}
    if abandoned > 0 {
        tracing::warn!(abandoned, "shutdown deadline reached; the rest will be delivered again");
    }
    ShutdownReport { finished, abandoned }
}

async fn handle(ctx: Arc<Context>, delivery: Delivery, slots: Arc<Semaphore>, stop: CancellationToken) {
    let operation = delivery.operation();
    let task_id = operation.action.task_id();
    let disposition = match &operation.action {
        Action::Run(params) => {
            let Some(_slot) = wait_for_slot(&ctx, &delivery, &slots, &stop).await else {
                ctx.settle(&delivery, Disposition::Leave).await;
                return;
            };
            run::run(&ctx, &delivery, params).await
        }
        Action::Cancel(_) => control::cancel(&ctx, task_id).await,
        Action::Pause(_) => control::pause(&ctx, task_id).await,
        Action::Resume(_) => control::resume(&ctx, task_id, operation.id).await,
    };
    ctx.settle(&delivery, disposition).await;
}

/// Waits for a run slot, keeping the delivery alive meanwhile (so that the scheduler does not
/// hand it to another worker while it waits here); `None` when the worker is stopping.
async fn wait_for_slot<'a>(
    ctx: &Context,
    delivery: &Delivery,
    slots: &'a Semaphore,
    stop: &CancellationToken,
) -> Option<tokio::sync::SemaphorePermit<'a>> {
    let acquire = slots.acquire();
    tokio::pin!(acquire);
    let mut beats = tokio::time::interval(ctx.options.heartbeat);
    beats.tick().await;
    loop {
        tokio::select! {
            slot = &mut acquire => return slot.ok(),
            () = stop.cancelled() => return None,
            _ = beats.tick() => {
                if let Err(err) = delivery.keep_alive().await {
                    tracing::warn!(operation = %delivery.operation().id, error = %err, "could not keep a waiting delivery alive");
                }
            }
        }
    }
}
