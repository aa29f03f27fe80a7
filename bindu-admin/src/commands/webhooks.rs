//! `webhooks failed|redeliver`.

use std::time::Duration;

use bindu::notify::{NotifierOptions, Redelivery, WebhookNotifier};
use bindu::{FailedNotification, Page};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::cli::PageArgs;
use crate::connect::{self, Needs};
use crate::exit::{Exit, Failure};
use crate::format::since;
use crate::output::Output;
use crate::table::Table;

/// How many records one read fetches while looking for the ones to redeliver.
const SCAN_PAGE: usize = 500;

pub async fn failed(out: &Output, page: &PageArgs) -> Result<Exit, Failure> {
    let app = connect::app(&connect::settings()?, Needs::Storage).await?;
    let failed = app.storage.failed_notifications(Page::new(page.offset, page.limit)).await;
    app.close().await;
    let failed = failed?;
    out.print(json!({ "failed_notifications": failed.iter().map(to_json).collect::<Vec<_>>() }), || {
        let mut table = Table::new(&[
            "NOTIFICATION",
            "TASK",
            "STATE",
            "WEBHOOK HOST",
            "ATTEMPTS",
            "REASON",
            "FAILED",
            "ERROR",
        ]);
        for failure in &failed {
            table.row(vec![
                failure.notification_id.to_string(),
                failure.task_id.to_string(),
                failure.status.state.to_string(),
                failure.webhook_host.clone().unwrap_or_else(|| "-".to_owned()),
                failure.attempts.to_string(),
                failure.reason.to_string(),
                since(failure.failed_at),
                failure.error.clone(),
            ]);
        }
        table.render("no failed notifications")
    });
    Ok(Exit::attention_if(!failed.is_empty()))
}

pub async fn redeliver(out: &Output, ids: &[String]) -> Result<Exit, Failure> {
    let wanted = ids
        .iter()
        .map(|id| {
            id.parse::<Uuid>()
                .map_err(|_| Failure::new(Exit::Usage, format!("{id:?} is not a notification id")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let settings = connect::settings()?;
    let app = connect::app(&settings, Needs::Storage).await?;
    let outcome = async {
        let records = find(&*app.storage, &wanted).await?;
        let notifier = WebhookNotifier::new(app.storage.clone(), NotifierOptions::from_settings(&settings))?;
        let mut results = Vec::new();
        for id in &wanted {
            let result = match records.iter().find(|record| record.notification_id == *id) {
                None => ("not found", None),
                Some(record) => match notifier.redeliver(record).await? {
                    Redelivery::Delivered => ("delivered", None),
                    Redelivery::NoWebhook => ("no webhook any more: record removed", None),
                    Redelivery::Failed(again) => ("failed again", Some(again.error)),
                },
            };
            results.push((*id, result));
        }
        notifier.shutdown(Duration::from_secs(1)).await;
        Ok::<_, bindu::Error>(results)
    }
    .await;
    app.close().await;
    let results = outcome?;
    let all_sent = results.iter().all(|(_, (result, _))| !matches!(*result, "not found" | "failed again"));
    let json = json!({
        "results": results
            .iter()
            .map(|(id, (result, error))| json!({"notification_id": id.to_string(), "result": result, "error": error}))
            .collect::<Vec<_>>(),
    });
    out.print(json, || {
        let mut table = Table::new(&["NOTIFICATION", "RESULT", "ERROR"]);
        for (id, (result, error)) in &results {
            table.row(vec![id.to_string(), (*result).to_owned(), error.clone().unwrap_or_default()]);
        }
        table.render("")
    });
    Ok(Exit::attention_if(!all_sent))
}

/// The record for scripts, named like the other commands' output (snake case); `status` is the
/// A2A status it reported, as sent.
fn to_json(failure: &FailedNotification) -> Value {
    json!({
        "notification_id": failure.notification_id.to_string(),
        "task_id": failure.task_id.to_string(),
        "context_id": failure.context_id.to_string(),
        "state": failure.status.state.to_string(),
        "status": failure.status,
        "webhook_host": failure.webhook_host,
        "attempts": failure.attempts,
        "reason": failure.reason,
        "error": failure.error,
        "failed_at": failure.failed_at.to_rfc3339(),
    })
}

/// The stored records of `wanted`, read a page at a time.
async fn find(storage: &dyn bindu::Storage, wanted: &[Uuid]) -> bindu::Result<Vec<FailedNotification>> {
    let mut found = Vec::new();
    let mut offset = 0;
    loop {
        let page = storage.failed_notifications(Page::new(offset, SCAN_PAGE)).await?;
        let read = page.len();
        found.extend(page.into_iter().filter(|record| wanted.contains(&record.notification_id)));
        if read < SCAN_PAGE || found.len() == wanted.len() {
            return Ok(found);
        }
        offset += read;
    }
}
