//! `Retrying<S>` as a [`Scheduler`]: enqueues are retried (they are idempotent by operation id);
//! for a stream only opening it is; replaying and discarding a dead letter only when surely not
//! applied (a repeat reports `false`). Enqueues and the stream's deliveries are counted here, where
//! every backend passes (see [`telemetry`](crate::telemetry)).

use std::future::Future;
use std::pin::Pin;

use std::time::Duration;

use futures_util::FutureExt;

use super::retried::retried;
use super::{Call, RetryPolicy, Retrying};
use crate::error::Result;
use crate::forwarding::boxed_methods;
use crate::model::{DeadLetter, DeadLetterId, Lanes, Page, QueueStats, TaskOperation};
use crate::scheduler::{BatchHint, OperationStream, Scheduler, scheduler_methods};
use crate::telemetry::{call_span, count_enqueued, metered, trace_arg};

#[deny(clippy::missing_trait_methods)]
impl<S: Scheduler> Scheduler for Retrying<S> {
    fn enqueue<'life0, 'o, 'async_trait>(
        &'life0 self,
        operation: &'o TaskOperation,
    ) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        'o: 'async_trait,
        Self: 'async_trait,
    {
        let span = call_span!("enqueue", self.backend(), "scheduler");
        if !span.is_disabled() {
            trace_arg!(span, operation = operation);
        }
        let enqueued = self.call(
            ("scheduler", &RetryPolicy::SCHEDULER),
            Call::ENQUEUE,
            span,
            move || self.inner.enqueue(operation),
            || self.inner.ping(),
        );
        // A map, not an `async` block: no further state machine on the hot path.
        Box::pin(enqueued.map(move |result| {
            if result.is_ok() {
                count_enqueued(self.backend(), operation);
            }
            result
        }))
    }

    fn receive<'life0, 'async_trait>(
        &'life0 self,
        lanes: Lanes,
    ) -> Pin<Box<dyn Future<Output = Result<OperationStream>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.open_stream(move || self.inner.receive(lanes)))
    }

    fn receive_batched<'life0, 'async_trait>(
        &'life0 self,
        lanes: Lanes,
        batch: BatchHint,
    ) -> Pin<Box<dyn Future<Output = Result<OperationStream>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.open_stream(move || self.inner.receive_batched(lanes, batch.clone())))
    }

    scheduler_methods!(boxed_methods! { body = retried(SCHEDULER, "scheduler"); });
}

impl<S: Scheduler> Retrying<S> {
    /// Opens a stream with `open` through the retry loop (the `receive` call) and meters it.
    fn open_stream<'a, Fut>(
        &'a self,
        open: impl FnMut() -> Fut + Send + 'a,
    ) -> impl Future<Output = Result<OperationStream>> + Send + 'a
    where
        Fut: Future<Output = Result<OperationStream>> + Send + 'a,
    {
        let span = call_span!("receive", self.backend(), "scheduler");
        let opened = self
            .call(("scheduler", &RetryPolicy::SCHEDULER), Call::RECEIVE, span, open, || self.inner.ping());
        let backend = self.backend();
        opened.map(move |stream| stream.map(|stream| metered(backend, stream)))
    }
}
