//! `dead-letters list|replay|discard`.

use bindu::{DeadLetter, DeadLetterId, Page};
use serde_json::{Value, json};

use crate::cli::PageArgs;
use crate::connect::{self, Needs};
use crate::exit::{Exit, Failure};
use crate::format::since;
use crate::output::Output;
use crate::table::Table;

pub async fn list(out: &Output, page: &PageArgs) -> Result<Exit, Failure> {
    let app = connect::app(&connect::settings()?, Needs::Scheduler).await?;
    let dead = app.scheduler.dead_letters(Page::new(page.offset, page.limit)).await;
    app.close().await;
    let dead = dead?;
    out.print(json!({ "dead_letters": dead.iter().map(to_json).collect::<Vec<_>>() }), || {
        let mut table = Table::new(&["ID", "OPERATION", "TASK", "DELIVERIES", "DIED", "LAST ERROR"]);
        for letter in &dead {
            table.row(vec![
                letter.id.to_string(),
                letter
                    .operation
                    .as_ref()
                    .map_or("(unreadable)", |operation| operation.action.name())
                    .to_owned(),
                letter.task_id.map(|task| task.to_string()).unwrap_or_default(),
                letter.deliveries.to_string(),
                since(letter.dead_at),
                letter.last_error.clone(),
            ]);
        }
        table.render("no dead letters")
    });
    Ok(Exit::attention_if(!dead.is_empty()))
}

fn to_json(letter: &DeadLetter) -> Value {
    json!({
        "id": letter.id.as_str(),
        "operation": letter.operation.as_ref().map(|operation| operation.action.name()),
        "operation_id": letter.operation.as_ref().map(|operation| operation.id.to_string()),
        "task_id": letter.task_id.map(|task| task.to_string()),
        "deliveries": letter.deliveries,
        "last_error": letter.last_error,
        "dead_at": letter.dead_at.to_rfc3339(),
        "payload": letter.operation,
    })
}

/// What to do with each dead letter.
#[derive(Clone, Copy, Debug)]
pub enum Act {
    Replay,
    Discard,
}

pub async fn act(out: &Output, ids: &[String], act: Act) -> Result<Exit, Failure> {
    let app = connect::app(&connect::settings()?, Needs::Scheduler).await?;
    let mut results = Vec::new();
    for id in ids {
        let id = DeadLetterId::from(id.as_str());
        let outcome = match act {
            Act::Replay => app.scheduler.replay_dead_letter(&id).await,
            Act::Discard => app.scheduler.discard_dead_letter(&id).await,
        };
        let (done, note) = match outcome {
            Ok(true) => (true, String::new()),
            Ok(false) => (false, "no such dead letter".to_owned()),
            // An operation that cannot be read cannot be replayed: say so, go on with the rest.
            Err(err @ bindu::Error::Invalid { .. }) => (false, err.to_string()),
            Err(err) => {
                app.close().await;
                return Err(err.into());
            }
        };
        results.push((id, done, note));
    }
    app.close().await;
    let verb = match act {
        Act::Replay => "replayed",
        Act::Discard => "discarded",
    };
    let all_done = results.iter().all(|(_, done, _)| *done);
    let json = json!({
        "results": results.iter().map(|(id, done, note)| json!({"id": id.as_str(), verb: done, "note": note})).collect::<Vec<_>>(),
    });
    out.print(json, || {
        let mut table = Table::new(&["ID", "RESULT"]);
        for (id, done, note) in &results {
            table.row(vec![
                id.to_string(),
                if *done { verb.to_owned() } else { format!("not {verb}: {note}") },
            ]);
        }
        table.render("")
    });
    Ok(Exit::attention_if(!all_done))
}
