//! Rescue: a run for every task accepted but left without one (see
//! [`RescueOptions`](super::RescueOptions)).

use std::sync::Arc;

use super::context::Context;
use super::stats::Stat;
use crate::retry::Call;

/// One look: lists the stuck tasks and enqueues a rescue run for each. Failures are logged; the
/// next look tries again.
pub(crate) async fn once(ctx: Arc<Context>) {
    let Some(options) = ctx.options.rescue else { return };
    let stuck =
        match ctx.step(Call::STUCK_TASKS, || ctx.storage.stuck_tasks(options.after, options.batch)).await {
            Ok(stuck) => stuck,
            Err(err) => {
                tracing::warn!(error = %err, "could not look for stuck tasks");
                return;
            }
        };
    for task in stuck {
        let run = task.rescue_run();
        // Still stuck since the same moment: already rescued (the run may be queued behind others).
        if ctx.rescued_before(run.id) {
            continue;
        }
        match ctx.step(Call::ENQUEUE, || ctx.scheduler.enqueue(&run)).await {
            Ok(()) => {
                ctx.remember_rescue(run.id);
                ctx.count(Stat::Rescued);
                tracing::info!(task = %task.task_id, state = %task.state, reason = ?task.reason, since = %task.since, operation = %run.id, "rescued a task left without a run");
            }
            Err(err) => {
                tracing::warn!(task = %task.task_id, error = %err, "could not rescue a stuck task");
                return;
            }
        }
    }
}
