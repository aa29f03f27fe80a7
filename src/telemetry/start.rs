//! Series whose labels are known when their owner starts are recorded then, at zero (gauges at
//! their starting value), so that a dashboard or an alert on `increase()` sees a zero rather than
//! no data until the first event. Only while a recorder is installed.

use ::metrics::{counter, gauge, histogram};

use super::names::{
    ACKNOWLEDGED, BREAKER_REJECTIONS, BREAKER_STATE, BUDGET_REJECTIONS, BUDGET_TOKENS, CALL_RETRY_WAIT,
    DEAD_LETTERED, DELIVERED, ENQUEUED, REDELIVERED, RELEASED,
};
use crate::model::Lane;
use crate::retry::BudgetOptions;

/// A `Retrying` of `role` named `backend`, with these guards.
pub(crate) fn decorator(
    backend: &'static str,
    role: &'static str,
    budget: Option<&BudgetOptions>,
    breaker: bool,
) {
    if !super::enabled() {
        return;
    }
    drop(histogram!(CALL_RETRY_WAIT, "backend" => backend, "role" => role));
    if let Some(budget) = budget {
        gauge!(BUDGET_TOKENS, "backend" => backend, "role" => role).set(f64::from(budget.capacity));
        counter!(BUDGET_REJECTIONS, "backend" => backend, "role" => role).increment(0);
    }
    if breaker {
        gauge!(BREAKER_STATE, "backend" => backend, "role" => role).set(0.0);
        counter!(BREAKER_REJECTIONS, "backend" => backend, "role" => role).increment(0);
    }
}

/// A scheduler named `backend`: its events, per lane.
pub(crate) fn scheduler(backend: &'static str) {
    if !super::enabled() {
        return;
    }
    for name in [ENQUEUED, DELIVERED, REDELIVERED, ACKNOWLEDGED, RELEASED, DEAD_LETTERED] {
        for lane in [Lane::Runs, Lane::Control] {
            counter!(name, "backend" => backend, "lane" => lane.as_str()).increment(0);
        }
    }
}
