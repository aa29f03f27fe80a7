//! The soak: 400 tasks submitted at a steady rate while PostgreSQL and Redis are killed and
//! restarted again and again, outages of 0.5–10 s (far past the retry window), Redis with AOF
//! `appendfsync always`. Counting calls inside the agent: every task whose `submit_task`
//! returned Ok ends terminal, the agent ran exactly once per task, and no stored answer was
//! replaced by a failure.
#![cfg(all(feature = "postgres", feature = "redis"))]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bindu::settings::GuardSettings;
use bindu::worker::{AgentInput, AgentOutput};
use bindu::{ContextId, Message, RetryPolicy, SchedulerExt, TaskId, TaskSendParams, TaskState};
use common::servers::{Pair, Queue, worker_options};
use common::{TestAgent, shutdown_all};
use tokio::time::Instant;

const TASKS: usize = 400;
/// Submissions per second.
const RATE: u64 = 10;
/// Longer than any outage: a live holder's claim outlives every outage.
const LEASE: Duration = Duration::from_secs(20);
/// A client's retries: a few seconds at most, so most outages outlast them.
const CLIENT: RetryPolicy = RetryPolicy::new(4, Duration::from_millis(100), Duration::from_millis(800))
    .with_deadline(Some(Duration::from_secs(3)));

/// Kills `which` now and then — outages of 0.5–10 s, with 4–8 s of service between them — until
/// `stop`.
async fn chaos(
    pair: Arc<Pair>,
    which: &'static str,
    stop: Arc<AtomicBool>,
    log: Arc<std::sync::Mutex<Vec<String>>>,
) {
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(4000 + fastrand::u64(0..4000))).await;
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let outage = Duration::from_millis(500 + fastrand::u64(0..9500));
        let restarted = match which {
            "postgres" => pair.postgres_outage(outage),
            _ => pair.redis_outage(outage),
        };
        log.lock().unwrap().push(format!("{which} down {:.1} s", outage.as_secs_f64()));
        restarted.await.unwrap();
    }
}

async fn soak(queue: Queue) {
    let pair = Arc::new(Pair::start(queue, LEASE, CLIENT, GuardSettings::default()).await);
    // Long enough that outages land while runs are in flight (claims, held answers, releases).
    let agent = TestAgent::new(|input: AgentInput| async move {
        tokio::time::sleep(Duration::from_millis(100 + fastrand::u64(0..700))).await;
        Ok(AgentOutput::text(format!("answer to {}", input.history[0].text())))
    });
    let workers = pair.spawn_workers(agent.clone(), 2, worker_options(8, LEASE));
    let stop = Arc::new(AtomicBool::new(false));
    let outages = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut chaos_tasks =
        vec![tokio::spawn(chaos(Arc::clone(&pair), "postgres", Arc::clone(&stop), Arc::clone(&outages)))];
    if queue == Queue::Redis {
        chaos_tasks.push(tokio::spawn(chaos(
            Arc::clone(&pair),
            "redis",
            Arc::clone(&stop),
            Arc::clone(&outages),
        )));
    }

    let started = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_millis(1000 / RATE));
    let (mut accepted, mut refused, mut orphans) = (Vec::new(), 0, 0);
    for i in 0..TASKS {
        ticks.tick().await;
        let message = Message::user_text(format!("task {i}")).for_task(TaskId::new());
        let Ok(submitted) = pair.storage.submit_task(ContextId::new(), &message, None).await else {
            refused += 1;
            continue;
        };
        accepted.push(submitted.task.id);
        let params = TaskSendParams::new(submitted.task.id, submitted.task.context_id, Some(message));
        if pair.scheduler.run_task(&params).await.is_err() {
            orphans += 1;
        }
    }
    let submitting = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    for task in chaos_tasks {
        task.await.unwrap();
    }
    let drain_started = Instant::now();

    // Every accepted task ends terminal: wait for them all.
    let mut waiting: HashSet<TaskId> = accepted.iter().copied().collect();
    let deadline = Instant::now() + Duration::from_secs(240);
    while !waiting.is_empty() && Instant::now() < deadline {
        let mut done = Vec::new();
        for task in &waiting {
            if let Ok(Some(task)) = pair.storage.load_task(*task, Some(1)).await
                && task.status.state.is_terminal()
            {
                done.push(task.id);
            }
        }
        for task in done {
            waiting.remove(&task);
        }
        if !waiting.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let drain = drain_started.elapsed();
    let mut completed = 0;
    let mut failed = Vec::new();
    for task in &accepted {
        match pair.storage.load_task(*task, Some(1)).await.unwrap() {
            Some(task) if task.status.state == TaskState::Completed => completed += 1,
            Some(task) if task.status.state == TaskState::Failed => failed.push(task),
            _ => {}
        }
    }
    let stats: Vec<_> = workers.iter().map(|w| w.stats()).collect();
    let calls_once = accepted.iter().filter(|task| agent.calls(**task) == 1).count();
    println!(
        "soak {queue:?}: submitted {TASKS} in {:.0} s ({refused} refused by storage, {} accepted, {orphans} without a \
         run scheduled); completed {completed}, failed {}, stuck {}; agent calls: {} in all, exactly once for {calls_once} \
         of {} accepted, at most {} per task; drained in {:.1} s after the last outage",
        submitting.as_secs_f64(),
        accepted.len(),
        failed.len(),
        waiting.len(),
        agent.total_calls(),
        accepted.len(),
        agent.max_calls_per_task(),
        drain.as_secs_f64(),
    );
    println!("soak {queue:?}: outages: {}", outages.lock().unwrap().join(", "));
    println!(
        "soak {queue:?}: workers: released {}, takeovers {}, held answers {}, rescued {}, dead-lettered {}",
        stats.iter().map(|s| s.released).sum::<u64>(),
        stats.iter().map(|s| s.takeovers).sum::<u64>(),
        stats.iter().map(|s| s.held_answers).sum::<u64>(),
        stats.iter().map(|s| s.rescued).sum::<u64>(),
        stats.iter().map(|s| s.dead_lettered).sum::<u64>(),
    );
    assert!(waiting.is_empty(), "{queue:?}: {} accepted tasks never ended: {waiting:?}", waiting.len());
    assert!(failed.is_empty(), "{queue:?}: answers replaced by failures: {failed:#?}");
    assert_eq!(completed, accepted.len(), "{queue:?}: every accepted task completed");
    assert_eq!(calls_once, accepted.len(), "{queue:?}: the agent ran exactly once per accepted task");
    assert!(agent.max_calls_per_task() <= 1, "{queue:?}: no task (accepted or not) ran twice");
    assert!(accepted.len() >= TASKS / 4, "{queue:?}: the soak accepted too little to prove anything");
    shutdown_all(workers, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak_postgres_storage_redis_scheduler() {
    soak(Queue::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak_postgres_storage_postgres_scheduler() {
    soak(Queue::Postgres).await;
}
