//! Handling a run: claim the task, run the agent once, store its result (fenced), acknowledge.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use serde_json::Value;

use super::context::{Context, Disposition, RUN_KEY};
use super::history::agent_input;
use super::{AgentOutput, WorkerStats};
use crate::error::{Error, Result};
use crate::model::{Message, Task, TaskId, TaskSendParams, TaskState, TaskUpdate};
use crate::retry::Call;
use crate::scheduler::Delivery;

/// Claims and runs the task of a run operation.
pub(crate) async fn run(ctx: &Context, delivery: &Delivery, params: &TaskSendParams) -> Disposition {
    let task_id = params.task_id;
    let run = Value::String(delivery.operation().id.to_string());
    match claim(ctx, task_id, &run).await {
        Ok(Some(task)) => execute(ctx, delivery, task, &run).await,
        Ok(None) => {
            WorkerStats::bump(&ctx.stats.skipped);
            Disposition::Ack
        }
        Err(err) => fail(ctx, task_id, None, "could not start the task", err).await,
    }
}

/// Moves the task to `working` under this run's id. `None` when there is nothing to run: the
/// task is gone, terminal, waiting for input, paused, or claimed by another run.
async fn claim(ctx: &Context, task_id: TaskId, run: &Value) -> Result<Option<Task>> {
    // The state may move between the load and the claim (a cancel, a new message): look again.
    for _ in 0..3 {
        let Some(task) = ctx.step(Call::LOAD_TASK, || ctx.storage.load_task(task_id, None)).await? else {
            return Ok(None);
        };
        match task.status.state {
            state @ (TaskState::Submitted | TaskState::Resumed) => {
                let claim =
                    TaskUpdate::to(TaskState::Working).expecting(state).with_metadata(RUN_KEY, run.clone());
                // Idempotent: a replay after an uncertain failure finds its own claim applied.
                match ctx.step(Call::UPDATE_TASK, || ctx.storage.update_task(task_id, &claim)).await {
                    Ok(task) => {
                        ctx.stored(&task);
                        return Ok(Some(task));
                    }
                    Err(Error::StateConflict { .. } | Error::Fenced { .. } | Error::TaskImmutable { .. }) => {
                        continue;
                    }
                    Err(err) => return Err(err),
                }
            }
            // An earlier delivery of this very operation claimed it and its worker died.
            TaskState::Working if task.metadata.get(RUN_KEY) == Some(run) => return Ok(Some(task)),
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// Runs the agent once and stores its result, fenced on this run's claim.
async fn execute(ctx: &Context, delivery: &Delivery, task: Task, run: &Value) -> Disposition {
    let task_id = task.id;
    let input = match agent_input(ctx, task).await {
        Ok(input) => input,
        Err(err) => return fail(ctx, task_id, Some(run), "could not load the task's history", err).await,
    };
    let (run_number, interrupted) = ctx.start_run(task_id);
    WorkerStats::bump(&ctx.stats.agent_runs);
    let agent = AssertUnwindSafe(ctx.agent.run(input)).catch_unwind();
    let outcome = tokio::select! {
        result = agent => Some(result),
        () = interrupted.cancelled() => None,
        () = supervise(ctx, delivery, task_id, run) => None,
    };
    ctx.end_run(task_id, run_number);
    let Some(result) = outcome else {
        // Canceled, paused or taken over: whoever did it wrote the state.
        WorkerStats::bump(&ctx.stats.skipped);
        return Disposition::Ack;
    };
    let update = match result {
        Ok(Ok(output)) => result_update(output),
        Ok(Err(err)) => failure(&format!("Task execution failed: {err}")),
        Err(panic) => {
            failure(&format!("Task execution failed: the agent panicked: {}", panic_message(panic.as_ref())))
        }
    }
    .expecting(TaskState::Working)
    .expecting_metadata(RUN_KEY, run.clone());
    // Only this idempotent write is retried; the agent never runs again because it failed.
    match ctx.step(Call::UPDATE_TASK, || ctx.storage.update_task(task_id, &update)).await {
        Ok(task) => {
            count_outcome(ctx, task.status.state);
            ctx.stored(&task);
            Disposition::Ack
        }
        Err(Error::StateConflict { .. } | Error::Fenced { .. } | Error::TaskImmutable { .. }) => {
            WorkerStats::bump(&ctx.stats.skipped);
            Disposition::Ack
        }
        Err(err) => fail(ctx, task_id, Some(run), "could not store the result", err).await,
    }
}

/// Returns when the run should stop: the task is no longer `working` under this run (canceled,
/// paused, continued, deleted). Meanwhile keeps the delivery alive.
async fn supervise(ctx: &Context, delivery: &Delivery, task_id: TaskId, run: &Value) {
    let mut ticks = tokio::time::interval(ctx.options.heartbeat);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        if let Err(err) = delivery.keep_alive().await {
            tracing::warn!(task = %task_id, error = %err, "could not keep the delivery alive");
        }
        match ctx.storage.load_task(task_id, Some(1)).await {
            Ok(Some(task))
                if task.status.state == TaskState::Working && task.metadata.get(RUN_KEY) == Some(run) => {}
            Ok(_) => return,
            // Storage trouble: keep running; the result write will tell.
            Err(_) => {}
        }
    }
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
    }
}

fn failure(text: &str) -> TaskUpdate {
    TaskUpdate::to(TaskState::Failed).with_message(Message::agent_text(text))
}

fn count_outcome(ctx: &Context, state: TaskState) {
    let stats = &ctx.stats;
    let counter = match state {
        TaskState::Completed => &stats.completed,
        TaskState::Failed => &stats.failed,
        TaskState::Rejected => &stats.rejected,
        _ => &stats.input_required,
    };
    WorkerStats::bump(counter);
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".to_owned())
}

/// A step failed for good: mark the task failed with the error's message (fenced on `run` when
/// this run holds the task). If even that cannot be stored, leave the operation for redelivery.
async fn fail(ctx: &Context, task_id: TaskId, run: Option<&Value>, what: &str, err: Error) -> Disposition {
    tracing::warn!(task = %task_id, error = %err, "{what}");
    let mut update = failure(&format!("Task execution failed: {what}: {err}"));
    if let Some(run) = run {
        update = update.expecting(TaskState::Working).expecting_metadata(RUN_KEY, run.clone());
    }
    match ctx.step(Call::UPDATE_TASK, || ctx.storage.update_task(task_id, &update)).await {
        Ok(task) => {
            WorkerStats::bump(&ctx.stats.failed);
            ctx.stored(&task);
            Disposition::Ack
        }
        Err(
            Error::NotFound { .. }
            | Error::StateConflict { .. }
            | Error::Fenced { .. }
            | Error::TaskImmutable { .. },
        ) => {
            WorkerStats::bump(&ctx.stats.skipped);
            Disposition::Ack
        }
        Err(mark_err) => {
            tracing::warn!(task = %task_id, error = %mark_err, "could not mark the task failed; leaving the operation for redelivery");
            Disposition::Leave
        }
    }
}
