//! PostgresStorage against a real server: the conformance suite (plain, under `Retrying`, through
//! `Arc<dyn Storage>`), migrations (an upgrade of the previous release's schema in place), and
//! hostile input. Each test gets a fresh schema.
#![cfg(feature = "postgres")]

use std::sync::Arc;
use std::time::Duration;

use bindu::conformance::storage;
use bindu::postgres::{LATEST_VERSION, PostgresScheduler, PostgresSchedulerOptions, PostgresStorage};
use bindu::{
    ClaimOutcome, ClaimRequest, ContextId, Error, Lanes, Message, OperationId, RUN_KEY, RetryPolicy,
    Retrying, Scheduler, Storage, StuckReason, Task, TaskId, TaskIdParams, TaskOperation, TaskSendParams,
    TaskState, TaskStatus,
};
use bindu_test_support::PostgresServer;
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::StreamExt;
use tokio_postgres::types::Json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_plain_and_retrying() {
    let server = PostgresServer::shared();
    let plain = PostgresStorage::connect_with(server.options()).await.unwrap();
    storage::run_all(&plain).await;
    let retrying = Retrying::with_policy(
        PostgresStorage::connect_with(server.options()).await.unwrap(),
        RetryPolicy::STORAGE,
    );
    storage::run_all(&retrying).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_through_arc_dyn() {
    let server = PostgresServer::shared();
    let shared: Arc<dyn Storage> = Arc::new(PostgresStorage::connect_with(server.options()).await.unwrap());
    storage::run_all(&shared).await;
    storage::close_makes_later_calls_fail(&shared).await;
}

async fn assert_all_migrations_recorded(client: &tokio_postgres::Client, schema: &str) {
    let versions: Vec<i32> = client
        .query(&format!("SELECT version FROM \"{schema}\".bindu_schema_migrations ORDER BY version"), &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(versions, (1..=LATEST_VERSION).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_idempotent_and_safe_when_processes_start_at_once() {
    let server = PostgresServer::shared();
    let options = server.options();
    let schema = options.schema.clone().unwrap();
    let starts = (0..6).map(|_| PostgresStorage::connect_with(options.clone()));
    let storages: Vec<_> =
        futures_util::future::join_all(starts).await.into_iter().map(Result::unwrap).collect();
    let again = PostgresStorage::connect_with(options.clone()).await.unwrap();
    let client = again.pool().get().await.unwrap();
    assert_all_migrations_recorded(&client, &schema).await;
    drop(storages);

    // A schema migrated by a newer build is refused, clearly.
    client
        .execute(
            &format!("INSERT INTO {schema}.bindu_schema_migrations (version, name) VALUES (9999, 'future')"),
            &[],
        )
        .await
        .unwrap();
    let err = PostgresStorage::connect_with(options).await.unwrap_err().to_string();
    assert!(err.contains("version 9999, newer than this build knows"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_keep_agents_apart() {
    let server = PostgresServer::shared();
    let a = PostgresStorage::connect_with(server.options()).await.unwrap();
    let b = PostgresStorage::connect_with(server.options()).await.unwrap();
    let message = Message::user_text("mine").for_task(TaskId::new());
    a.submit_task(ContextId::new(), &message, None).await.unwrap();
    assert_eq!(a.count_tasks(None).await.unwrap(), 1);
    assert_eq!(b.count_tasks(None).await.unwrap(), 0);
    assert!(b.load_task(message.task_id.unwrap(), None).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_postgres_cannot_store_is_a_clear_invalid_error_and_nothing_is_lost() {
    let server = PostgresServer::shared();
    let storage = PostgresStorage::connect_with(server.options()).await.unwrap();
    let first = Message::user_text("fine").for_task(TaskId::new());
    let task = storage.submit_task(ContextId::new(), &first, None).await.unwrap().task;
    let nul = Message::user_text("before\u{0}after").for_task(task.id);
    let err = storage.submit_task(task.context_id, &nul, None).await.unwrap_err();
    // Refused by the input rule every backend applies, before PostgreSQL sees it.
    assert!(matches!(err, Error::Invalid { what: "message", .. }), "{err:?}");
    assert!(err.to_string().contains("NUL character"), "{err}");
    assert_eq!(storage.load_task(task.id, None).await.unwrap().unwrap(), task, "nothing stored is lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_word_schemas_and_roles_without_create_on_the_database_work() {
    let server = PostgresServer::shared();
    // A schema named like a keyword.
    let storage = PostgresStorage::connect_with(server.options().in_schema("user")).await.unwrap();
    storage
        .submit_task(ContextId::new(), &Message::user_text("x").for_task(TaskId::new()), None)
        .await
        .unwrap();

    // An application role that owns its schema but may not create schemas in the database.
    let admin = storage.pool().get().await.unwrap();
    admin
        .batch_execute(
            "DROP ROLE IF EXISTS app_role; CREATE ROLE app_role LOGIN PASSWORD 'app-secret';
             CREATE SCHEMA app_schema AUTHORIZATION app_role;",
        )
        .await
        .unwrap();
    let url = format!("postgres://app_role:app-secret@127.0.0.1:{}/postgres", server.port());
    let options = bindu::postgres::PostgresOptions::from_url(&url).unwrap().in_schema("app_schema");
    let app = PostgresStorage::connect_with(options.clone()).await.expect("migrates its own schema");
    app.submit_task(ContextId::new(), &Message::user_text("y").for_task(TaskId::new()), None).await.unwrap();
    drop(app);
    PostgresStorage::connect_with(options).await.expect("connects again to an up-to-date schema");
}

/// The migrations of earlier releases, as they recorded them.
const RELEASED: [(i32, &str, &str); 4] = [
    (1, "initial", include_str!("../src/postgres/migrations/0001_initial.sql")),
    (2, "operations", include_str!("../src/postgres/migrations/0002_operations.sql")),
    (3, "claims_and_lanes", include_str!("../src/postgres/migrations/0003_claims_and_lanes.sql")),
    (4, "operations_tooling", include_str!("../src/postgres/migrations/0004_operations_tooling.sql")),
];

/// The schema of `options` as a release at schema `version` left it, and a client to write
/// into it as that release did.
async fn schema_of_release(
    server: &PostgresServer,
    options: &bindu::postgres::PostgresOptions,
    version: i32,
) -> (tokio_postgres::Client, String) {
    let schema = options.schema.clone().unwrap();
    let (client, connection) = tokio_postgres::connect(server.url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!(
            "CREATE SCHEMA \"{schema}\"; SET search_path TO \"{schema}\";
             CREATE TABLE bindu_schema_migrations (
                 version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now()
             );"
        ))
        .await
        .unwrap();
    for (number, name, sql) in RELEASED.iter().filter(|(number, _, _)| *number <= version) {
        client.batch_execute(sql).await.unwrap();
        client
            .execute("INSERT INTO bindu_schema_migrations (version, name) VALUES ($1, $2)", &[number, name])
            .await
            .unwrap();
    }
    (client, schema)
}

/// The previous release's schema (migrations 0001 and 0002, recorded as that release recorded
/// them), with tasks and queued operations in it, is upgraded in place by connecting: nothing is
/// lost, and what was queued is still delivered, control operations on the control lane.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_previous_release_is_upgraded_in_place() {
    let server = PostgresServer::shared();
    let options = server.options();
    let (client, schema) = schema_of_release(&server, &options, 2).await;

    // Written as the previous release wrote them: a waiting task, one a dead worker left
    // `working` (its run id in the metadata, no claim), a finished one.
    let context_id = ContextId::new();
    let old = |state: TaskState, text: &str, minutes_ago: i64| {
        let task_id = TaskId::new();
        let (_, message) = Message::user_text(text).for_task(task_id).stamped_for_submit(context_id).unwrap();
        // Microseconds, as PostgreSQL keeps them.
        let timestamp = (Utc::now() - TimeDelta::minutes(minutes_ago)).timestamp_micros();
        let mut metadata = bindu::Metadata::new();
        if state == TaskState::Working {
            metadata.insert(RUN_KEY.into(), OperationId::new().to_string().into());
        }
        Task {
            id: task_id,
            context_id,
            status: TaskStatus {
                state,
                timestamp: DateTime::from_timestamp_micros(timestamp).unwrap(),
                message: None,
            },
            artifacts: Vec::new(),
            history: vec![message],
            metadata,
        }
    };
    let tasks = [
        old(TaskState::Submitted, "waiting", 30),
        old(TaskState::Working, "orphaned", 20),
        old(TaskState::Completed, "done", 10),
    ];
    client.execute("INSERT INTO contexts (id) VALUES ($1)", &[&context_id.0]).await.unwrap();
    for task in &tasks {
        client
            .execute(
                "INSERT INTO tasks (id, context_id, state, state_timestamp, history, metadata)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &task.id.0,
                    &context_id.0,
                    &task.status.state.as_str(),
                    &task.status.timestamp,
                    &Json(&task.history),
                    &Json(&task.metadata),
                ],
            )
            .await
            .unwrap();
    }
    // A queued run and cancel, and a pause whose receiver died holding it.
    let run =
        TaskOperation::run(TaskSendParams::new(tasks[0].id, context_id, Some(tasks[0].history[0].clone())));
    let cancel = TaskOperation::cancel(TaskIdParams::new(tasks[1].id));
    let pause = TaskOperation::pause(TaskIdParams::new(tasks[2].id));
    for operation in [&run, &cancel] {
        client
            .execute(
                "INSERT INTO operations (id, task_id, payload) VALUES ($1, $2, $3)",
                &[operation.id.as_uuid(), &operation.action.task_id().0, &Json(operation)],
            )
            .await
            .unwrap();
    }
    client
        .execute(
            "INSERT INTO operations (id, task_id, payload, state, deliveries, leased_by, lease_until)
             VALUES ($1, $2, $3, 'leased', 1, 'gone', now() - interval '1 minute')",
            &[pause.id.as_uuid(), &pause.action.task_id().0, &Json(&pause)],
        )
        .await
        .unwrap();

    // The new release connects.
    let storage = PostgresStorage::connect_with(options.clone()).await.unwrap();
    let scheduler = PostgresScheduler::connect_with(PostgresSchedulerOptions::new(options)).await.unwrap();
    assert_all_migrations_recorded(&client, &schema).await;

    for task in &tasks {
        assert_eq!(storage.load_task(task.id, None).await.unwrap().as_ref(), Some(task), "kept as it was");
    }
    let stuck: Vec<(TaskId, StuckReason)> = storage
        .stuck_tasks(Duration::from_secs(60), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|stuck| (stuck.task_id, stuck.reason))
        .collect();
    assert_eq!(stuck, [(tasks[0].id, StuckReason::Waiting), (tasks[1].id, StuckReason::LeaseExpired)]);
    let takeover = ClaimRequest::new(OperationId::new(), Duration::from_secs(30));
    match storage.claim_task(tasks[1].id, &takeover).await.unwrap() {
        ClaimOutcome::Claimed { takeover, task } => {
            assert!(takeover, "an orphaned working task is taken over");
            assert_eq!(task.history, tasks[1].history);
        }
        other => panic!("{other:?}"),
    }

    let wait = Duration::from_secs(10);
    let mut control = scheduler.receive(Lanes::Control).await.unwrap();
    let all = [run.id, cancel.id, pause.id];
    let mut delivered = Vec::new();
    for _ in 0..2 {
        let delivery = tokio::time::timeout(wait, control.next()).await.unwrap().unwrap().unwrap();
        assert!(all.contains(&delivery.operation().id));
        delivered.push((delivery.operation().clone(), delivery.delivery_count()));
        delivery.ack().await.unwrap();
    }
    delivered.sort_by_key(|(operation, _)| operation.id != cancel.id);
    assert_eq!(delivered, [(cancel.clone(), 1), (pause.clone(), 2)], "control on the control lane");
    let mut runs = scheduler.receive(Lanes::Runs).await.unwrap();
    let delivery = tokio::time::timeout(wait, runs.next()).await.unwrap().unwrap().unwrap();
    assert_eq!((delivery.operation(), delivery.delivery_count()), (&run, 1));
    delivery.ack().await.unwrap();
}

/// The previous release (schema version 4) kept a task's history and artifacts as JSON arrays in
/// its row. Connecting the new release moves them to rows (migration 0005) in place: every
/// message and artifact is kept, in order; the end of the history is read without the rest;
/// appends continue after the last position; old ids still make replays duplicates. The old
/// release, meeting version 5, refuses the schema (its check, kept by this one, is the 9999 case
/// of `migrations_are_idempotent_and_safe_when_processes_start_at_once`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_histories_of_the_previous_release_become_rows() {
    let server = PostgresServer::shared();
    let options = server.options();
    let (client, schema) = schema_of_release(&server, &options, 4).await;

    // As the previous release wrote them: a 300-message conversation with artifacts, a task
    // with one message, and a task with none (a row written by hand).
    let context_id = ContextId::new();
    client.execute("INSERT INTO contexts (id) VALUES ($1)", &[&context_id.0]).await.unwrap();
    let old = |turns: usize, artifacts: usize| {
        let task_id = TaskId::new();
        let history: Vec<Message> = (0..turns)
            .map(|turn| {
                let message = if turn % 2 == 0 {
                    Message::user_text(format!("question {turn}"))
                } else {
                    Message::agent_text(format!("answer {turn}"))
                };
                message.for_task(task_id).stamped_for_submit(context_id).unwrap().1
            })
            .collect();
        let artifacts = (0..artifacts)
            .map(|i| bindu::Artifact::new(format!("part {i}"), vec![bindu::Part::text("…")]))
            .collect();
        let timestamp = DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap();
        Task {
            id: task_id,
            context_id,
            status: TaskStatus { state: TaskState::InputRequired, timestamp, message: None },
            artifacts,
            history,
            metadata: bindu::Metadata::new(),
        }
    };
    let tasks = [old(300, 4), old(1, 0), old(0, 0)];
    // And one holding an artifact id twice (which that release never wrote): the first is kept,
    // and its position stays a gap.
    let mut repeated = old(2, 3);
    repeated.artifacts[1].artifact_id = repeated.artifacts[0].artifact_id;
    for task in tasks.iter().chain([&repeated]) {
        client
            .execute(
                "INSERT INTO tasks (id, context_id, state, state_timestamp, history, artifacts, metadata)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &task.id.0,
                    &context_id.0,
                    &task.status.state.as_str(),
                    &task.status.timestamp,
                    &Json(&task.history),
                    &Json(&task.artifacts),
                    &Json(&task.metadata),
                ],
            )
            .await
            .unwrap();
    }

    let storage = PostgresStorage::connect_with(options.clone()).await.unwrap();
    assert_all_migrations_recorded(&client, &schema).await;
    let rows: i64 = client
        .query_one(&format!("SELECT count(*) FROM \"{schema}\".task_messages"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 303, "every message is a row");
    for task in &tasks {
        assert_eq!(storage.load_task(task.id, None).await.unwrap().as_ref(), Some(task), "kept, in order");
    }
    let long = &tasks[0];
    let last = storage.load_task(long.id, Some(2)).await.unwrap().unwrap();
    assert_eq!(last.history, long.history[298..]);
    assert_eq!(last.artifacts, long.artifacts);

    // Old ids still deduplicate; a new message lands after the last old one.
    let resent = storage.submit_task(context_id, &long.history[10], None).await.unwrap();
    assert_eq!(resent.outcome, bindu::SubmitOutcome::Duplicate);
    let replay = bindu::TaskUpdate::to(TaskState::Working)
        .with_message(long.history[41].clone())
        .with_artifact(long.artifacts[1].clone());
    storage.update_task(long.id, &replay).await.unwrap();
    let next = Message::user_text("after the upgrade").for_task(long.id);
    let continued = storage.submit_task(context_id, &next, None).await.unwrap();
    assert_eq!(continued.outcome, bindu::SubmitOutcome::Continued);
    let full = storage.load_task(long.id, None).await.unwrap().unwrap();
    assert_eq!(full.history.len(), 301);
    assert_eq!(full.history[..300], long.history[..]);
    assert_eq!(full.history[300].message_id, next.message_id);
    assert_eq!(full.artifacts, long.artifacts, "no artifact twice");
    let empty = Message::user_text("first words").for_task(tasks[2].id);
    storage.submit_task(context_id, &empty, None).await.unwrap();
    assert_eq!(storage.load_task(tasks[2].id, None).await.unwrap().unwrap().history.len(), 1);

    // The old columns are gone: an old release that skipped the version check could not
    // silently read an empty history.
    let columns: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.columns
             WHERE table_schema = $1 AND table_name = 'tasks' AND column_name IN ('history', 'artifacts')",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(columns, 0);

    // Past the gap, a new artifact is stored after the kept ones.
    let kept = [repeated.artifacts[0].clone(), repeated.artifacts[2].clone()];
    assert_eq!(storage.load_task(repeated.id, None).await.unwrap().unwrap().artifacts, kept);
    let more = bindu::Artifact::new("after the upgrade", vec![bindu::Part::text("…")]);
    let update = bindu::TaskUpdate::to(TaskState::Working).with_artifact(more.clone());
    assert_eq!(
        storage.update_task(repeated.id, &update).await.unwrap().artifacts,
        [&kept[..], &[more]].concat()
    );
    assert_eq!(storage.load_task(repeated.id, None).await.unwrap().unwrap().artifacts.len(), 3);
}
