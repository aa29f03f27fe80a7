//! One module per command group; each returns the exit code of what it found.

mod dead_letters;
mod health;
mod prune;
mod tasks;
mod webhooks;

use crate::cli::{Command, DeadLetters, Tasks, Webhooks};
use crate::exit::{Exit, Failure};
use crate::output::Output;

pub async fn run(command: Command, out: &Output) -> Result<Exit, Failure> {
    match command {
        Command::Health => health::run(out).await,
        Command::DeadLetters(DeadLetters::List(page)) => dead_letters::list(out, &page).await,
        Command::DeadLetters(DeadLetters::Replay(ids)) => {
            dead_letters::act(out, &ids.ids, dead_letters::Act::Replay).await
        }
        Command::DeadLetters(DeadLetters::Discard(ids)) => {
            dead_letters::act(out, &ids.ids, dead_letters::Act::Discard).await
        }
        Command::Webhooks(Webhooks::Failed(page)) => webhooks::failed(out, &page).await,
        Command::Webhooks(Webhooks::Redeliver(ids)) => webhooks::redeliver(out, &ids.ids).await,
        Command::Tasks(Tasks::Stuck(args)) => tasks::stuck(out, &args).await,
        Command::Tasks(Tasks::Reschedule(args)) => tasks::reschedule(out, &args).await,
        Command::Prune => prune::run(out).await,
    }
}
