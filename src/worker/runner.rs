//! [`Worker`]: the loop that receives operations and hands each to its handler; graceful
//! shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::context::{Context, Disposition};
use super::{Agent, Finisher, StatsSnapshot, TaskListener, WorkerOptions, control, rescue, run};
use crate::model::{Action, Lanes};
use crate::retry::{Backoff, Call};
use crate::scheduler::{BatchHint, Delivery, Hold, OperationStream, Scheduler};
use crate::storage::Storage;
use crate::telemetry::SlotGauge;

/// Consumes a scheduler's operations and applies them to storage, running the agent for runs.
///
/// Several workers (in one process or many) may consume one scheduler. Runs execute up to
/// `concurrency` at once; cancel, pause and resume arrive on a lane of their own
/// ([`Lanes::Control`]), never wait for a slot and interrupt a running agent. Each operation is
/// acknowledged once, after its effect is stored. One that could not start because a backend was
/// unavailable is released for a later delivery (never failed); an answer that could not be stored
/// is held and written once storage is back. See the [module docs](super) for the claim protocol.
pub struct Worker {
    ctx: Context,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("options", &self.ctx.options)
            .field("finisher", &self.ctx.finisher.is_some())
            .finish_non_exhaustive()
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
    halt: CancellationToken,
}

impl Worker {
    /// A worker with the default options ([`WorkerOptions::default`]; nothing is read from the
    /// environment: [`App::worker`](crate::App::worker) applies the settings).
    pub fn new(storage: Arc<dyn Storage>, scheduler: Arc<dyn Scheduler>, agent: Arc<dyn Agent>) -> Self {
        Self { ctx: Context::new(storage, scheduler, agent, WorkerOptions::default(), None) }
    }

    /// Replaces the options.
    pub fn with_options(mut self, options: WorkerOptions) -> Self {
        self.ctx.options = options;
        self
    }

    /// Names the worker in its metrics (`worker` label; `default` until named), to tell several
    /// workers of one process apart. Workers sharing a name add up.
    pub fn named(mut self, name: &'static str) -> Self {
        self.ctx.name = name;
        self
    }

    /// Tells `listener` about every state this worker stores.
    pub fn with_listener(mut self, listener: Arc<dyn TaskListener>) -> Self {
        self.ctx.listener = Some(listener);
        self
    }

    /// Stores each run's answer and acknowledges its delivery in one transaction through
    /// `finisher`, where it [settles](Finisher::settles) the delivery.
    /// [`App::worker`](crate::App::worker) sets it when both backends are PostgreSQL.
    pub fn with_finisher(mut self, finisher: Arc<dyn Finisher>) -> Self {
        self.ctx.finisher = Some(finisher);
        self
    }

    /// Starts consuming on the current tokio runtime.
    pub fn spawn(self) -> WorkerHandle {
        super::WorkerStats::start(self.ctx.name);
        let (stop, stopped) = oneshot::channel();
        let stats = Arc::clone(&self.ctx.stats);
        let halt = self.ctx.halt.clone();
        let join = tokio::spawn(consume(Arc::new(self.ctx), stopped));
        WorkerHandle { stop: Some(stop), join, stats, halt }
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
            self.halt.cancel();
            self.join.abort();
        }
    }
}

/// How long the loop waits before reopening a stream that failed or ended.
const REOPEN: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));

/// One lane's stream, reopened with backoff whenever it fails or ends.
struct Intake {
    lanes: Lanes,
    /// For runs: the batch each read may take, kept at the free run slots.
    batch: Option<(BatchHint, Arc<Semaphore>)>,
    stream: Option<OperationStream>,
    failures: u32,
    retry_at: Option<Instant>,
    /// Deliveries of this lane held now (running or waiting), and at most.
    held: Arc<AtomicUsize>,
    limit: usize,
}

