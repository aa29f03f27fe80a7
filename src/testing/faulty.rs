//! [`Faulty`]: wraps any backend and fails chosen calls with chosen kinds of error.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::error::{BackendError, Error, Result, Transience};
use crate::forwarding::boxed_methods;
use crate::model::{
    ClaimOutcome, ClaimRequest, ClaimToken, Context, ContextId, ContextSummary, DeadLetter, DeadLetterId,
    FailedNotification, Feedback, Lanes, Message, Metadata, Page, PushNotificationConfig, QueueStats,
    Renewal, StuckTask, Submission, Task, TaskId, TaskOperation, TaskState, TaskUpdate,
};
use crate::retry::Call;
use crate::scheduler::{BatchHint, Hold, OperationStream, Receipt, Scheduler, scheduler_methods};
use crate::storage::{Storage, storage_methods};

/// One injected failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Let the call through (to script a fault for a later call).
    Pass,
    /// Fail without calling the backend: the request was not applied.
    Before(Transience),
    /// Call the backend, then report a failure anyway: the request was applied but its answer
    /// was lost (what an uncertain error means).
    After(Transience),
}

/// A backend whose calls fail as scripted, counting every call. Implements [`Storage`] and
/// [`Scheduler`] when the wrapped backend does; the deliveries of its streams are wrapped too, so
/// that acknowledgements, releases and keep-alives fail with it (as [`Call::ACK`],
/// [`Call::RELEASE`], [`Call::DEAD_LETTER`] and `keep_alive`).
///
/// Besides scripted faults it can be taken [down](Faulty::set_down): every call then fails as
/// a refused connection would (transient, not applied) and its streams hand out nothing, until
/// it is up again — an outage of any length.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use bindu::testing::{Fault, Faulty};
/// use bindu::{Call, InMemoryStorage, Storage, TaskId, Transience};
/// let storage = Faulty::new(InMemoryStorage::new());
/// storage.script(Call::LOAD_TASK, [Fault::Before(Transience::Transient)]);
/// assert!(storage.load_task(TaskId::new(), None).await.is_err());
/// assert!(storage.load_task(TaskId::new(), None).await.is_ok());
/// assert_eq!(storage.calls(Call::LOAD_TASK), 2);
/// storage.set_down(true);
/// assert!(storage.load_task(TaskId::new(), None).await.is_err());
/// # }
/// ```
#[derive(Debug)]
pub struct Faulty<S> {
    inner: S,
    control: Arc<Control>,
}

#[derive(Debug, Default)]
struct Control {
    script: Mutex<Script>,
    down: AtomicBool,
    up: Notify,
}

#[derive(Debug, Default)]
struct Script {
    faults: HashMap<&'static str, VecDeque<Fault>>,
    calls: HashMap<&'static str, u32>,
}

const KEEP_ALIVE: Call = Call::idempotent("keep_alive");

impl<S> Faulty<S> {
    /// Wraps `inner`; no faults are scripted yet.
    pub fn new(inner: S) -> Self {
        Self { inner, control: Arc::default() }
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Makes the next calls of `call` fail with `faults`, one per call, in order.
    pub fn script(&self, call: Call, faults: impl IntoIterator<Item = Fault>) {
        self.control.lock().faults.entry(call.name).or_default().extend(faults);
    }

    /// How many times `call` was made (failed ones included).
    pub fn calls(&self, call: Call) -> u32 {
        self.control.lock().calls.get(call.name).copied().unwrap_or(0)
    }

    /// Takes the backend down (every call fails transiently, streams hand out nothing) or brings
    /// it back up.
    pub fn set_down(&self, down: bool) {
        self.control.down.store(down, Ordering::SeqCst);
        if !down {
            self.control.up.notify_waiters();
        }
    }

    /// Whether it is down.
    pub fn is_down(&self) -> bool {
        self.control.down.load(Ordering::SeqCst)
    }

    async fn run<T>(&self, call: Call, operation: impl Future<Output = Result<T>>) -> Result<T> {
        self.control.run(call, operation).await
    }
}

impl Control {
    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn run<T>(&self, call: Call, operation: impl Future<Output = Result<T>>) -> Result<T> {
        let fault = {
            let mut script = self.lock();
            *script.calls.entry(call.name).or_default() += 1;
            script.faults.get_mut(call.name).and_then(VecDeque::pop_front)
        };
        if self.down.load(Ordering::SeqCst) {
            return Err(injected(call, Transience::Transient, "while down, before"));
        }
        match fault {
            None | Some(Fault::Pass) => operation.await,
            Some(Fault::Before(transience)) => Err(injected(call, transience, "before")),
            Some(Fault::After(transience)) => {
                let _ = operation.await;
                Err(injected(call, transience, "after"))
            }
        }
    }

