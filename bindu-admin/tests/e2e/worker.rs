//! Workers for the incidents: one in a process of its own, to be killed mid-run, and one in the
//! test's process that counts its agent's calls.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use bindu::App;
use bindu::worker::{AgentError, AgentInput, AgentOutput, FnAgent, WorkerHandle};

/// Set in the worker process's environment.
pub const ROLE: &str = "BINDU_E2E_WORKER";
/// What the worker process prints when its agent starts on a task.
const STARTED: &str = "AGENT STARTED ";

/// In the worker process: an app from the environment, and a worker whose agent announces each
/// task and then never answers, until the process is killed.
pub fn run_until_killed() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let app = App::from_env().await.expect("the worker connects");
        let agent = FnAgent::new(|input: AgentInput| async move {
            let mut stdout = std::io::stdout();
            writeln!(stdout, "{STARTED}{}", input.task.id).unwrap();
            stdout.flush().unwrap();
            std::future::pending::<Result<AgentOutput, AgentError>>().await
        });
        let _worker = app.worker(Arc::new(agent)).spawn();
        std::future::pending::<()>().await;
    });
}

/// The worker process, seen from the test.
pub struct WorkerProcess {
    child: Child,
    started: mpsc::Receiver<String>,
}

impl WorkerProcess {
    /// Starts this test binary again as a worker on `vars`.
    pub fn spawn(vars: &HashMap<String, String>) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["worker_process", "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE, "1")
            .envs(vars)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the worker process");
        let stdout = child.stdout.take().unwrap();
        let (sender, started) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // libtest's `test worker_process ... ` may come first on the line.
                if let Some(at) = line.find(STARTED) {
                    let _ = sender.send(line[at + STARTED.len()..].trim().to_owned());
                }
            }
        });
        Self { child, started }
    }

    /// The task its agent started on.
    pub fn agent_started(&self, limit: Duration) -> String {
        self.started.recv_timeout(limit).expect("the worker's agent starts")
    }

    /// SIGKILL: no shutdown, no release, no last heartbeat.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A worker in this process whose agent answers `done` and counts its calls.
pub fn counting(app: &App) -> (WorkerHandle, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let agent = FnAgent::new(move |_: AgentInput| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, AgentError>(AgentOutput::text("done")) }
    });
    (app.worker(Arc::new(agent)).spawn(), calls)
}
