//! The incidents, each staged, seen and fixed with `bindu-admin`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bindu::notify::{NotifierOptions, WebhookNotifier};
use bindu::postgres::{PostgresOptions, PostgresScheduler, PostgresSchedulerOptions};
use bindu::redis::RedisScheduler;
use bindu::worker::TaskListener;
use bindu::{
    ContextId, Lanes, Message, PushNotificationConfig, RetryPolicy, Role, Scheduler, SchedulerExt, Storage,
    Task, TaskId, TaskSendParams, TaskState, TaskUpdate,
};
use bindu_test_support::{PostgresServer, RedisServer, RedisServerOptions};
use futures_util::StreamExt;
use serde_json::Value;

use crate::admin::{Deployment, eventually};
use crate::webhook::Webhook;
use crate::worker::{self, WorkerProcess};

const LIMIT: Duration = Duration::from_secs(60);

/// Submits a task and schedules its run, as a server does.
async fn submit(storage: &dyn Storage, scheduler: &dyn Scheduler, text: &str) -> Task {
    let message = Message::user_text(text).for_task(TaskId::new());
    let task = storage.submit_task(ContextId::new(), &message, None).await.unwrap().task;
    scheduler.run_task(&TaskSendParams::new(task.id, task.context_id, Some(message))).await.unwrap();
    task
}

