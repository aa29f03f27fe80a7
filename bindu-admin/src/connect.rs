//! Connecting to the configured backends as the app would, with what a one-shot tool needs: no
//! background pruning, and only the backends a command uses.

use bindu::settings::{SchedulerBackend, StorageBackend};
use bindu::{App, AppSettings};

use crate::exit::{Exit, Failure};

/// Which backends a command uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    Storage,
    Scheduler,
    Both,
}

/// The app's settings, from the environment and `.env`.
pub fn settings() -> Result<AppSettings, Failure> {
    AppSettings::from_env().map_err(|err| Failure::new(Exit::Usage, err.to_string()))
}

/// An app on the backends `needs` names (the other one in memory, never contacted). A backend
/// in memory lives inside each process, out of this tool's reach: a usage error.
pub async fn app(settings: &AppSettings, needs: Needs) -> Result<App, Failure> {
    let mut settings = settings.clone();
    settings.retention.interval = None;
    let shared = |kind: &str, variable: &str| {
        Failure::new(
            Exit::Usage,
            format!(
                "{variable}=memory: a {kind} in memory lives inside each process, out of this tool's reach; \
                 run it with the app's environment (postgres or redis)"
            ),
        )
    };
    if needs != Needs::Scheduler {
        if settings.storage == StorageBackend::Memory {
            return Err(shared("storage", "STORAGE_TYPE"));
        }
    } else {
        settings.storage = StorageBackend::Memory;
    }
    if needs != Needs::Storage {
        if settings.scheduler == SchedulerBackend::Memory {
            return Err(shared("scheduler", "SCHEDULER_TYPE"));
        }
    } else {
        settings.scheduler = SchedulerBackend::Memory;
    }
    App::connect(&settings).await.map_err(unreachable)
}

/// A start-up that failed: the error names the setting and the URL without its password.
pub fn unreachable(err: bindu::Error) -> Failure {
    Failure::new(Exit::Unreachable, err.to_string())
}
