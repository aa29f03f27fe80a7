//! Section 3: PostgresStorage submit / load / update per second at concurrency 1 and 64, against
//! the same SQL run directly on tokio-postgres with prepared statements (the limit), side by side
//! on one throwaway server. And section 5's PostgreSQL row: recovery after a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bindu::postgres::{PostgresOptions, PostgresStorage};
use bindu::{ContextId, Message, RetrySettings, Retrying, Storage, TaskId, TaskState, TaskUpdate};
use bindu_test_support::PostgresServer;
use tokio_postgres::types::Json;
use tokio_postgres::{Client, NoTls, Statement};

use crate::Mode;
use crate::recovery;
use crate::stats::{Samples, Table};

// The statements of `src/postgres/storage/{codec,tasks}.rs`, written out (they are private).
const HEAD: &str = "id, context_id, state, state_timestamp, status_message, metadata, owner";
const ARTIFACTS: &str = "(SELECT coalesce(json_agg(a.body ORDER BY a.position), '[]')
                          FROM task_artifacts a WHERE a.task_id = tasks.id) AS artifacts";
/// A task with its whole history (load_task(id, None)).
const HISTORY: &str = "(SELECT coalesce(json_agg(m.body ORDER BY m.position), '[]')
                        FROM task_messages m WHERE m.task_id = tasks.id) AS history";
/// What a write locks and decides on: the head, the named messages and the last $3, every
/// artifact, the next positions.
const VIEW: &str = "message_count, artifact_count,
                    (SELECT coalesce(json_agg(m.body ORDER BY m.position), '[]')
                     FROM (SELECT body, position FROM task_messages
                           WHERE task_id = tasks.id AND message_id = ANY($2::uuid[])
                           UNION
                           SELECT body, position FROM task_messages
                           WHERE task_id = tasks.id AND position >= tasks.message_count - $3::integer) m) AS history";
const CLAIM: &str = "claim_token, claim_run, lease_until";

/// The statements PostgresStorage runs, prepared once per raw client.
struct Raw {
    client: Client,
    load: Statement,
    lock: Statement,
    lock_with_claim: Statement,
    insert_context: Statement,
    context_owner: Statement,
    insert_task: Statement,
    update: Statement,
}