async fn wait_for(storage: &dyn Storage, task: TaskId, state: TaskState) -> Task {
    let mut seen = None;
    let reached = tokio::time::timeout(LIMIT, async {
        loop {
            let task = storage.load_task(task, None).await.unwrap().unwrap();
            if task.status.state == state {
                return task;
            }
            seen = Some(task.status.state);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    reached.unwrap_or_else(|_| panic!("{task} never reached {state} (last {seen:?})"))
}

/// The entries of a `--json` list.
fn entries<'v>(value: &'v Value, list: &str) -> &'v Vec<Value> {
    value[list].as_array().unwrap_or_else(|| panic!("no {list} in {value}"))
}

/// A scheduler on `deployment`'s queue that redelivers fast: its receivers play workers that
/// crash on every delivery.
async fn crashing_receivers(deployment: &Deployment, postgres: &PostgresServer) -> Arc<dyn Scheduler> {
    let vars = &deployment.vars;
    if vars["SCHEDULER_TYPE"] == "redis" {
        let mut options = RedisServer::quick_scheduler_options_for(&vars["REDIS_URL"]);
        options.redis = options.redis.with_prefix(vars["REDIS_KEY_PREFIX"].clone());
        Arc::new(RedisScheduler::connect_with(options).await.unwrap())
    } else {
        let schema = vars["DATABASE_SCHEMA"].clone();
        let mut options = PostgresSchedulerOptions::new(
            PostgresOptions::from_url(postgres.url()).unwrap().in_schema(schema),
        );
        options.lease = Duration::from_millis(500);
        options.poll_interval = Duration::from_millis(100);
        options.max_deliveries = 3;
        Arc::new(PostgresScheduler::connect_with(options).await.unwrap())
    }
}

async fn a_poisoned_run_is_listed_replayed_and_completes(scheduler: &str) {
    let (postgres, redis) = (PostgresServer::shared(), RedisServer::start());
    let deployment = Deployment::new(&postgres, &redis, scheduler);
    let app = deployment.app().await;
    let task = submit(&*app.storage, &*app.scheduler, "summarise the incident").await;

    // Every worker that receives the run crashes: it is delivered past the limit, then buried.
    let crashing = crashing_receivers(&deployment, &postgres).await;
    let mut deliveries = crashing.receive(Lanes::Runs).await.unwrap();
    let crashes = tokio::spawn(async move {
        while let Some(delivery) = deliveries.next().await {
            drop(delivery);
        }
    });
    let list = || deployment.admin_json(&["dead-letters", "list"]);
    eventually("the run is dead-lettered", LIMIT, || !entries(&list().1, "dead_letters").is_empty()).await;
    crashes.abort();
    crashing.close().await.unwrap();

    let listed = deployment.admin(&["dead-letters", "list"]);
    assert_eq!(listed.code, 1, "dead letters need attention");
    assert!(listed.stdout.contains(&task.id.to_string()) && listed.stdout.contains("not settled after"));
    let (code, dead) = list();
    assert_eq!(code, 1);
    let dead = &entries(&dead, "dead_letters")[0];
    assert_eq!(
        (dead["operation"].as_str(), dead["task_id"].as_str()),
        (Some("run"), Some(&*task.id.to_string()))
    );
    assert!(dead["deliveries"].as_u64().unwrap() >= 3, "{dead}");
    let id = dead["id"].as_str().unwrap();
    assert_eq!(deployment.admin(&["health"]).code, 0);

    assert_eq!(deployment.admin(&["dead-letters", "replay", id]).code, 0);
    assert_eq!(deployment.admin(&["dead-letters", "replay", id]).code, 1, "replayed once");
    let (worker, calls) = worker::counting(&app);
    let done = wait_for(&*app.storage, task.id, TaskState::Completed).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(done.history.iter().filter(|message| message.role == Role::Agent).count(), 1);
    assert_eq!(deployment.admin(&["dead-letters", "list"]).code, 0, "nothing left");
    worker.shutdown(Duration::from_secs(5)).await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poisoned_run_on_redis_is_listed_replayed_and_completes() {
    a_poisoned_run_is_listed_replayed_and_completes("redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poisoned_run_on_postgres_is_listed_replayed_and_completes() {
    a_poisoned_run_is_listed_replayed_and_completes("postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_run_leaves_a_stuck_task_rescheduled_by_hand() {
    let (postgres, redis) = (PostgresServer::shared(), RedisServer::start());
    let deployment =
        Deployment::new(&postgres, &redis, "redis").with("WORKER_LEASE", "4").with("WORKER_HEARTBEAT", "0.5");
    let app = deployment.app().await;
    let task = submit(&*app.storage, &*app.scheduler, "a long job").await;
    let process = WorkerProcess::spawn(&deployment.vars);
    assert_eq!(process.agent_started(LIMIT), task.id.to_string());
    process.kill();

    // Its claim holds until its lease runs out: not stuck yet.
    let stuck = || deployment.admin_json(&["tasks", "stuck", "--older-than", "0"]);
    let (code, now) = stuck();
    assert_eq!((code, entries(&now, "stuck").len()), (0, 0), "within its lease: {now}");
    eventually("the task is stuck once its lease ran out", LIMIT, || stuck().0 == 1).await;
    let (_, listed) = stuck();
    let entry = &entries(&listed, "stuck")[0];
    assert_eq!(
        (entry["task_id"].as_str(), entry["reason"].as_str()),
        (Some(&*task.id.to_string()), Some("lease_expired"))
    );
    assert_eq!(deployment.admin(&["tasks", "stuck", "--older-than", "0"]).code, 1);

    let rescheduled = deployment.admin(&["tasks", "reschedule", "--older-than", "0", &task.id.to_string()]);
    assert_eq!(rescheduled.code, 0);
    let (worker, calls) = worker::counting(&app);
    let done = wait_for(&*app.storage, task.id, TaskState::Completed).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the agent ran once");
    assert_eq!(done.history.iter().filter(|message| message.role == Role::Agent).count(), 1);
    assert_eq!(deployment.admin(&["tasks", "stuck", "--older-than", "0"]).code, 0);
    worker.shutdown(Duration::from_secs(5)).await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_webhook_is_listed_and_redelivered_under_its_key() {
    let (postgres, redis) = (PostgresServer::shared(), RedisServer::start());
    let deployment = Deployment::new(&postgres, &redis, "redis");
    let app = deployment.app().await;
    let webhook = Webhook::start(vec![503, 503]).await;
    let message = Message::user_text("tell me when done").for_task(TaskId::new());
    let task = app.storage.submit_task(ContextId::new(), &message, None).await.unwrap().task;
    let mut config = PushNotificationConfig::new(webhook.url.clone());
    config.token = Some("webhook-t0ken".into());
    app.storage.save_webhook_config(task.id, &config).await.unwrap();
    let options = NotifierOptions {
        retry: RetryPolicy::new(2, Duration::from_millis(10), Duration::from_millis(20)),
        ..NotifierOptions::from_settings(&deployment.settings())
    };
    let notifier = WebhookNotifier::new(app.storage.clone(), options).unwrap();
    let done = app.storage.update_task(task.id, &TaskUpdate::to(TaskState::Completed)).await.unwrap();
    notifier.task_changed(&done);
    assert!(notifier.flush(LIMIT).await);
    assert_eq!(webhook.received().len(), 2, "503 twice: given up");

    let failed = deployment.admin(&["webhooks", "failed"]);
    assert_eq!(failed.code, 1);
    assert!(!failed.stdout.contains("webhook-t0ken") && !failed.stdout.contains("/hook"), "host only");
    let (_, listed) = deployment.admin_json(&["webhooks", "failed"]);
    let entry = &entries(&listed, "failed_notifications")[0];
    assert_eq!((entry["reason"].as_str(), entry["attempts"].as_u64()), (Some("exhausted"), Some(2)));
    let id = entry["notification_id"].as_str().unwrap().to_owned();

    assert_eq!(deployment.admin(&["webhooks", "redeliver", &id]).code, 0);
    let received = webhook.received();
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|request| request.key == id), "one idempotency key");
    assert_eq!(received[2].body, received[0].body, "the same notification");
    assert_eq!(deployment.admin(&["webhooks", "failed"]).code, 0);
    assert_eq!(deployment.admin(&["webhooks", "redeliver", &id]).code, 1, "nothing left to redeliver");
    assert_eq!(deployment.admin(&["prune"]).code, 0);
    notifier.shutdown(Duration::from_secs(1)).await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_names_a_server_that_is_down() {
    let postgres = PostgresServer::shared();
    let redis = RedisServer::spawn(RedisServerOptions {
        password: Some("e2e-redis-pw".into()),
        ..Default::default()
    });
    let deployment = Deployment::new(&postgres, &redis, "redis");
    let (code, health) = deployment.admin_json(&["health"]);
    assert_eq!((code, health["healthy"].as_bool()), (0, Some(true)), "{health}");
    assert_eq!(health["queue"]["dead_letters"].as_u64(), Some(0));

    redis.kill();
    let down = deployment.admin(&["health"]);
    assert_eq!(down.code, 3, "a backend is unreachable");
    assert!(down.stdout.contains("UNHEALTHY: scheduler (redis at redis://"), "{}", down.stdout);
    let (code, health) = deployment.admin_json(&["health"]);
    assert_eq!(code, 3);
    assert_eq!(
        (health["storage"]["up"].as_bool(), health["scheduler"]["up"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(
        health["scheduler"]["error"].as_str().unwrap().starts_with("REDIS_URL: cannot connect to redis://")
    );
}

#[tokio::test]
async fn what_the_tool_cannot_reach_is_a_usage_error() {
    let (postgres, redis) = (PostgresServer::shared(), RedisServer::start());
    let deployment = Deployment::new(&postgres, &redis, "memory");
    let memory = deployment.admin(&["dead-letters", "list"]);
    assert_eq!(memory.code, 2);
    assert!(memory.stderr.contains("SCHEDULER_TYPE=memory"), "{}", memory.stderr);
    assert_eq!(deployment.clone().with("SCHEDULER_TYPE", "kafka").admin(&["health"]).code, 2);
    assert_eq!(deployment.admin(&["dead-letters", "replay"]).code, 2, "an id is required");
}
