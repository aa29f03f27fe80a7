//! The worker: runs the user's [`Agent`] on scheduled tasks and applies cancel, pause and resume,
//! retrying only what is safe to retry.
//!
//! A run goes `submitted` → `working` → `completed` / `input-required` / `auth-required` /
//! `rejected` / `failed`:
//!
//! 1. **Claim.** The task is loaded and moved to `working` with the run's operation id in its
//!    metadata (`bindu.runId`). Both steps are retried under the worker policy.
//! 2. **Run.** The agent is called once. While it runs, the worker keeps the delivery alive and
//!    watches storage, so a cancel or pause — from any process — interrupts it.
//! 3. **Store.** The result is written with one idempotent, fenced update (only if the task is
//!    still `working` under this run). Only this write is retried; the agent never runs again
//!    because the write failed. An agent error marks the task `failed` with a fixed text (the
//!    error goes to the logs); `AgentOutput::Failed` fails it with the agent's own message.
//! 4. **Acknowledge**, once, after the effect is stored.
//!
//! Pause moves a task to `suspended` keeping everything stored; resume brings it back to waiting
//! for input, or to `resumed` with a new run scheduled.

mod agent;
mod context;
mod control;
mod finisher;
mod heartbeat;
mod history;
mod listener;
mod options;
mod rescue;
mod run;
mod runner;
mod stats;

pub use crate::model::RUN_KEY;
pub use agent::{Agent, AgentError, AgentInput, AgentOutput, FnAgent};
pub use context::{FAILURE_KEY, PAUSED_FROM_KEY};
pub use finisher::Finisher;
pub use listener::TaskListener;
pub use options::{RescueOptions, WorkerOptions};
pub use runner::{ShutdownReport, Worker, WorkerHandle};
pub use stats::{StatsSnapshot, WorkerStats};
