//! `health`: each backend probed on its own, so that one that is down is named even when the
//! app could not start with it.

use std::time::Instant;

use bindu::health::{BackendHealth, Target, targets};
use bindu::settings::{SchedulerBackend, StorageBackend};
use bindu::{AppSettings, QueueStats};
use serde_json::{Value, json};

use crate::connect;
use crate::exit::{Exit, Failure};
use crate::format::{age, seconds};
use crate::output::Output;
use crate::table::Table;

pub async fn run(out: &Output) -> Result<Exit, Failure> {
    let mut settings = connect::settings()?;
    settings.retention.interval = None;
    // One attempt each: a probe wants an answer now, not a retry policy.
    settings.retry.storage = settings.retry.storage.with_max_attempts(1);
    settings.retry.scheduler = settings.retry.scheduler.with_max_attempts(1);
    let (storage_target, scheduler_target) = targets(&settings);
    let storage_only = AppSettings { scheduler: SchedulerBackend::Memory, ..settings.clone() };
    let scheduler_only = AppSettings { storage: StorageBackend::Memory, ..settings };
    let ((storage, _), (scheduler, queue)) = tokio::join!(
        probe(storage_only, "storage", storage_target),
        probe(scheduler_only, "scheduler", scheduler_target)
    );
    let healthy = storage.is_up() && scheduler.is_up();
    let json = json!({
        "healthy": healthy,
        "storage": backend_json(&storage),
        "scheduler": backend_json(&scheduler),
        "queue": queue.as_ref().map(queue_json),
    });
    out.print(json, || human(&storage, &scheduler, queue.as_ref(), healthy));
    Ok(if healthy { Exit::Ok } else { Exit::Unreachable })
}

/// Starts an app on `settings` (whose other backend is in memory) and asks it; a start-up that
/// fails is the backend's answer.
async fn probe(
    settings: AppSettings,
    role: &'static str,
    target: Target,
) -> (BackendHealth, Option<QueueStats>) {
    let started = Instant::now();
    match bindu::App::connect(&settings).await {
        Ok(app) => {
            let health = app.health().await;
            app.close().await;
            match role {
                "storage" => (health.storage, None),
                _ => (health.scheduler, health.queue),
            }
        }
        Err(err) => {
            let health = BackendHealth {
                role,
                kind: target.kind,
                target: target.target,
                latency: started.elapsed(),
                error: Some(err.to_string()),
            };
            (health, None)
        }
    }
}

fn backend_json(health: &BackendHealth) -> Value {
    json!({
        "kind": health.kind,
        "target": health.target,
        "up": health.is_up(),
        "latency_seconds": seconds(health.latency),
        "error": health.error,
    })
}

fn queue_json(queue: &QueueStats) -> Value {
    json!({
        "waiting_runs": queue.waiting_runs,
        "waiting_control": queue.waiting_control,
        "in_flight": queue.in_flight,
        "oldest_waiting_seconds": queue.oldest_waiting_age.map(seconds),
        "dead_letters": queue.dead_letters,
    })
}

fn human(
    storage: &BackendHealth,
    scheduler: &BackendHealth,
    queue: Option<&QueueStats>,
    healthy: bool,
) -> String {
    let mut table = Table::new(&["ROLE", "KIND", "TARGET", "STATUS", "LATENCY", "ERROR"]);
    for backend in [storage, scheduler] {
        table.row(vec![
            backend.role.to_owned(),
            backend.kind.to_owned(),
            backend.target.clone(),
            if backend.is_up() { "up" } else { "DOWN" }.to_owned(),
            age(backend.latency),
            backend.error.clone().unwrap_or_default(),
        ]);
    }
    let mut text = table.render("");
    if let Some(queue) = queue {
        let oldest = queue.oldest_waiting_age.map_or("none".to_owned(), age);
        text.push_str(&format!(
            "\nqueue: {} waiting ({} runs, {} control), {} in flight, oldest waiting {oldest}, {} dead letters\n",
            queue.waiting(),
            queue.waiting_runs,
            queue.waiting_control,
            queue.in_flight,
            queue.dead_letters
        ));
    }
    let down: Vec<String> = [storage, scheduler]
        .iter()
        .filter(|backend| !backend.is_up())
        .map(|backend| format!("{} ({} at {})", backend.role, backend.kind, backend.target))
        .collect();
    if healthy {
        text.push_str("\nhealthy\n");
    } else {
        text.push_str(&format!("\nUNHEALTHY: {} not answering\n", down.join(", ")));
    }
    text
}
