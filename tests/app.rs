//! App wiring on the default (in-memory) backends.

mod common;

use std::time::Duration;

use bindu::settings::Env;
use bindu::{App, AppSettings, TaskState};
use common::{TestAgent, submit, wait_for_state};

#[tokio::test]
async fn the_default_app_runs_tasks_in_memory() {
    let app = App::connect(&AppSettings::default()).await.unwrap();
    let worker = app.worker(TestAgent::echo()).spawn();
    let task = submit(&*app.storage, &*app.scheduler, "hello app").await;
    let done = wait_for_state(&*app.storage, task.id, TaskState::Completed, Duration::from_secs(10)).await;
    assert_eq!(done.history[1].text(), "HELLO APP");
    worker.shutdown(Duration::from_secs(5)).await;
    app.close().await;
}

#[tokio::test]
async fn a_backend_without_its_feature_is_a_clear_error() {
    let lookup = |name: &str| match name {
        "STORAGE_TYPE" => Some("postgres".to_owned()),
        "DATABASE_URL" => Some("postgres://u:hunter2@127.0.0.1:1/db".to_owned()),
        _ => None,
    };
    let settings = AppSettings::from(&Env::from_lookup(lookup)).unwrap();
    let result = App::connect(&settings).await;
    if cfg!(feature = "postgres") {
        // Built with PostgreSQL: port 1 refuses, and the error names the setting, not the password.
        let mut settings = settings;
        settings.retry.storage = bindu::RetryPolicy::new(2, Duration::ZERO, Duration::ZERO);
        let err = App::connect(&settings).await.unwrap_err().to_string();
        assert!(err.starts_with("DATABASE_URL: cannot connect to postgres://u:***@127.0.0.1:1/db"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    } else {
        let err = result.unwrap_err().to_string();
        assert_eq!(err, "STORAGE_TYPE: postgres needs bindu built with the `postgres` feature");
    }
}
