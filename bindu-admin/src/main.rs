//! `bindu-admin`: see what is stuck in a bindu deployment and fix it, from one command.
//!
//! It reads the same environment as `App` (`STORAGE_TYPE`, `DATABASE_URL`, `SCHEDULER_TYPE`,
//! `REDIS_URL`, …, and `.env`), prints tables (or JSON with `--json`), never prints a password or
//! a webhook's URL or token, and says what happened in its exit code:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done; nothing needs attention |
//! | 1 | something needs attention: a list found entries, or an action found nothing to act on or failed again |
//! | 2 | usage or configuration error |
//! | 3 | a backend is unreachable (or refused us) |

mod cli;
mod commands;
mod connect;
mod exit;
mod format;
mod output;
mod table;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::exit::Exit;
use crate::output::Output;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Output::new(cli.json);
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => return out.fail(&exit::Failure::new(Exit::Usage, format!("cannot start: {err}"))),
    };
    match runtime.block_on(commands::run(cli.command, &out)) {
        Ok(exit) => exit.code(),
        Err(failure) => out.fail(&failure),
    }
}
