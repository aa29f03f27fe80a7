//! The one table of every metric the crate records: its name, type, labels and meaning. The
//! README's table is checked against it, and [`describe`](super::describe) hands it to the
//! recorder.

/// What kind of metric a name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// Only goes up.
    Counter,
    /// A value that goes up and down, set when it changes or sampled.
    Gauge,
    /// A distribution of observed values (seconds here).
    Histogram,
}

impl MetricKind {
    /// `counter`, `gauge` or `histogram`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// One metric: what [`METRICS`] lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metric {
    /// Its name, by the Prometheus conventions (`_total` counters, base units in the name).
    pub name: &'static str,
    /// Its type.
    pub kind: MetricKind,
    /// The labels every series of it carries.
    pub labels: &'static [&'static str],
    /// What it means, for the recorder's help text.
    pub help: &'static str,
}

macro_rules! metrics_table {
    ($($(#[$doc:meta])* $konst:ident = $name:literal, $kind:ident, [$($label:literal),*], $help:literal;)*) => {
        $($(#[$doc])* pub(crate) const $konst: &str = $name;)*

        /// Every metric the crate records.
        pub const METRICS: &[Metric] = &[$(Metric {
            name: $name,
            kind: MetricKind::$kind,
            labels: &[$($label),*],
            help: $help,
        },)*];
    };
}

metrics_table! {
    CALLS = "bindu_calls_total", Counter, ["backend", "role", "operation", "outcome"],
        "Calls through Retrying by how they ended: ok, ok_after_retry, exhausted, permanent, circuit_open.";
    CALL_RETRIES = "bindu_call_retries_total", Counter, ["backend", "role", "operation"],
        "Attempts after the first (each one a backend call a success would have saved).";
    CALL_RETRY_WAIT = "bindu_call_retry_wait_seconds", Histogram, ["backend", "role"],
        "Time a call that was retried spent waiting between its attempts.";
    CALL_DURATION = "bindu_call_duration_seconds", Histogram, ["backend", "role", "operation"],
        "Latency of a call through Retrying, its retries and waits included.";
    BREAKER_STATE = "bindu_circuit_breaker_state", Gauge, ["backend", "role"],
        "Circuit breaker state: 0 closed, 1 open, 2 half-open (probing).";
    BREAKER_REJECTIONS = "bindu_circuit_breaker_rejections_total", Counter, ["backend", "role"],
        "Calls failed at once because the circuit was open.";
    BUDGET_TOKENS = "bindu_retry_budget_tokens", Gauge, ["backend", "role"],
        "Retries the retry budget can pay for now.";
    BUDGET_REJECTIONS = "bindu_retry_budget_rejections_total", Counter, ["backend", "role"],
        "Retryable failures returned at once because the retry budget was spent.";
    ENQUEUED = "bindu_scheduler_enqueued_total", Counter, ["backend", "lane"],
        "Operations enqueued (a duplicate id counts, though the scheduler drops it).";
    DELIVERED = "bindu_scheduler_delivered_total", Counter, ["backend", "lane"],
        "Deliveries handed to receivers, redeliveries included.";
    REDELIVERED = "bindu_scheduler_redelivered_total", Counter, ["backend", "lane"],
        "Deliveries of an operation an earlier receiver did not settle (delivery count above 1).";
    ACKNOWLEDGED = "bindu_scheduler_acknowledged_total", Counter, ["backend", "lane"],
        "Deliveries acknowledged.";
    RELEASED = "bindu_scheduler_released_total", Counter, ["backend", "lane"],
        "Deliveries handed back to be delivered later.";
    DEAD_LETTERED = "bindu_scheduler_dead_lettered_total", Counter, ["backend", "lane"],
        "Deliveries a receiver dead-lettered.";
    QUEUE_DEPTH = "bindu_scheduler_queue_depth", Gauge, ["backend", "lane"],
        "Operations waiting for a receiver (sampled).";
    QUEUE_OLDEST_AGE = "bindu_scheduler_queue_oldest_age_seconds", Gauge, ["backend"],
        "How long the oldest waiting operation has waited, 0 when none waits (sampled).";
    WORKER_RUNS = "bindu_worker_runs_total", Counter, ["worker", "outcome"],
        "Runs by outcome: completed, input_required, failed, rejected, claim_lost.";
    AGENT_DURATION = "bindu_worker_agent_duration_seconds", Histogram, ["worker", "outcome"],
        "Agent calls by how they ended: answered, error, panic, timeout, interrupted.";
    TAKEOVERS = "bindu_worker_takeovers_total", Counter, ["worker"],
        "Claims taken over from a run whose lease had run out.";
    HELD_ANSWERS = "bindu_worker_held_answers_total", Counter, ["worker"],
        "Answers held across a storage outage, written once storage was back.";
    SETTLED = "bindu_worker_settled_total", Counter, ["worker", "disposition"],
        "Operations settled by the worker: acknowledged, released, dead_lettered, left.";
    CONTROL = "bindu_worker_control_total", Counter, ["worker", "action"],
        "Cancels, pauses and resumes applied.";
    SKIPPED = "bindu_worker_skipped_total", Counter, ["worker"],
        "Operations with nothing to do (task gone, terminal, or run elsewhere).";
    RESCUED = "bindu_worker_rescued_total", Counter, ["worker"],
        "Runs enqueued for tasks left without one.";
    SLOTS = "bindu_worker_slots", Gauge, ["worker"],
        "Agent runs the running workers allow at once.";
    SLOTS_IN_USE = "bindu_worker_slots_in_use", Gauge, ["worker"],
        "Agent runs holding a slot now.";
    #[cfg_attr(not(feature = "webhooks"), allow(dead_code))]
    WEBHOOK_DELIVERIES = "bindu_webhook_deliveries_total", Counter, ["outcome"],
        "Push notifications by outcome: delivered, exhausted, rejected, invalid_config, storage, dropped, forbidden.";
    #[cfg_attr(not(feature = "webhooks"), allow(dead_code))]
    WEBHOOK_ATTEMPTS = "bindu_webhook_attempts_total", Counter, [],
        "Push notification POST attempts, retries included.";
    #[cfg_attr(not(feature = "webhooks"), allow(dead_code))]
    WEBHOOK_DURATION = "bindu_webhook_delivery_duration_seconds", Histogram, ["outcome"],
        "Time from a notification's first attempt to its outcome, retries included.";
}
