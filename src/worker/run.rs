//! Handling a run: claim the task, run the agent once, store its answer — fenced on the claim and
//! held across storage outages — then settle the delivery.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::FutureExt;

use super::AgentOutput;
use super::context::{Context, Disposition, FAILURE_KEY};
use super::heartbeat::{Beat, Heartbeat};
use super::history::agent_input;
use super::stats::Stat;
use crate::error::Error;
use crate::model::{
    ClaimOutcome, ClaimRequest, ClaimToken, Message, Task, TaskId, TaskSendParams, TaskState, TaskUpdate,
};
use crate::retry::{Backoff, Call};
use crate::scheduler::Delivery;
use crate::telemetry::AgentTimer;

/// Claims and runs the task of a run operation.
pub(crate) async fn run(ctx: &Context, delivery: &Arc<Delivery>, params: &TaskSendParams) -> Disposition {
    let task_id = params.task_id;
    let request = ClaimRequest::new(delivery.operation().id, ctx.options.lease);
    let task = match ctx.step(Call::CLAIM_TASK, || ctx.storage.claim_task(task_id, &request)).await {
        Ok(ClaimOutcome::Claimed { task, takeover }) => {
            if takeover {
                ctx.count(Stat::Takeovers);
                tracing::info!(task = %task_id, "took over a task whose previous run's lease ran out");
            }
            ctx.stored(&task);
            *task
        }
        Ok(ClaimOutcome::Held { run, until }) => {
            // Not ours to run while its holder is alive; look again once the lease could be over.
            let left = (until - Utc::now()).to_std().unwrap_or_default();
            let delay = (left + Duration::from_millis(100)).min(ctx.options.lease);
            tracing::debug!(task = %task_id, holder = %run, ?delay, "task held by a live run; releasing");
            return Disposition::Release(delay);
        }
        Ok(ClaimOutcome::Unclaimable(_) | ClaimOutcome::Missing) => {
            ctx.count(Stat::Skipped);
            return Disposition::Ack;
        }
        Err(err) => return not_started(ctx, task_id, "claim the task", &err),
    };
    if delivery.over_limit() {
        let reason = format!(
            "its run was delivered {} times without finishing: the workers crashed or hung each time",
            delivery.delivery_count().saturating_sub(1)
        );
        let update = failure("dead_lettered", &reason);
        let heartbeat = heartbeat(ctx, delivery, task_id, request.token);
        // Not acknowledged with the failure: the delivery is dead-lettered.
        return match store(ctx, &heartbeat, None, task_id, request.token, update).await {
            Disposition::Ack => Disposition::DeadLetter(reason),
            other => other,
        };
    }
    execute(ctx, delivery, task, request.token).await
}

/// How the agent's call ended.
enum Outcome {
    Answered(std::thread::Result<Result<AgentOutput, super::AgentError>>),
    TimedOut(Duration),
    Interrupted,
    ClaimLost,
    Halted,
}

impl Outcome {
    /// The `outcome` label of the agent's duration.
    fn label(&self) -> &'static str {
        match self {
            Self::Answered(Ok(Ok(_))) => "answered",
            Self::Answered(Ok(Err(_))) => "error",
            Self::Answered(Err(_)) => "panic",
            Self::TimedOut(_) => "timeout",
            Self::Interrupted | Self::ClaimLost | Self::Halted => "interrupted",
        }
    }
}

