//! `bindu-admin` end to end: the binary, run as a process against real PostgreSQL and Redis
//! servers started by the tests, on incidents staged with the library — a poisoned run, a
//! worker killed mid-run, a failed webhook, a server down.
//!
//! Each test prints the transcript of the commands it ran (`--nocapture` shows it).

mod admin;
mod incidents;
mod webhook;
mod worker;

/// The worker process of [`incidents::a_worker_killed_mid_run_leaves_a_stuck_task_rescheduled_by_hand`]:
/// this test binary, run again with `BINDU_E2E_WORKER` set. A no-op as an ordinary test.
#[test]
fn worker_process() {
    if std::env::var_os(worker::ROLE).is_some() {
        worker::run_until_killed();
    }
}
