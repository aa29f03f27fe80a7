//! `tasks stuck|reschedule`: the workers' rescue, by hand.

use std::time::Duration;

use bindu::{AppSettings, StuckReason, StuckTask};
use serde_json::{Value, json};

use crate::cli::{RescheduleArgs, StuckArgs};
use crate::connect::{self, Needs};
use crate::exit::{Exit, Failure};
use crate::format::{age, since};
use crate::output::Output;
use crate::table::Table;

/// The threshold: `--older-than`, else the workers' `WORKER_RESCUE_AFTER`, else 60 s.
fn threshold(args: &StuckArgs, settings: &AppSettings) -> Result<Duration, Failure> {
    match args.older_than {
        Some(secs) => Duration::try_from_secs_f64(secs).map_err(|_| {
            Failure::new(Exit::Usage, format!("--older-than: {secs} is not a number of seconds"))
        }),
        None => Ok(settings.worker.rescue_after.unwrap_or(Duration::from_secs(60))),
    }
}

fn nothing_stuck(older_than: Duration) -> String {
    format!("no stuck task (threshold {})", age(older_than))
}

fn reason(task: &StuckTask) -> &'static str {
    match task.reason {
        StuckReason::Waiting => "waiting without a run",
        StuckReason::LeaseExpired => "working, claim expired",
    }
}

fn to_json(task: &StuckTask) -> Value {
    json!({
        "task_id": task.task_id.to_string(),
        "context_id": task.context_id.to_string(),
        "state": task.state.to_string(),
        "reason": match task.reason {
            StuckReason::Waiting => "waiting",
            StuckReason::LeaseExpired => "lease_expired",
        },
        "since": task.since.to_rfc3339(),
    })
}

pub async fn stuck(out: &Output, args: &StuckArgs) -> Result<Exit, Failure> {
    let settings = connect::settings()?;
    let older_than = threshold(args, &settings)?;
    let app = connect::app(&settings, Needs::Storage).await?;
    let stuck = app.storage.stuck_tasks(older_than, args.limit).await;
    app.close().await;
    let stuck = stuck?;
    out.print(json!({ "stuck": stuck.iter().map(to_json).collect::<Vec<_>>() }), || {
        let mut table = Table::new(&["TASK", "CONTEXT", "STATE", "REASON", "STUCK SINCE"]);
        for task in &stuck {
            table.row(vec![
                task.task_id.to_string(),
                task.context_id.to_string(),
                task.state.to_string(),
                reason(task).to_owned(),
                since(task.since),
            ]);
        }
        table.render(&nothing_stuck(older_than))
    });
    Ok(Exit::attention_if(!stuck.is_empty()))
}

/// Enqueues, for each stuck task chosen, the run the workers' rescue would: the same id, so
/// a rescue and a reschedule together schedule one run, and a claim already taken makes it a
/// no-op.
pub async fn reschedule(out: &Output, args: &RescheduleArgs) -> Result<Exit, Failure> {
    let settings = connect::settings()?;
    let older_than = threshold(&args.stuck, &settings)?;
    let app = connect::app(&settings, Needs::Both).await?;
    let outcome = async {
        let stuck = app.storage.stuck_tasks(older_than, args.stuck.limit).await?;
        let chosen: Vec<&StuckTask> = stuck
            .iter()
            .filter(|task| args.task_ids.is_empty() || args.task_ids.contains(&task.task_id.to_string()))
            .collect();
        let mut done = Vec::new();
        for task in chosen {
            let run = task.rescue_run();
            app.scheduler.enqueue(&run).await?;
            done.push((task.clone(), run.id));
        }
        Ok::<_, bindu::Error>(done)
    }
    .await;
    app.close().await;
    let done = outcome?;
    let missing: Vec<&String> = args
        .task_ids
        .iter()
        .filter(|id| !done.iter().any(|(task, _)| task.task_id.to_string() == **id))
        .collect();
    let json = json!({
        "rescheduled": done
            .iter()
            .map(|(task, run)| json!({"task": to_json(task), "operation_id": run.to_string()}))
            .collect::<Vec<_>>(),
        "not_stuck": missing,
    });
    out.print(json, || {
        let mut table = Table::new(&["TASK", "STATE", "REASON", "STUCK SINCE", "RUN OPERATION"]);
        for (task, run) in &done {
            table.row(vec![
                task.task_id.to_string(),
                task.state.to_string(),
                reason(task).to_owned(),
                since(task.since),
                run.to_string(),
            ]);
        }
        let mut text = table.render(&nothing_stuck(older_than));
        for id in &missing {
            text.push_str(&format!("{id}: not stuck (threshold {}): left alone\n", age(older_than)));
        }
        text
    });
    Ok(Exit::attention_if(!missing.is_empty()))
}
