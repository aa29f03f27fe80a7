//! Section 2: in-memory operations per second with 1 and 64 concurrent callers, 10k tasks stored.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bindu::{
    ContextId, InMemoryStorage, Message, RetryPolicy, Retrying, Storage, TaskId, TaskState, TaskUpdate,
};

use crate::Mode;
use crate::stats::{Row, Samples, Table, short};

pub fn run(mode: Mode, table: &mut Table) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let storage: Arc<dyn Storage> =
            Arc::new(Retrying::with_policy(InMemoryStorage::new(), RetryPolicy::STORAGE));
        let mut ids = Vec::with_capacity(10_000);
        for _ in 0..10_000 {
            let message = Message::user_text("stored task").for_task(TaskId::new());
            ids.push(storage.submit_task(ContextId::new(), &message, None).await.unwrap().task.id);
        }
        let ids = Arc::new(ids);
        let (runs, window) = match mode {
            Mode::Quick => (1, Duration::from_millis(200)),
            Mode::Full => (7, Duration::from_secs(2)),
        };
        let mut single = Samples::default();
        for concurrency in [1usize, 64] {
            let mut rates = Samples::default();
            for _ in 0..runs {
                rates.push(mixed_load(&storage, &ids, concurrency, window).await);
            }
            if concurrency == 1 {
                single = rates.clone();
            }
            let scaling = rates.median() / single.median();
            table.add(Row {
                section: "2 in-memory throughput",
                name: format!("Retrying<InMemoryStorage>, {concurrency} caller(s), 10k tasks, load+update"),
                baseline: if concurrency == 1 {
                    "—".into()
                } else {
                    format!("{} ops/s (1 caller)", short(single.median()))
                },
                measured: format!("{} ops/s", short(rates.median())),
                comparison: if concurrency == 1 {
                    "—".into()
                } else {
                    format!("{scaling:.2}× the single caller")
                },
                spread: rates.spread("ops/s"),
                target: "reported".into(),
                verdict: "—".into(),
            });
        }
    });
}

/// Each caller alternates a load and an update of random stored tasks for `window`.
async fn mixed_load(
    storage: &Arc<dyn Storage>,
    ids: &Arc<Vec<TaskId>>,
    callers: usize,
    window: Duration,
) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + window;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for caller in 0..callers {
        let (storage, ids, done) = (Arc::clone(storage), Arc::clone(ids), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            let mut i = caller * 7919;
            while Instant::now() < deadline {
                let id = ids[i % ids.len()];
                storage.load_task(id, None).await.unwrap();
                // A real write every time: the metadata changes.
                let update = TaskUpdate::to(TaskState::Working).with_metadata("n", serde_json::json!(i));
                storage.update_task(id, &update).await.unwrap();
                done.fetch_add(2, Ordering::Relaxed);
                i = i.wrapping_add(104_729);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}
