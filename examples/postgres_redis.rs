//! An app that wires its backends by hand: `Retrying::new(PostgresStorage::connect(url).await?)`
//! and `Retrying::new(RedisScheduler::connect(url).await?)`, then runs a worker on them.
//!
//! ```sh
//! DATABASE_URL=postgres://bindu:secret@localhost/bindu REDIS_URL=redis://localhost:6379/0 \
//!     cargo run --features postgres,redis --example postgres_redis
//! ```
//!
//! Without `DATABASE_URL` / `REDIS_URL` (and with the `conformance` feature, as
//! `cargo run --all-features --example postgres_redis`), it starts throwaway local servers from
//! the installed PostgreSQL and redis-server binaries.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bindu::postgres::PostgresStorage;
use bindu::redis::RedisScheduler;
use bindu::worker::{AgentInput, AgentOutput, FnAgent, Worker};
use bindu::{
    ContextId, Message, Retrying, Scheduler, SchedulerExt, Storage, TaskId, TaskSendParams, TaskState,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .init();
    let servers = Servers::from_env_or_start();

    // The one-liners this crate is for: retries with the storage and scheduler policies of the
    // RETRY__* settings, on errors the backends classified as transient.
    let storage: Arc<dyn Storage> =
        Arc::new(Retrying::new(PostgresStorage::connect(&servers.database_url).await?));
    let scheduler: Arc<dyn Scheduler> =
        Arc::new(Retrying::new(RedisScheduler::connect(&servers.redis_url).await?));

    let agent = Arc::new(FnAgent::new(|input: AgentInput| async move {
        let question = input.history.last().map(Message::text).unwrap_or_default();
        Ok::<_, bindu::worker::AgentError>(AgentOutput::text(format!("you asked: {question}")))
    }));
    let worker = Worker::new(Arc::clone(&storage), Arc::clone(&scheduler), agent).spawn();

    let started = Instant::now();
    let message = Message::user_text("what is the state of my order?").for_task(TaskId::new());
    let task = storage.submit_task(ContextId::new(), &message, None).await?.task;
    let params = TaskSendParams::new(task.id, task.context_id, Some(message));
    scheduler.run_task(&params).await?;
    loop {
        let current = storage.load_task(task.id, None).await?.expect("the task exists");
        if current.status.state.is_terminal() || current.status.state == TaskState::InputRequired {
            println!(
                "task {} is {} after {:?}: {:?}",
                current.id,
                current.status.state,
                started.elapsed(),
                current.history.last().map(Message::text)
            );
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Err("the task did not finish within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.shutdown(Duration::from_secs(5)).await;
    storage.close().await?;
    Ok(())
}

/// The servers' URLs, and the throwaway servers when this example started them.
struct Servers {
    database_url: String,
    redis_url: String,
    #[cfg(feature = "conformance")]
    _owned: (Option<bindu_test_support::PostgresServer>, Option<bindu_test_support::RedisServer>),
}

impl Servers {
    fn from_env_or_start() -> Self {
        let database_url = std::env::var("DATABASE_URL").ok().filter(|v| !v.is_empty());
        let redis_url = std::env::var("REDIS_URL").ok().filter(|v| !v.is_empty());
        #[cfg(feature = "conformance")]
        {
            let postgres = database_url.is_none().then(bindu_test_support::PostgresServer::start);
            let redis = redis_url.is_none().then(bindu_test_support::RedisServer::start);
            Self {
                database_url: database_url.unwrap_or_else(|| postgres.as_ref().unwrap().url().to_owned()),
                redis_url: redis_url.unwrap_or_else(|| redis.as_ref().unwrap().url().to_owned()),
                _owned: (postgres, redis),
            }
        }
        #[cfg(not(feature = "conformance"))]
        {
            let (Some(database_url), Some(redis_url)) = (database_url, redis_url) else {
                eprintln!(
                    "set DATABASE_URL and REDIS_URL, or run with --all-features to start local servers"
                );
                std::process::exit(2);
            };
            Self { database_url, redis_url }
        }
    }
}
