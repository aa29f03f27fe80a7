//! `prune`: one round of what the app prunes every `RETENTION_INTERVAL`.

use serde_json::json;

use crate::connect::{self, Needs};
use crate::exit::{Exit, Failure};
use crate::format::age;
use crate::output::Output;

pub async fn run(out: &Output) -> Result<Exit, Failure> {
    let settings = connect::settings()?;
    let app = connect::app(&settings, Needs::Both).await?;
    let retention = settings.retention;
    let report = bindu::retention::prune(&*app.storage, &*app.scheduler, &retention).await;
    app.close().await;
    let report = report?;
    let json = json!({
        "operations": report.operations,
        "tasks": report.tasks,
        "operations_older_than_seconds": retention.operations.as_secs(),
        "tasks_older_than_seconds": retention.tasks.map(|tasks| tasks.as_secs()),
    });
    out.print(json, || {
        let tasks = match retention.tasks {
            Some(older_than) => {
                format!("{} terminal tasks finished over {} ago", report.tasks, age(older_than))
            }
            None => "no tasks (RETENTION_TASKS is 0: terminal tasks are kept)".to_owned(),
        };
        format!(
            "pruned {} acknowledged operations older than {}, and {tasks}\n",
            report.operations,
            age(retention.operations)
        )
    });
    Ok(Exit::Ok)
}
