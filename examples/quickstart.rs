//! The main job: submit tasks, schedule them, let workers complete them through
//! `Retrying`-wrapped backends, and print a summary.
//!
//! Runs on whichever backends the environment selects (see `.env.example`): in memory by
//! default, with no services. `QUICKSTART_TASKS` sets how many tasks (default 25).
//!
//! ```sh
//! cargo run --example quickstart
//! STORAGE_TYPE=postgres DATABASE_URL=postgres://… SCHEDULER_TYPE=redis REDIS_URL=redis://… \
//!     cargo run --all-features --example quickstart
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use bindu::worker::{AgentInput, AgentOutput, FnAgent};
use bindu::{
    App, AppSettings, ContextId, Message, Page, Role, SchedulerExt, TaskId, TaskSendParams, TaskState,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .init();
    let tasks: usize = std::env::var("QUICKSTART_TASKS").ok().and_then(|v| v.parse().ok()).unwrap_or(25);
    let settings = AppSettings::from_env()?;
    println!("backends: storage {:?}, scheduler {:?}", settings.storage, settings.scheduler);
    let app = App::connect(&settings).await?;

    // The agent: counts the words of the question; asks for more when there is nothing to count.
    let agent = Arc::new(FnAgent::new(|input: AgentInput| async move {
        let question =
            input.history.iter().rev().find(|m| m.role == Role::User).map(Message::text).unwrap_or_default();
        tokio::time::sleep(Duration::from_millis(20)).await; // pretend to think
        if question.trim().is_empty() {
            return Ok(AgentOutput::InputRequired(Message::agent_text("what should I count?")));
        }
        Ok(AgentOutput::text(format!("{} words", question.split_whitespace().count())))
    }));
    let workers: Vec<_> = (0..2).map(|_| app.worker(agent.clone()).spawn()).collect();

    let started = Instant::now();
    let context = ContextId::new();
    let mut submitted = Vec::with_capacity(tasks);
    for i in 0..tasks {
        let text =
            if i % 10 == 9 { String::new() } else { format!("please count the words in request number {i}") };
        let message = Message::user_text(text).for_task(TaskId::new());
        let task = app.storage.submit_task(context, &message, None).await?.task;
        // Resending the same message is harmless: same task, same run.
        app.storage.submit_task(context, &message, None).await?;
        let params = TaskSendParams::new(task.id, context, Some(message));
        app.scheduler.run_task(&params).await?;
        submitted.push(task.id);
    }

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let listed = app.storage.list_tasks_by_context(context, Page::ALL, None).await?;
        let settled = listed
            .iter()
            .filter(|t| t.status.state.is_terminal() || t.status.state == TaskState::InputRequired)
            .count();
        if settled == tasks {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("only {settled} of {tasks} tasks settled within 60 s").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();

    let mut runs = 0;
    for worker in workers {
        runs += worker.stats().agent_runs;
        worker.shutdown(Duration::from_secs(5)).await;
    }
    let tasks_now = app.storage.list_tasks_by_context(context, Page::ALL, None).await?;
    let count = |state: TaskState| tasks_now.iter().filter(|t| t.status.state == state).count();
    let example = tasks_now.iter().find(|t| t.status.state == TaskState::Completed);
    println!("submitted {tasks} tasks (each message sent twice) in one context");
    println!(
        "completed {}, input-required {}, failed {}, agent runs {runs}, in {:.0} ms",
        count(TaskState::Completed),
        count(TaskState::InputRequired),
        count(TaskState::Failed),
        elapsed.as_secs_f64() * 1000.0
    );
    if let Some(task) = example {
        println!(
            "e.g. {:?} → {:?}",
            task.history[0].text(),
            task.history.last().map(Message::text).unwrap_or_default()
        );
    }
    app.close().await;
    if runs as usize != tasks || count(TaskState::Failed) > 0 {
        return Err(format!("expected {tasks} agent runs and no failure").into());
    }
    Ok(())
}
