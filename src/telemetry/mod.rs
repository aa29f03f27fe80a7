//! Metrics and traces: how an operator sees retries, queues, workers and webhooks.
//!
//! **Metrics** go through the [`metrics`](https://docs.rs/metrics) facade: the library records, the application
//! picks the exporter (Prometheus, OpenTelemetry, StatsD…) by installing a recorder, or none.
//! Every name is in [`METRICS`] and in the README's table; [`describe`] gives the recorder their
//! help texts ([`App::connect`](crate::App::connect) calls it when a recorder is installed).
//!
//! **Nothing is paid without a recorder.** Each place that records first asks [`enabled`] (a
//! thread-local read and an atomic load); when it says no, no clock is read, no label is built and
//! nothing is allocated: `Retrying`'s success path stays the bare call (`tests/allocations.rs`,
//! BENCHMARKS.md section 1).
//!
//! **Traces** go through `tracing`: every call through [`Retrying`](crate::Retrying) has a
//! DEBUG span named after the operation (`operation`, `backend`, `role`, `attempt`, and the
//! `task_id`, `context_id` and `operation_id` its arguments carry), and every operation a
//! [`Worker`](crate::worker::Worker) handles has an INFO span `operation` (`action`, `task_id`,
//! `context_id`, `operation_id`, `delivery`) under which its storage and scheduler calls nest.
//!
//! Queue depth and age are sampled, not counted: [`QueueSampler`] polls a scheduler every few
//! seconds (`App` starts one). Series whose labels are known when their owner starts (`App`,
//! `Worker::spawn`, `WebhookNotifier::new`) are recorded then at zero, so a first event is an
//! increase rather than a new series.

mod calls;
mod deliveries;
mod names;
mod queue;
mod spans;
pub(crate) mod start;
#[cfg(feature = "webhooks")]
mod webhooks;
mod worker;

pub use names::{METRICS, Metric, MetricKind};
pub use queue::{QueueLevels, QueueSampler};

pub(crate) use calls::Meter;
pub(crate) use deliveries::{count_enqueued, metered};
pub(crate) use names::*;
pub(crate) use spans::{call_span, trace_arg};
#[cfg(feature = "webhooks")]
pub(crate) use webhooks::{WebhookTimer, start_webhooks, webhook_attempt, webhook_outcome};
pub(crate) use worker::{AgentTimer, SlotGauge};

use ::metrics::{KeyName, SharedString, Unit};

/// Whether a metrics recorder is installed (globally, or for this thread): then the crate
/// records its metrics, else it skips them at the cost of this check.
///
/// The `metrics` facade has no "is a recorder installed" call; its no-op recorder is of size
/// zero, so a recorder of size zero is taken for it. Every recorder that keeps its metrics in
/// itself (the exporters, `metrics-util`'s) has a size; one that keeps them only in statics must
/// hold some field to be seen.
#[inline]
pub fn enabled() -> bool {
    ::metrics::with_recorder(|recorder| std::mem::size_of_val(recorder) != 0)
}

/// Gives the installed recorder the type, unit and help text of every name in [`METRICS`].
/// Call it after installing the recorder; [`App::connect`](crate::App::connect) does.
pub fn describe() {
    if !enabled() {
        return;
    }
    ::metrics::with_recorder(|recorder| {
        for metric in METRICS {
            let name = KeyName::from_const_str(metric.name);
            let unit = metric.name.contains("_seconds").then_some(Unit::Seconds);
            let help = SharedString::const_str(metric.help);
            match metric.kind {
                MetricKind::Counter => recorder.describe_counter(name, unit, help),
                MetricKind::Gauge => recorder.describe_gauge(name, unit, help),
                MetricKind::Histogram => recorder.describe_histogram(name, unit, help),
            }
        }
    });
}