/// Counts one held delivery of a lane until dropped (also when its handler panics).
struct Held(Arc<AtomicUsize>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Intake {
    fn new(lanes: Lanes, limit: usize) -> Self {
        Self { lanes, batch: None, stream: None, failures: 0, retry_at: None, held: Arc::default(), limit }
    }

    /// Reads batches of up to the free slots of `slots` (never more than there is room for).
    fn batched(mut self, slots: &Arc<Semaphore>) -> Self {
        self.batch = Some((BatchHint::new(1), Arc::clone(slots)));
        self
    }

    /// The next delivery. Dropping the future loses nothing (the streams are cancel-safe, and a
    /// pending reopen waits for the same instant next time).
    async fn next(&mut self, ctx: &Context) -> Delivery {
        let lanes = self.lanes;
        let hint = self.batch.as_ref().map(|(hint, _)| hint.clone());
        loop {
            if let Some(at) = self.retry_at {
                tokio::time::sleep_until(at).await;
                self.retry_at = None;
            }
            let stream = match &mut self.stream {
                Some(stream) => stream,
                None => match ctx.step(Call::RECEIVE, || open(ctx, lanes, hint.clone())).await {
                    Ok(opened) => self.stream.insert(opened),
                    Err(err) => {
                        self.failed(format_args!("could not open the {lanes:?} stream: {err}"));
                        continue;
                    }
                },
            };
            if let Some((hint, slots)) = &self.batch {
                let room = self.limit.saturating_sub(self.held.load(Ordering::Relaxed));
                hint.set(slots.available_permits().min(room));
            }
            match stream.next().await {
                Some(Ok(delivery)) => {
                    self.failures = 0;
                    return delivery;
                }
                Some(Err(err)) => self.failed(format_args!("the {lanes:?} stream failed: {err}")),
                None => self.failed(format_args!("the {lanes:?} stream ended")),
            }
        }
    }

    fn failed(&mut self, what: std::fmt::Arguments<'_>) {
        self.stream = None;
        self.failures = self.failures.saturating_add(1);
        let wait = REOPEN.wait(self.failures);
        tracing::warn!(retry_in_ms = wait.as_millis() as u64, "{what}; reopening it");
        self.retry_at = Some(Instant::now() + wait);
    }

    fn has_room(&self) -> bool {
        self.held.load(Ordering::Relaxed) < self.limit
    }

    fn hold(&self) -> Held {
        self.held.fetch_add(1, Ordering::Relaxed);
        Held(Arc::clone(&self.held))
    }
}

/// Opens a stream of `lanes`, batched by `hint` when there is one.
async fn open(ctx: &Context, lanes: Lanes, hint: Option<BatchHint>) -> crate::error::Result<OperationStream> {
    match hint {
        Some(hint) => ctx.scheduler.receive_batched(lanes, hint).await,
        None => ctx.scheduler.receive(lanes).await,
    }
}

async fn consume(ctx: Arc<Context>, mut stopped: oneshot::Receiver<Duration>) -> ShutdownReport {
    let concurrency = ctx.options.concurrency.max(1);
    let slots = Arc::new(Semaphore::new(concurrency));
    let _capacity = SlotGauge::capacity(ctx.name, concurrency);
    let stop = CancellationToken::new();
    let mut handlers = JoinSet::new();
    // At most this many runs are held (running or waiting for a slot), so that one worker does not
    // hoard a shared queue. Control operations are quick storage writes with a lane of their own.
    let mut runs = Intake::new(Lanes::Runs, concurrency * 2).batched(&slots);
    let mut control = Intake::new(Lanes::Control, concurrency.max(8) * 4);
    let mut rescues = ctx.options.rescue.map(|options| tokio::time::interval(options.every));
    let mut rescuing: Option<tokio::task::JoinHandle<()>> = None;
    let grace = loop {
        let (intake, delivery) = tokio::select! {
            biased;
            grace = &mut stopped => break grace.unwrap_or_default(),
            Some(done) = handlers.join_next(), if !handlers.is_empty() => {
                if let Err(err) = done {
                    tracing::error!(error = %err, "an operation handler ended abnormally");
                }
                continue;
            }
            delivery = control.next(&ctx), if control.has_room() => (&control, delivery),
            delivery = runs.next(&ctx), if runs.has_room() => (&runs, delivery),
            _ = tick(&mut rescues) => {
                if rescuing.as_ref().is_none_or(tokio::task::JoinHandle::is_finished) {
                    rescuing = Some(tokio::spawn(rescue::once(Arc::clone(&ctx))));
                }
                continue;
            }
        };
        let held = intake.hold();
        let (ctx, slots, stop) = (Arc::clone(&ctx), Arc::clone(&slots), stop.clone());
        handlers.spawn(async move {
            handle(ctx, delivery, slots, stop).await;
            drop(held);
        });
    };
    // Stop taking new operations; runs still waiting for a slot give up at once.
    drop((runs, control));
    if let Some(rescuing) = rescuing {
        rescuing.abort();
    }
    stop.cancel();
    let mut finished = 0;
    let drained = tokio::time::timeout(grace, async {
        while handlers.join_next().await.is_some() {
            finished += 1;
        }
    })
    .await;
    let abandoned = if drained.is_err() { handlers.len() } else { 0 };
    ctx.halt.cancel();
    handlers.abort_all();
    while handlers.join_next().await.is_some() {}
    if abandoned > 0 {
        tracing::warn!(abandoned, "shutdown deadline reached; the rest will be delivered again");
    }
    ShutdownReport { finished, abandoned }
}

/// The next rescue tick; never, when rescue is off.
async fn tick(rescues: &mut Option<tokio::time::Interval>) {
    match rescues {
        Some(interval) => drop(interval.tick().await),
        None => std::future::pending().await,
    }
}

/// Handles one delivery, in a span that carries its ids: every storage and scheduler call made for
/// it (through `Retrying`) nests under that span, so a task can be followed to its result.
async fn handle(ctx: Arc<Context>, delivery: Delivery, slots: Arc<Semaphore>, stop: CancellationToken) {
    let delivery = Arc::new(delivery);
    let operation = delivery.operation();
    let task_id = operation.action.task_id();
    let span = tracing::info_span!(
        "operation",
        action = operation.action.name(),
        %task_id,
        context_id = tracing::field::Empty,
        operation_id = %operation.id,
        delivery = delivery.delivery_count(),
        worker = ctx.name,
    );
    let handled = async {
        let disposition = match &operation.action {
            Action::Run(params) => {
                tracing::Span::current().record("context_id", tracing::field::display(&params.context_id));
                match wait_for_slot(&ctx, &delivery, &slots, &stop).await {
                    Some(_slot) => {
                        let _in_use = SlotGauge::in_use(ctx.name);
                        run::run(&ctx, &delivery, params).await
                    }
                    None => Disposition::Leave,
                }
            }
            Action::Cancel(_) => control::cancel(&ctx, task_id).await,
            Action::Pause(_) => control::pause(&ctx, task_id).await,
            Action::Resume(_) => control::resume(&ctx, task_id, operation.id).await,
        };
        ctx.settle(&delivery, disposition).await;
    };
    handled.instrument(span).await;
}

/// Waits for a run slot, keeping the delivery alive meanwhile (so that the scheduler does not
/// hand it to another worker while it waits here); `None` when the worker is stopping or the
/// delivery was taken over anyway.
async fn wait_for_slot<'a>(
    ctx: &Context,
    delivery: &Delivery,
    slots: &'a Semaphore,
    stop: &CancellationToken,
) -> Option<tokio::sync::SemaphorePermit<'a>> {
    // The usual case, a free slot: no timer for the keep-alive below.
    if let Ok(slot) = slots.try_acquire() {
        return (!stop.is_cancelled()).then_some(slot);
    }
    let acquire = slots.acquire();
    tokio::pin!(acquire);
    let mut beats = tokio::time::interval(ctx.options.heartbeat);
    beats.tick().await;
    loop {
        tokio::select! {
            slot = &mut acquire => return slot.ok(),
            () = stop.cancelled() => return None,
            _ = beats.tick() => match delivery.keep_alive().await {
                Ok(Hold::Held) => {}
                Ok(Hold::Lost) => return None,
                Err(err) => {
                    tracing::warn!(operation = %delivery.operation().id, error = %err, "could not keep a waiting delivery alive");
                }
            },
        }
    }
}
