//! PostgresStorage against a real server: the conformance suite (plain, under `Retrying`, through
//! `Arc<dyn Storage>`), migrations, and hostile input. Each test gets a fresh schema.
#![cfg(feature = "postgres")]

use std::sync::Arc;

use bindu::conformance::storage;
use bindu::postgres::{LATEST_VERSION, PostgresStorage};
use bindu::testing::PostgresServer;
use bindu::{ContextId, Error, Message, RetryPolicy, Retrying, Storage, TaskId};

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
    let versions: Vec<i32> = client
        .query(&format!("SELECT version FROM {schema}.bindu_schema_migrations ORDER BY version"), &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(versions, (1..=LATEST_VERSION).collect::<Vec<_>>());
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
    assert!(matches!(err, Error::Invalid { what: "text", .. }), "{err:?}");
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