/// Runs the agent once and stores its answer.
async fn execute(ctx: &Context, delivery: &Arc<Delivery>, task: Task, token: ClaimToken) -> Disposition {
    let task_id = task.id;
    let heartbeat = heartbeat(ctx, delivery, task_id, token);
    let input = match agent_input(ctx, task).await {
        Ok(input) => input,
        Err(err) if err.is_unavailable() || matches!(err, Error::Closed(_)) => {
            // Let the next delivery take over at once instead of waiting out our lease.
            let _ = ctx.storage.release_claim(task_id, token).await;
            return not_started(ctx, task_id, "load the task's history", &err);
        }
        Err(err) => {
            tracing::error!(task = %task_id, error = %err, "could not build the agent's input");
            let update = failure("invalid_task", "the task's history could not be read");
            return store(ctx, &heartbeat, Some(delivery), task_id, token, update).await;
        }
    };
    let (run_number, interrupted) = ctx.start_run(task_id);
    ctx.count(Stat::AgentRuns);
    let agent = AssertUnwindSafe(ctx.agent.run(input)).catch_unwind();
    let deadline = async {
        match ctx.options.agent_timeout {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    let call = async {
        tokio::select! {
            result = agent => Outcome::Answered(result),
            () = deadline => Outcome::TimedOut(ctx.options.agent_timeout.unwrap_or_default()),
            () = interrupted.cancelled() => Outcome::Interrupted,
            () = heartbeat.lost().cancelled() => Outcome::ClaimLost,
            () = ctx.halt.cancelled() => Outcome::Halted,
        }
    };
    let timer = AgentTimer::start();
    let outcome = if ctx.options.agent_may_block { off_the_workers(call).await } else { call.await };
    ctx.end_run(task_id, run_number);
    timer.stop(ctx.name, outcome.label());
    let update = match outcome {
        Outcome::Answered(Ok(Ok(output))) => result_update(output),
        Outcome::Answered(Ok(Err(err))) => {
            // The error may carry anything the agent ran into — a driver's text, a retry chain,
            // a URL — so it is for the logs; an agent that means to tell the client why answers
            // `AgentOutput::Failed`.
            tracing::warn!(task = %task_id, error = %err, detail = ?err, "the agent reported an error");
            failure("agent_error", "the agent reported an error")
        }
        Outcome::Answered(Err(panic)) => {
            tracing::error!(task = %task_id, panic = panic_message(panic.as_ref()), "the agent panicked");
            failure("agent_panic", "the agent panicked")
        }
        Outcome::TimedOut(limit) => {
            ctx.count(Stat::TimedOut);
            tracing::warn!(task = %task_id, ?limit, "the agent did not answer in time; interrupted");
            failure("timeout", &format!("the agent did not answer within {} s", limit.as_secs_f64()))
        }
        // Canceled or paused here: whoever did it stored the state.
        Outcome::Interrupted => {
            ctx.count(Stat::Skipped);
            return Disposition::Ack;
        }
        Outcome::ClaimLost => return claim_lost(ctx, task_id),
        // The worker is going away: the delivery comes back to whoever is left.
        Outcome::Halted => return Disposition::Leave,
    };
    store(ctx, &heartbeat, Some(delivery), task_id, token, update).await
}

/// Drives `call` on this thread taken out of the runtime's worker pool (`block_in_place`), so
/// that an agent blocking its thread stalls neither other tasks nor the timers and I/O the
/// heartbeat needs: tokio hands this worker's queue and driver to another thread. On a
/// current-thread runtime there is no other thread to hand them to, and `call` is simply awaited.
async fn off_the_workers<T>(call: impl std::future::Future<Output = T>) -> T {
    let runtime = tokio::runtime::Handle::current();
    match runtime.runtime_flavor() {
        tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(|| runtime.block_on(call)),
        _ => call.await,
    }
}

fn heartbeat(ctx: &Context, delivery: &Arc<Delivery>, task_id: TaskId, token: ClaimToken) -> Heartbeat {
    Heartbeat::spawn(Beat {
        storage: Arc::clone(&ctx.storage),
        delivery: Arc::clone(delivery),
        task_id,
        token,
        lease: ctx.options.lease,
        every: ctx.options.heartbeat,
    })
}

/// Writes `update` fenced on the claim. While storage is unavailable the answer is held and
/// written again with capped backoff — the heartbeat keeps the claim and the delivery alive
/// meanwhile — until it is stored, the claim is lost, or the worker shuts down (which aborts this).
/// An answer storage refuses for good becomes a failure with the reason.
///
/// With `acknowledging`, the first attempt also acknowledges that delivery in the same
/// transaction when the worker's [`Finisher`](super::Finisher) can; every later attempt is the
/// plain write, acknowledged apart.
async fn store(
    ctx: &Context,
    heartbeat: &Heartbeat,
    acknowledging: Option<&Arc<Delivery>>,
    task_id: TaskId,
    token: ClaimToken,
    update: TaskUpdate,
) -> Disposition {
    let backoff = Backoff::new(Duration::from_millis(100), ctx.options.hold_max_wait);
    let mut update = update.expecting(TaskState::Working).fenced_by(token);
    let mut together =
        ctx.finisher.as_deref().zip(acknowledging).filter(|(finisher, delivery)| finisher.settles(delivery));
    let mut failures = 0u32;
    loop {
        let acknowledged = together.is_some();
        let written = match together.take() {
            Some((finisher, delivery)) => match finisher.store_and_ack(task_id, &update, delivery).await {
                Err(err) if !is_verdict(&err) => {
                    // Perhaps the acknowledgement's failure, not the answer's (the queue out of the
                    // storage's reach, an outage): the plain write decides, at once.
                    tracing::warn!(task = %task_id, error = %err, "could not store the answer with its acknowledgement; storing it alone");
                    continue;
                }
                written => written,
            },
            None => ctx.storage.update_task(task_id, &update).await,
        };
        match written {
            Ok(task) => {
                if failures > 0 {
                    tracing::info!(task = %task_id, failures, "stored the held answer");
                }
                count_outcome(ctx, task.status.state);
                ctx.stored(&task);
                return if acknowledged { Disposition::Acknowledged } else { Disposition::Ack };
            }
            Err(Error::Fenced { .. } | Error::StateConflict { .. } | Error::TaskImmutable { .. }) => {
                return claim_lost(ctx, task_id);
            }
            Err(Error::NotFound { .. }) => {
                ctx.count(Stat::Skipped);
                return Disposition::Ack;
            }
            Err(err) if err.is_unavailable() => {
                if heartbeat.lost().is_cancelled() {
                    // Storage said the claim is gone, and this last look could not tell whether
                    // an earlier attempt of ours was what ended it.
                    return claim_lost(ctx, task_id);
                }
                failures += 1;
                if failures == 1 {
                    ctx.count(Stat::HeldAnswers);
                    tracing::warn!(task = %task_id, error = %err, "storage unavailable; holding the answer until it is back");
                }
                // A lost claim ends the wait early: one more attempt then tells whether the claim
                // ended because an earlier attempt of ours was applied after all (an uncertain
                // failure), which the replay reports as success.
                tokio::select! {
                    () = tokio::time::sleep(backoff.wait(failures)) => {}
                    () = heartbeat.lost().cancelled() => {}
                }
            }
            Err(Error::Closed(what)) => {
                tracing::warn!(task = %task_id, what, "storage closed while storing the answer; leaving the operation");
                return Disposition::Leave;
            }
            Err(err) if update.state == TaskState::Failed => {
                // Not even the failure can be stored: the operation cannot succeed.
                return Disposition::DeadLetter(format!("could not store the task's failure: {err}"));
            }
            Err(err) => {
                tracing::error!(task = %task_id, error = %err, "storage refused the agent's answer; failing the task");
                // What was refused, not why: the reason may quote a driver.
                let reason = match &err {
                    Error::Invalid { what, .. } => {
                        format!("the agent's answer was refused as an invalid {what}")
                    }
                    _ => "the agent's answer could not be stored".to_owned(),
                };
                update = failure("invalid_result", &reason).expecting(TaskState::Working).fenced_by(token);
            }
        }
    }
}

/// Whether `err` is the storage's verdict on the update itself (it would refuse the plain write
/// the same way), rather than a failure that may be another's.
fn is_verdict(err: &Error) -> bool {
    matches!(
        err,
        Error::Fenced { .. }
            | Error::StateConflict { .. }
            | Error::TaskImmutable { .. }
            | Error::NotFound { .. }
    )
}

fn claim_lost(ctx: &Context, task_id: TaskId) -> Disposition {
    // Canceled, paused, continued or taken over: whoever did it stored the state.
    ctx.count(Stat::ClaimsLost);
    tracing::info!(task = %task_id, "the run lost its claim; its answer is not stored");
    Disposition::Ack
}

/// A run that could not start: released for a later delivery when a backend is unavailable
/// (never a task failure), left when the backend was closed, dead-lettered when it can never work.
fn not_started(ctx: &Context, task_id: TaskId, what: &str, err: &Error) -> Disposition {
    if let Error::Closed(_) = err {
        return Disposition::Leave;
    }
    if err.is_unavailable() {
        tracing::warn!(task = %task_id, error = %err, "could not {what}; releasing the run for later");
        return Disposition::Release(ctx.options.release_delay);
    }
    tracing::error!(task = %task_id, error = %err, "could not {what}");
    Disposition::DeadLetter(format!("could not {what}: {err}"))
}

fn result_update(output: AgentOutput) -> TaskUpdate {
    match output {
        AgentOutput::Completed { messages, artifacts } => {
            let update =
                messages.into_iter().fold(TaskUpdate::to(TaskState::Completed), TaskUpdate::with_message);
            artifacts.into_iter().fold(update, TaskUpdate::with_artifact)
        }
        AgentOutput::InputRequired(message) => TaskUpdate::to(TaskState::InputRequired).with_message(message),
        AgentOutput::AuthRequired(message) => TaskUpdate::to(TaskState::AuthRequired).with_message(message),
        AgentOutput::Rejected(message) => TaskUpdate::to(TaskState::Rejected).with_message(message),
        AgentOutput::Failed(message) => TaskUpdate::to(TaskState::Failed)
            .with_message(message)
            .with_metadata(FAILURE_KEY, "agent_failed".into()),
    }
}

/// The task fails with a short text for the client and a stable reason word in its metadata.
/// Neither ever holds an error's text: that goes to the logs, with the task id.
fn failure(reason: &'static str, text: &str) -> TaskUpdate {
    TaskUpdate::to(TaskState::Failed)
        .with_message(Message::agent_text(format!("Task execution failed: {text}")))
        .with_metadata(FAILURE_KEY, reason.into())
}

fn count_outcome(ctx: &Context, state: TaskState) {
    ctx.count(match state {
        TaskState::Completed => Stat::Completed,
        TaskState::Failed => Stat::Failed,
        TaskState::Rejected => Stat::Rejected,
        _ => Stat::InputRequired,
    });
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".to_owned())
}
