//! Cancel, pause and resume: state writes that never wait for an agent slot, and interrupt a
//! running agent in this process. Agents running elsewhere notice at their next heartbeat.

use super::context::{Context, Disposition, PAUSED_FROM_KEY};
use super::stats::Stat;
use crate::error::{Error, Result};
use crate::model::{Action, OperationId, Task, TaskId, TaskOperation, TaskSendParams, TaskState, TaskUpdate};
use crate::retry::Call;

/// Cancels a non-terminal task (at most `cancel_attempts` calls per step).
pub(crate) async fn cancel(ctx: &Context, task_id: TaskId) -> Disposition {
    let policy = ctx.options.retry.with_max_attempts(ctx.options.cancel_attempts);
    let result = transition(
        ctx,
        task_id,
        |task| (!task.status.state.is_terminal()).then(|| TaskUpdate::to(TaskState::Canceled)),
        Some(&policy),
    )
    .await;
    settle(ctx, task_id, result, Stat::Canceled, "cancel")
}

/// Pauses a task that is waiting or running: it becomes `suspended`, remembering its state.
pub(crate) async fn pause(ctx: &Context, task_id: TaskId) -> Disposition {
    let result = transition(
        ctx,
        task_id,
        |task| {
            let state = task.status.state;
            matches!(
                state,
                TaskState::Submitted
                    | TaskState::Working
                    | TaskState::Resumed
                    | TaskState::InputRequired
                    | TaskState::AuthRequired
            )
            .then(|| {
                TaskUpdate::to(TaskState::Suspended).with_metadata(PAUSED_FROM_KEY, state.as_str().into())
            })
        },
        None,
    )
    .await;
    settle(ctx, task_id, result, Stat::Paused, "pause")
}

/// Resumes a suspended task: back to waiting for input if that is where it was paused, else
/// `resumed` with a run scheduled (the run's id derives from the resume's, so a redelivered resume
/// schedules nothing twice).
pub(crate) async fn resume(ctx: &Context, task_id: TaskId, operation: OperationId) -> Disposition {
    let result = transition(
        ctx,
        task_id,
        |task| {
            if task.status.state != TaskState::Suspended {
                return None;
            }
            let paused_from =
                task.metadata.get(PAUSED_FROM_KEY).and_then(|v| v.as_str()).and_then(TaskState::from_wire);
            let target = match paused_from {
                Some(state @ (TaskState::InputRequired | TaskState::AuthRequired)) => state,
                _ => TaskState::Resumed,
            };
            Some(TaskUpdate::to(target))
        },
        None,
    )
    .await;
    // A resumed task needs a run, also when this is a redelivery after the state was written.
    let needs_run = match &result {
        Ok(Some(task)) => task.status.state == TaskState::Resumed,
        Ok(None) => {
            matches!(ctx.storage.load_task(task_id, Some(1)).await, Ok(Some(t)) if t.status.state == TaskState::Resumed)
        }
        Err(_) => false,
    };
    if needs_run {
        let context_id = match &result {
            Ok(Some(task)) => Some(task.context_id),
            _ => ctx.storage.load_task(task_id, Some(1)).await.ok().flatten().map(|t| t.context_id),
        };
        if let Some(context_id) = context_id {
            let params = TaskSendParams::new(task_id, context_id, None);
            let run = TaskOperation::new(operation.derived("run"), Action::Run(params));
            if let Err(err) = ctx.step(Call::ENQUEUE, || ctx.scheduler.enqueue(&run)).await {
                tracing::warn!(task = %task_id, error = %err, "could not schedule the resumed run");
                return failed(ctx, task_id, "resume", &err);
            }
        }
    }
    settle(ctx, task_id, result, Stat::Resumed, "resume")
}

/// Applies the update `decide` picks for the task's current state, conditional on that state;
/// `Ok(None)` when there is nothing to do.
async fn transition(
    ctx: &Context,
    task_id: TaskId,
    decide: impl Fn(&Task) -> Option<TaskUpdate>,
    policy: Option<&crate::retry::RetryPolicy>,
) -> Result<Option<Task>> {
    let policy = policy.unwrap_or(&ctx.options.retry);
    for _ in 0..5 {
        // State and metadata decide; the conversation is not read (its last message is all it costs).
        let loaded =
            ctx.step_with(policy, Call::LOAD_TASK, || ctx.storage.load_task(task_id, Some(1))).await?;
        let Some(task) = loaded else { return Ok(None) };
        let Some(update) = decide(&task) else { return Ok(None) };
        let update = update.expecting(task.status.state);
        match ctx.step_with(policy, Call::UPDATE_TASK, || ctx.storage.update_task(task_id, &update)).await {
            Ok(task) => return Ok(Some(task)),
            Err(Error::StateConflict { .. } | Error::Fenced { .. }) => continue,
            Err(Error::TaskImmutable { .. } | Error::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(err),
        }
    }
    Ok(None)
}

fn settle(
    ctx: &Context,
    task_id: TaskId,
    result: Result<Option<Task>>,
    stat: Stat,
    what: &str,
) -> Disposition {
    match result {
        Ok(Some(task)) => {
            // The state is stored first, so the interrupted run's fenced write cannot undo it.
            if task.status.state != TaskState::Resumed {
                ctx.interrupt(task_id);
            }
            ctx.count(stat);
            ctx.stored(&task);
            Disposition::Ack
        }
        Ok(None) => {
            ctx.count(Stat::Skipped);
            Disposition::Ack
        }
        Err(err) => failed(ctx, task_id, what, &err),
    }
}

/// A control operation that could not be applied: released for later while a backend is
/// unavailable, dead-lettered (and reported) when it never can be. Never dropped.
fn failed(ctx: &Context, task_id: TaskId, what: &str, err: &Error) -> Disposition {
    match err {
        Error::Closed(_) => Disposition::Leave,
        err if err.is_unavailable() => {
            tracing::warn!(task = %task_id, error = %err, "could not {what}; releasing it for later");
            Disposition::Release(ctx.options.release_delay)
        }
        err => {
            tracing::error!(task = %task_id, error = %err, "could not {what}");
            Disposition::DeadLetter(format!("could not {what} task {task_id}: {err}"))
        }
    }
}
