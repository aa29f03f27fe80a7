//! The command line.

use clap::{Args, Parser, Subcommand};

/// See what is stuck in a bindu deployment and fix it. Configured by the same environment as the
/// app (STORAGE_TYPE, DATABASE_URL, SCHEDULER_TYPE, REDIS_URL, … and .env).
///
/// Exit codes: 0 done, nothing needs attention; 1 something needs attention (entries listed, or
/// an action found nothing to act on or failed again); 2 usage or configuration error; 3 a
/// backend is unreachable.
#[derive(Debug, Parser)]
#[command(name = "bindu-admin", version)]
pub struct Cli {
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One round trip to each backend, with its latency, the queue's depth, the oldest waiting
    /// operation's age and the dead letters. Exit 3 when a backend does not answer.
    Health,
    /// Operations the scheduler gave up on.
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(DeadLetters),
    /// Push notifications that were not delivered.
    #[command(subcommand)]
    Webhooks(Webhooks),
    /// Tasks that should be running but are not.
    #[command(subcommand)]
    Tasks(Tasks),
    /// One pruning round now, as the app's settings say (RETENTION_*).
    Prune,
}

#[derive(Debug, Subcommand)]
pub enum DeadLetters {
    /// Lists them, oldest first.
    List(PageArgs),
    /// Enqueues them again under their operation ids, deliveries counted from zero.
    Replay(Ids),
    /// Drops them for good.
    Discard(Ids),
}

#[derive(Debug, Subcommand)]
pub enum Webhooks {
    /// Lists the failed notifications, oldest first.
    Failed(PageArgs),
    /// Sends them again, under the same idempotency key.
    Redeliver(Ids),
}

#[derive(Debug, Subcommand)]
pub enum Tasks {
    /// Lists tasks waiting without a run, or working under an expired claim, for longer than the
    /// threshold.
    Stuck(StuckArgs),
    /// Schedules a run for stuck tasks (the one the workers' rescue would schedule): all of them,
    /// or those named.
    Reschedule(RescheduleArgs),
}

#[derive(Debug, Args)]
pub struct PageArgs {
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Skip this many first.
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
}

#[derive(Debug, Args)]
pub struct Ids {
    /// The ids, as listed.
    #[arg(required = true)]
    pub ids: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StuckArgs {
    /// Seconds a task must have been stuck (default: WORKER_RESCUE_AFTER, else 60).
    #[arg(long)]
    pub older_than: Option<f64>,
    /// At most this many.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct RescheduleArgs {
    #[command(flatten)]
    pub stuck: StuckArgs,
    /// Only these tasks (they must be stuck).
    pub task_ids: Vec<String>,
}