impl Raw {
    async fn connect(options: &PostgresOptions) -> Self {
        let config = options.driver_config_for_bench();
        let (client, connection) = config.connect(NoTls).await.unwrap();
        tokio::spawn(connection);
        let prepare = |sql: String| {
            let client = &client;
            async move { client.prepare(&sql).await.unwrap() }
        };
        Self {
            load: prepare(format!("SELECT {HEAD}, {ARTIFACTS}, {HISTORY} FROM tasks WHERE id = $1")).await,
            lock: prepare(format!("SELECT {HEAD}, {ARTIFACTS}, {VIEW} FROM tasks WHERE id = $1 FOR UPDATE"))
                .await,
            lock_with_claim: prepare(format!(
                "SELECT {HEAD}, {ARTIFACTS}, {VIEW}, {CLAIM} FROM tasks WHERE id = $1 FOR UPDATE"
            ))
            .await,
            insert_context: prepare(
                "INSERT INTO contexts (id, owner) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING".into(),
            )
            .await,
            context_owner: prepare("SELECT owner FROM contexts WHERE id = $1 FOR SHARE".into()).await,
            insert_task: prepare(
                "WITH task AS (
                     INSERT INTO tasks (id, context_id, owner, state, state_timestamp, message_count)
                     VALUES ($1, $2, $3, $4, now(), 1)
                     ON CONFLICT (id) DO NOTHING RETURNING id, state_timestamp),
                 message AS (
                     INSERT INTO task_messages (task_id, position, message_id, body)
                     SELECT id, 0, $5, $6 FROM task)
                 SELECT state_timestamp FROM task"
                    .into(),
            )
            .await,
            update: prepare(
                "WITH head AS (
                     UPDATE tasks SET state = $2, state_timestamp = now(), metadata = metadata || $3,
                                      updated_at = now(),
                                      claim_token = CASE WHEN $4 THEN claim_token END,
                                      claim_run = CASE WHEN $4 THEN claim_run END,
                                      lease_until = CASE WHEN $4 THEN lease_until END,
                                      message_count = $5 + cardinality($6::uuid[]),
                                      artifact_count = $8 + cardinality($9::uuid[])
                     WHERE id = $1 RETURNING state_timestamp, metadata),
                 messages AS (
                     INSERT INTO task_messages (task_id, position, message_id, body)
                     SELECT $1, $5 + (n - 1)::integer, id, body
                     FROM unnest($6::uuid[], $7::jsonb[]) WITH ORDINALITY AS x (id, body, n)),
                 artifacts AS (
                     INSERT INTO task_artifacts (task_id, position, artifact_id, body)
                     SELECT $1, $8 + (n - 1)::integer, id, body
                     FROM unnest($9::uuid[], $10::jsonb[]) WITH ORDINALITY AS x (id, body, n))
                 SELECT state_timestamp, metadata FROM head"
                    .into(),
            )
            .await,
            client,
        }
    }

    async fn submit(&mut self, message: &Message) {
        let context = ContextId::new();
        let task_id = message.task_id.unwrap();
        let tx = self.client.transaction().await.unwrap();
        let none: Option<&str> = None;
        let named = [message.message_id.0];
        assert!(tx.query_opt(&self.lock, &[&task_id.0, &named.as_slice(), &1i32]).await.unwrap().is_none());
        tx.execute(&self.insert_context, &[&context.0, &none]).await.unwrap();
        tx.query_one(&self.context_owner, &[&context.0]).await.unwrap();
        let state = "submitted";
        tx.query_opt(
            &self.insert_task,
            &[&task_id.0, &context.0, &none, &state, &message.message_id.0, &Json(message)],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    async fn load(&self, task_id: TaskId) {
        self.client.query_opt(&self.load, &[&task_id.0]).await.unwrap().unwrap();
    }

    async fn update(&mut self, task_id: TaskId, state: TaskState, n: usize) {
        let tx = self.client.transaction().await.unwrap();
        let none: [uuid::Uuid; 0] = [];
        let row = tx.query_one(&self.lock_with_claim, &[&task_id.0, &none.as_slice(), &1i32]).await.unwrap();
        let (messages, artifacts): (i32, i32) = (row.get("message_count"), row.get("artifact_count"));
        let no_bodies: [Json<&Message>; 0] = [];
        let metadata = bindu::metadata([("n", serde_json::json!(n))]);
        tx.query_one(
            &self.update,
            &[
                &task_id.0,
                &state.as_str(),
                &Json(&metadata),
                &(state == TaskState::Working),
                &messages,
                &none.as_slice(),
                &no_bodies.as_slice(),
                &artifacts,
                &none.as_slice(),
                &no_bodies.as_slice(),
            ],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
}

/// The driver's config for the options' database and schema (the raw baselines connect with it).
pub trait DriverConfigForBench {
    fn driver_config_for_bench(&self) -> tokio_postgres::Config;
}

impl DriverConfigForBench for PostgresOptions {
    fn driver_config_for_bench(&self) -> tokio_postgres::Config {
        let mut config: tokio_postgres::Config = self.url.parse().unwrap();
        config.options(format!("-c search_path=\"{}\"", self.schema.as_deref().unwrap_or("public")));
        config
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Submit,
    Load,
    Update,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Submit => "submit_task",
            Op::Load => "load_task",
            Op::Update => "update_task",
        }
    }
}

pub fn run(mode: Mode, table: &mut Table) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = PostgresServer::start();
    runtime.block_on(async {
        let mut options = server.options();
        options.pool_size = 64;
        let storage: Arc<dyn Storage> = Arc::new(Retrying::with_policy(
            PostgresStorage::connect_with(options.clone()).await.unwrap(),
            RetrySettings::default().storage,
        ));
        // Tasks to load and update.
        let mut ids = Vec::new();
        for _ in 0..256 {
            let message = Message::user_text("a stored task").for_task(TaskId::new());
            ids.push(storage.submit_task(ContextId::new(), &message, None).await.unwrap().task.id);
        }
        let ids = Arc::new(ids);
        let mut raws = Vec::new();
        for _ in 0..64 {
            raws.push(tokio::sync::Mutex::new(Raw::connect(&options).await));
        }
        let raws = Arc::new(raws);
        let (runs, window) = match mode {
            Mode::Quick => (1, Duration::from_millis(300)),
            Mode::Full => (5, Duration::from_secs(3)),
        };
        for op in [Op::Submit, Op::Load, Op::Update] {
            for concurrency in [1usize, 64] {
                let (mut ours, mut raw, mut ratio) =
                    (Samples::default(), Samples::default(), Samples::default());
                for run in 0..runs {
                    // Alternate which goes first.
                    let (a, b) = if run % 2 == 0 {
                        let a =
                            rate(op, concurrency, window, Target::Storage(Arc::clone(&storage)), &ids).await;
                        (a, rate(op, concurrency, window, Target::Raw(Arc::clone(&raws)), &ids).await)
                    } else {
                        let b = rate(op, concurrency, window, Target::Raw(Arc::clone(&raws)), &ids).await;
                        (rate(op, concurrency, window, Target::Storage(Arc::clone(&storage)), &ids).await, b)
                    };
                    ours.push(a);
                    raw.push(b);
                    ratio.push(a / b);
                }
                let name = format!("{}, concurrency {concurrency}", op.name());
                table.add_against_raw("3 postgres vs raw driver", name, &ours, &raw, &ratio);
            }
        }
    });
    recovery(&runtime, server, mode, table);
}

enum Target {
    Storage(Arc<dyn Storage>),
    Raw(Arc<Vec<tokio::sync::Mutex<Raw>>>),
}

async fn rate(op: Op, callers: usize, window: Duration, target: Target, ids: &Arc<Vec<TaskId>>) -> f64 {
    let target = Arc::new(target);
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + window;
    let started = Instant::now();
    let mut handles = Vec::new();
    for caller in 0..callers {
        let (target, ids, done) = (Arc::clone(&target), Arc::clone(ids), Arc::clone(&done));
        handles.push(tokio::spawn(async move {
            let mut i = caller;
            while Instant::now() < deadline {
                let id = ids[i % ids.len()];
                // Every update really writes: the metadata changes each time.
                let state = TaskState::Working;
                match &*target {
                    Target::Storage(storage) => match op {
                        Op::Submit => {
                            let message = Message::user_text("new").for_task(TaskId::new());
                            storage.submit_task(ContextId::new(), &message, None).await.unwrap();
                        }
                        Op::Load => drop(storage.load_task(id, None).await.unwrap()),
                        Op::Update => {
                            let update = TaskUpdate::to(state).with_metadata("n", serde_json::json!(i));
                            drop(storage.update_task(id, &update).await.unwrap())
                        }
                    },
                    Target::Raw(raws) => {
                        let mut raw = raws[caller].lock().await;
                        match op {
                            Op::Submit => {
                                raw.submit(&Message::user_text("new").for_task(TaskId::new())).await
                            }
                            Op::Load => raw.load(id).await,
                            Op::Update => raw.update(id, state, i).await,
                        }
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
                i += callers;
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// Section 5: a restarted server accepting connections again → the first successful call
/// through `Retrying` with the default storage policy.
fn recovery(runtime: &tokio::runtime::Runtime, mut server: PostgresServer, mode: Mode, table: &mut Table) {
    let mut samples = Samples::default();
    for _ in 0..recovery::rounds(mode) {
        let mut options = server.options();
        options.request_timeout = Duration::from_secs(2);
        let storage = runtime.block_on(async {
            Retrying::with_policy(
                PostgresStorage::connect_with(options).await.unwrap(),
                RetrySettings::default().storage,
            )
        });
        let message = Message::user_text("x").for_task(TaskId::new());
        let task_id =
            runtime.block_on(storage.submit_task(ContextId::new(), &message, None)).unwrap().task.id;
        let call = async move { storage.load_task(task_id, None).await };
        samples.push(recovery::sample(
            runtime,
            &mut server,
            PostgresServer::kill,
            PostgresServer::restart,
            call,
        ));
    }
    recovery::add_row(
        table,
        "PostgreSQL restarted → first successful call (Retrying, default storage policy 5 × 0.5–5 s)",
        &samples,
    );
}
