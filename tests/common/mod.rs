//! Helpers shared by the worker tests: a scripted agent, polling, and an end-to-end driver that
//! any pair of backends can run.
#![allow(dead_code, unreachable_pub)]

pub mod logs;
pub mod recorded;
pub mod servers;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bindu::worker::{Agent, AgentError, AgentInput, AgentOutput, Worker, WorkerHandle, WorkerOptions};
use bindu::{
    ContextId, Message, RetryPolicy, Scheduler, SchedulerExt, Storage, Task, TaskId, TaskSendParams,
    TaskState,
};

/// Worker options for tests: quick retries, heartbeats and releases.
pub fn fast_options(concurrency: usize) -> WorkerOptions {
    WorkerOptions {
        concurrency,
        retry: RetryPolicy::new(3, Duration::from_millis(10), Duration::from_millis(50)),
        cancel_attempts: 2,
        lease: Duration::from_secs(2),
        heartbeat: Duration::from_millis(100),
        release_delay: Duration::from_millis(100),
        hold_max_wait: Duration::from_millis(200),
        ..WorkerOptions::default()
    }
}

/// What the test agent does for one call.
pub type Behaviour = Arc<
    dyn Fn(AgentInput) -> std::pin::Pin<Box<dyn Future<Output = Result<AgentOutput, AgentError>> + Send>>
        + Send
        + Sync,
>;

/// An agent that counts its calls per task and does what it is told.
pub struct TestAgent {
    calls: Mutex<HashMap<TaskId, u32>>,
    behaviour: Behaviour,
}

impl TestAgent {
    pub fn new<F, Fut>(behaviour: F) -> Arc<Self>
    where
        F: Fn(AgentInput) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<AgentOutput, AgentError>> + Send + 'static,
    {
        Arc::new(Self {
            calls: Mutex::default(),
            behaviour: Arc::new(move |input| Box::pin(behaviour(input))),
        })
    }

    /// Answers with the last message's text, upper-cased.
    pub fn echo() -> Arc<Self> {
        Self::new(|input: AgentInput| async move {
            let last = input.history.last().map(|m| m.text()).unwrap_or_default();
            Ok(AgentOutput::text(last.to_uppercase()))
        })
    }

    pub fn calls(&self, task_id: TaskId) -> u32 {
        self.calls.lock().unwrap().get(&task_id).copied().unwrap_or(0)
    }

    pub fn total_calls(&self) -> u32 {
        self.calls.lock().unwrap().values().sum()
    }

    pub fn max_calls_per_task(&self) -> u32 {
        self.calls.lock().unwrap().values().copied().max().unwrap_or(0)
    }
}

#[async_trait]
impl Agent for TestAgent {
    async fn run(&self, input: AgentInput) -> Result<AgentOutput, AgentError> {
        *self.calls.lock().unwrap().entry(input.task.id).or_default() += 1;
        (self.behaviour)(input).await
    }
}

/// Sets a flag when dropped: tells whether an agent's future was dropped (interrupted).
pub struct DropFlag(pub Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Submits a user message for a new task and schedules its run.
pub async fn submit(storage: &dyn Storage, scheduler: &dyn Scheduler, text: &str) -> Task {
    let message = Message::user_text(text).for_task(TaskId::new());
    let task = storage.submit_task(ContextId::new(), &message, None).await.unwrap().task;
    let params = TaskSendParams::new(task.id, task.context_id, Some(message));
    scheduler.run_task(&params).await.unwrap();
    task
}

/// Polls `check` until it holds, or panics after `limit`.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let polling = async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    if tokio::time::timeout(limit, polling).await.is_err() {
        panic!("timed out after {limit:?} waiting until {what}");
    }
}

/// Waits until the task is in `state`.
pub async fn wait_for_state(
    storage: &dyn Storage,
    task_id: TaskId,
    state: TaskState,
    limit: Duration,
) -> Task {
    wait_until(&format!("task {task_id} is {state}"), limit, || async {
        matches!(storage.load_task(task_id, None).await, Ok(Some(t)) if t.status.state == state)
    })
    .await;
    storage.load_task(task_id, None).await.unwrap().unwrap()
}

/// `count` workers with `options` on `storage` and `scheduler`, running `agent`.
pub fn spawn_workers(
    storage: &Arc<dyn Storage>,
    scheduler: &Arc<dyn Scheduler>,
    agent: &Arc<TestAgent>,
    count: usize,
    options: WorkerOptions,
) -> Vec<WorkerHandle> {
    (0..count)
        .map(|_| {
            Worker::new(Arc::clone(storage), Arc::clone(scheduler), agent.clone())
                .with_options(options)
                .spawn()
        })
        .collect()
}

/// Shuts each worker down, giving each `limit`.
pub async fn shutdown_all(workers: Vec<WorkerHandle>, limit: Duration) {
    for worker in workers {
        worker.shutdown(limit).await;
    }
}

/// The end-to-end run the issue asks for on each pair of backends: `tasks` tasks through
/// `workers` workers; every task ends terminal (completed) and no task runs twice.
pub async fn many_tasks_through_several_workers(
    storage: Arc<dyn Storage>,
    scheduler: Arc<dyn Scheduler>,
    tasks: usize,
    workers: usize,
) -> (u32, Vec<bindu::worker::StatsSnapshot>) {
    let agent = TestAgent::echo();
    let handles = spawn_workers(&storage, &scheduler, &agent, workers, fast_options(4));
    let mut submitted = Vec::new();
    for i in 0..tasks {
        submitted.push(submit(&*storage, &*scheduler, &format!("task number {i}")).await);
    }
    for task in &submitted {
        let done = wait_for_state(&*storage, task.id, TaskState::Completed, Duration::from_secs(60)).await;
        assert_eq!(done.artifacts.len(), 1, "one result artifact");
        assert_eq!(done.history.len(), 2, "the question and one answer");
        assert_eq!(done.history[1].text(), done.history[0].text().to_uppercase());
    }
    let mut stats = Vec::new();
    for handle in handles {
        stats.push(handle.stats());
        handle.shutdown(Duration::from_secs(5)).await;
    }
    assert_eq!(agent.total_calls(), tasks as u32, "each task ran once");
    assert_eq!(agent.max_calls_per_task(), 1, "no task ran twice");
    assert_eq!(storage.count_tasks(Some(TaskState::Completed)).await.unwrap(), tasks as u64);
    (agent.total_calls(), stats)
}
