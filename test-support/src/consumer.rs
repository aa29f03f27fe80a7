//! The killed consumer of the redelivery tests: a process of its own that receives one operation
//! from a [`RedisScheduler`], says so on stdout, and holds it unacknowledged until the test kills
//! it (SIGKILL: no chance to acknowledge or to clean up).
//!
//! The process is the test binary itself, run again with one test selected and the consumer's
//! settings in its environment, so that no extra binary has to be built and found. The selected
//! test starts with [`role`]: in the child it returns the settings and the test hands them to
//! [`hold_first_delivery`]; in the parent it returns `None` and the test goes on.
//!
//! ```ignore
//! #[tokio::test]
//! async fn a_killed_consumers_operation_is_redelivered() {
//!     if let Some(options) = consumer::role() {
//!         return consumer::hold_first_delivery(options).await;
//!     }
//!     let mut child = ConsumerProcess::spawn("a_killed_consumers_operation_is_redelivered", url, &prefix, min_idle);
//!     child.ready().await;
//!     // enqueue; then
//!     let (operation, deliveries) = child.received().await;
//!     child.kill().await;
//! }
//! ```

use std::process::Stdio;
use std::time::Duration;

use bindu::conformance::within;
use bindu::redis::{RedisScheduler, RedisSchedulerOptions};
use bindu::{OperationId, SchedulerExt};
use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::RedisServer;

const URL: &str = "BINDU_TEST_CONSUMER_URL";
const PREFIX: &str = "BINDU_TEST_CONSUMER_PREFIX";
const MIN_IDLE_MS: &str = "BINDU_TEST_CONSUMER_MIN_IDLE_MS";

const READY: &str = "CONSUMER READY";
const RECEIVED: &str = "CONSUMER RECEIVED";

/// The consumer's scheduler options: the test timing of
/// [`RedisServer::quick_scheduler_options_for`] under `prefix`, redelivering after `min_idle`.
/// The parent uses the same options for the scheduler that gets the redelivery.
pub fn options(url: &str, prefix: &str, min_idle: Duration) -> RedisSchedulerOptions {
    let mut options = RedisServer::quick_scheduler_options_for(url);
    options.redis.prefix = prefix.to_owned();
    options.min_idle = min_idle;
    options
}

/// The consumer's options when this process was spawned as the consumer, else `None`.
pub fn role() -> Option<RedisSchedulerOptions> {
    let url = std::env::var(URL).ok()?;
    let prefix = std::env::var(PREFIX).expect("the consumer's key prefix");
    let min_idle =
        std::env::var(MIN_IDLE_MS).expect("the consumer's idle time").parse().expect("milliseconds");
    Some(options(&url, &prefix, Duration::from_millis(min_idle)))
}

/// The child's part: receives one operation, prints its id and delivery count, and holds it
/// without acknowledging. Bounded, so that a child whose parent died does not linger.
pub async fn hold_first_delivery(options: RedisSchedulerOptions) {
    let scheduler = within("connect", RedisScheduler::connect_with(options)).await.expect("connect");
    let mut stream = within("open", scheduler.receive_task_operations()).await.expect("receive");
    println!("{READY}");
    let delivery = within("receive", stream.next()).await.expect("an item").expect("a delivery");
    println!("{RECEIVED} {} {}", delivery.operation().id, delivery.delivery_count());
    tokio::time::sleep(Duration::from_secs(60)).await;
    panic!("the parent should have killed this consumer");
}

/// The parent's handle on a consumer process.
pub struct ConsumerProcess {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl ConsumerProcess {
    /// Runs this test binary again as the consumer, selecting `test` (which must start with
    /// [`role`]). The child is killed if the handle is dropped.
    pub fn spawn(test: &str, url: &str, prefix: &str, min_idle: Duration) -> Self {
        let mut child = Command::new(std::env::current_exe().expect("the test binary"))
            .args([test, "--exact", "--nocapture"])
            .env(URL, url)
            .env(PREFIX, prefix)
            .env(MIN_IDLE_MS, min_idle.as_millis().to_string())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the consumer process");
        let lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        Self { child, lines }
    }

    /// Waits until the consumer's stream is open.
    pub async fn ready(&mut self) {
        self.line_starting(READY).await;
    }

    /// Waits until the consumer received an operation: its id and delivery count.
    pub async fn received(&mut self) -> (OperationId, u32) {
        let line = self.line_starting(RECEIVED).await;
        let mut words = line[RECEIVED.len()..].split_whitespace();
        let id = words.next().and_then(|id| id.parse().ok()).unwrap_or_else(|| panic!("{line:?}"));
        let count = words.next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{line:?}"));
        (id, count)
    }

    /// SIGKILL, and waits until the process is gone.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL the consumer");
        within("reap the consumer", self.child.wait()).await.expect("the consumer exits");
    }

    async fn line_starting(&mut self, prefix: &str) -> String {
        let lines = &mut self.lines;
        let wanted = async {
            while let Some(line) = lines.next_line().await.expect("read the consumer's output") {
                if line.starts_with(prefix) {
                    return line;
                }
            }
            panic!("the consumer exited before printing {prefix:?}");
        };
        within(prefix, wanted).await
    }
}