    /// Returns once the backend is up.
    async fn wait_up(&self) {
        loop {
            let up = self.up.notified();
            tokio::pin!(up);
            up.as_mut().enable();
            if !self.down.load(Ordering::SeqCst) {
                return;
            }
            up.await;
        }
    }
}

fn injected(call: Call, transience: Transience, when: &str) -> Error {
    BackendError::new("faulty", transience, format!("injected {transience} fault {when} {}", call.name))
        .into()
}

/// A delivery's receipt whose calls go through the faults of the scheduler it came from.
struct FaultyReceipt {
    inner: Box<dyn Receipt>,
    control: Arc<Control>,
}

#[async_trait]
impl Receipt for FaultyReceipt {
    async fn ack(&self) -> Result<()> {
        self.control.run(Call::ACK, self.inner.ack()).await
    }
    async fn dead_letter(&self, reason: &str) -> Result<()> {
        self.control.run(Call::DEAD_LETTER, self.inner.dead_letter(reason)).await
    }
    async fn release(&self, delay: Duration) -> Result<()> {
        self.control.run(Call::RELEASE, self.inner.release(delay)).await
    }
    async fn keep_alive(&self) -> Result<Hold> {
        self.control.run(KEEP_ALIVE, self.inner.keep_alive()).await
    }
    fn acknowledged_elsewhere(&self) {
        self.inner.acknowledged_elsewhere();
    }
}

/// The body of every forwarded method: the inner call under the scripted faults.
macro_rules! faulted {
    (() $self:tt, $call:ident, $name:ident, $($arg:ident),*) => {
        Box::pin($self.run(Call::$call, $self.inner.$name($($arg),*)))
    };
}

#[deny(clippy::missing_trait_methods)]
impl<S: Storage> Storage for Faulty<S> {
    storage_methods!(boxed_methods! { body = faulted(); });
}

impl<S> Faulty<S> {
    /// `stream` with the faults: nothing is handed out while the backend is down, and the
    /// deliveries' receipts fail like the backend.
    fn faulty_stream(&self, stream: OperationStream) -> OperationStream {
        let control = Arc::clone(&self.control);
        Box::pin(stream.then(move |item| {
            let control = Arc::clone(&control);
            async move {
                control.wait_up().await;
                item.map(|delivery| delivery.map_receipt(|inner| Box::new(FaultyReceipt { inner, control })))
            }
        }))
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Scheduler> Scheduler for Faulty<S> {
    async fn enqueue(&self, operation: &TaskOperation) -> Result<()> {
        self.run(Call::ENQUEUE, self.inner.enqueue(operation)).await
    }
    async fn receive(&self, lanes: Lanes) -> Result<OperationStream> {
        let stream = self.run(Call::RECEIVE, self.inner.receive(lanes)).await?;
        Ok(self.faulty_stream(stream))
    }
    async fn receive_batched(&self, lanes: Lanes, batch: BatchHint) -> Result<OperationStream> {
        let stream = self.run(Call::RECEIVE, self.inner.receive_batched(lanes, batch)).await?;
        Ok(self.faulty_stream(stream))
    }
    scheduler_methods!(boxed_methods! { body = faulted(); });
}
