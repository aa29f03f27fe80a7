//! PostgresScheduler against a real server: conformance, transactional enqueue whatever the
//! caller's `search_path`, poison messages, a long schema name, and a killed and restarted server.
#![cfg(feature = "postgres")]

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bindu::conformance::scheduler::{self, Expectations, next_for};
use bindu::postgres::{PostgresScheduler, PostgresSchedulerOptions, PostgresStorage};
use bindu::{
    Action, ClaimOutcome, ClaimRequest, ContextId, Hold, Lanes, Message, OperationId, Page, RetryPolicy,
    Retrying, Scheduler, SchedulerExt, Storage, TaskId, TaskOperation, TaskSendParams, TaskState, TaskUpdate,
};
use bindu_test_support::PostgresServer;
use futures_util::StreamExt;

const EXPECT: Expectations = Expectations {
    redelivery_within: Duration::from_millis(1500),
    max_deliveries: 3,
    quiet_period: Duration::from_millis(300),
    idle_takeover: true,
};

fn options(server: &PostgresServer) -> PostgresSchedulerOptions {
    let mut options = PostgresSchedulerOptions::new(server.options());
    options.lease = Duration::from_secs(1);
    options.poll_interval = Duration::from_millis(200);
    options.max_deliveries = EXPECT.max_deliveries;
    options
}

fn run_params(task_id: TaskId) -> TaskSendParams {
    TaskSendParams::new(task_id, ContextId::new(), Some(Message::user_text("go").for_task(task_id)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_plain_retrying_and_arc_dyn() {
    let server = PostgresServer::shared();
    scheduler::run_all(&PostgresScheduler::connect_with(options(&server)).await.unwrap(), EXPECT).await;
    let retrying = Retrying::with_policy(
        PostgresScheduler::connect_with(options(&server)).await.unwrap(),
        RetryPolicy::SCHEDULER,
    );
    scheduler::run_all(&retrying, EXPECT).await;
    let shared: Arc<dyn Scheduler> =
        Arc::new(PostgresScheduler::connect_with(options(&server)).await.unwrap());
    scheduler::run_all(&shared, EXPECT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_ends_streams_and_later_calls() {
    let server = PostgresServer::shared();
    let scheduler = PostgresScheduler::connect_with(options(&server)).await.unwrap();
    scheduler::close_ends_streams_and_later_calls(&scheduler).await;
    let retrying = Retrying::new(PostgresScheduler::connect_with(options(&server)).await.unwrap());
    scheduler::close_ends_streams_and_later_calls(&retrying).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueue_joins_the_callers_transaction() {
    let server = PostgresServer::shared();
    let scheduler = PostgresScheduler::connect_with(options(&server)).await.unwrap();
    let mut stream = scheduler.receive_task_operations().await.unwrap();
    let (rolled_back, committed) = (TaskId::new(), TaskId::new());
    let mut client = scheduler.pool().get().await.unwrap();
    for (task_id, commit) in [(rolled_back, false), (committed, true)] {
        let tx = client.transaction().await.unwrap();
        let operation = TaskOperation::new(OperationId::new(), Action::Run(run_params(task_id)));
        scheduler.enqueue_in(&tx, &operation).await.unwrap();
        if commit { tx.commit().await.unwrap() } else { tx.rollback().await.unwrap() }
    }
    let wanted: HashSet<TaskId> = [rolled_back, committed].into();
    let delivery = next_for(&mut stream, &wanted, Duration::from_secs(10)).await;
    assert_eq!(delivery.operation().action.task_id(), committed);
    delivery.ack().await.unwrap();
    scheduler::assert_quiet(&mut stream, &wanted, Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueue_lands_in_the_schedulers_schema_whatever_the_callers_search_path() {
    let server = PostgresServer::shared();
    let scheduler = PostgresScheduler::connect_with(options(&server)).await.unwrap();
    // Another agent's schema, with a queue of its own: the caller's connection points there.
    let elsewhere = PostgresScheduler::connect_with(options(&server)).await.unwrap();
    let client = elsewhere.pool().get().await.unwrap();
    let task_id = TaskId::new();
    scheduler.enqueue_in(&client, &TaskOperation::run(run_params(task_id))).await.unwrap();
    let queued: i64 = client.query_one("SELECT count(*) FROM operations", &[]).await.unwrap().get(0);
    assert_eq!(queued, 0, "nothing went to the search_path's schema");
    let mut stream = scheduler.receive(Lanes::Runs).await.unwrap();
    let delivery = next_for(&mut stream, &[task_id].into(), Duration::from_secs(10)).await;
    delivery.ack().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sixty_character_schema_works_end_to_end() {
    let server = PostgresServer::shared();
    let schema =
        format!("l{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())[..60].to_owned();
    let storage = PostgresStorage::connect_with(server.options().in_schema(&schema)).await.unwrap();
    let mut options = options(&server);
    options.postgres = options.postgres.in_schema(&schema);
    // Only a notification can deliver within the test's wait: the receiver hardly polls.
    options.poll_interval = Duration::from_secs(120);
    let scheduler = PostgresScheduler::connect_with(options).await.unwrap();
    let mut stream = scheduler.receive(Lanes::Runs).await.unwrap();
    let waiting = tokio::spawn(async move {
        let delivery = tokio::time::timeout(Duration::from_secs(10), stream.next()).await;
        delivery.expect("woken by NOTIFY").unwrap().unwrap()
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let message = Message::user_text("long").for_task(TaskId::new());
    let task = storage.submit_task(ContextId::new(), &message, None).await.unwrap().task;
    let params = TaskSendParams::new(task.id, task.context_id, Some(message));
    let run = scheduler.run_task(&params).await.unwrap();
    let delivery = waiting.await.unwrap();
    assert_eq!(delivery.operation().id, run);
    let claim = ClaimRequest::new(run, Duration::from_secs(30));
    assert!(matches!(storage.claim_task(task.id, &claim).await.unwrap(), ClaimOutcome::Claimed { .. }));
    let answer = TaskUpdate::to(TaskState::Completed).expecting(TaskState::Working).fenced_by(claim.token);
    assert_eq!(storage.update_task(task.id, &answer).await.unwrap().status.state, TaskState::Completed);
    delivery.ack().await.unwrap();
}

/// Asserts that `call`, made while the server is stalled, fails within a few seconds.
async fn times_out<T>(what: &str, call: impl Future<Output = bindu::Result<T>>) {
    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(10), call).await;
    let result = outcome.unwrap_or_else(|_| panic!("{what} hangs on a stalled server"));
    let waited = started.elapsed();
    assert!(result.is_err(), "{what} cannot succeed on a stalled server");
    assert!(waited < Duration::from_secs(4), "{what}: a timeout, not a hang: {waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_calls_time_out_on_a_stalled_server() {
    let mut server = PostgresServer::start();
    let mut options = options(&server);
    options.postgres.request_timeout = Duration::from_secs(1);
    options.postgres.wait_timeout = Duration::from_secs(1);
    options.postgres.connect_timeout = Duration::from_secs(1);
    options.lease = Duration::from_secs(30);
    let scheduler = PostgresScheduler::connect_with(options).await.unwrap();
    let task_id = TaskId::new();
    scheduler.run_task(&run_params(task_id)).await.unwrap();
    let mut stream = scheduler.receive(Lanes::All).await.unwrap();
    let delivery = next_for(&mut stream, &[task_id].into(), Duration::from_secs(10)).await;

    server.pause();
    times_out("keep_alive", delivery.keep_alive()).await;
    times_out("release", delivery.release(Duration::from_millis(10))).await;
    times_out("dead_letter", delivery.dead_letter("stalled")).await;
    times_out("ack", delivery.ack()).await;
    times_out("dead_letters", scheduler.dead_letters(Page::ALL)).await;
    times_out("prune", scheduler.prune(Duration::from_secs(60), 100)).await;
    times_out("enqueue", scheduler.run_task(&run_params(TaskId::new()))).await;
    server.resume();

    // Settled once the server answers again (the lease outlived the stall).
    tokio::time::timeout(Duration::from_secs(30), async {
        while delivery.ack().await.is_err() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the ack goes through after the stall");
    assert_eq!(delivery.keep_alive().await.unwrap(), Hold::Lost, "acknowledged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_is_dead_lettered_and_the_receiver_goes_on() {
    let server = PostgresServer::shared();
    let scheduler = PostgresScheduler::connect_with(options(&server)).await.unwrap();
    let client = scheduler.pool().get().await.unwrap();
    client
        .execute(
            "INSERT INTO operations (id, task_id, payload) VALUES ($1, $2, '{\"operation\": \"explode\"}')",
            &[&uuid::Uuid::new_v4(), &uuid::Uuid::new_v4()],
        )
        .await
        .unwrap();
    let good = TaskId::new();
    scheduler.run_task(&run_params(good)).await.unwrap();
    let mut stream = scheduler.receive_task_operations().await.unwrap();
    let delivery = next_for(&mut stream, &[good].into(), Duration::from_secs(10)).await;
    delivery.ack().await.unwrap();
    let dead = scheduler.dead_letters(Page::ALL).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].operation.is_none() && dead[0].last_error.contains("undecodable"), "{dead:?}");
    // It cannot be replayed (it would only die again), but it can be discarded.
    let refused = scheduler.replay_dead_letter(&dead[0].id).await.unwrap_err();
    assert!(matches!(refused, bindu::Error::Invalid { what: "dead letter", .. }), "{refused:?}");
    assert!(scheduler.discard_dead_letter(&dead[0].id).await.unwrap());
    assert!(scheduler.dead_letters(Page::ALL).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_forgets_acknowledged_operations_past_the_threshold_in_batches() {
    let server = PostgresServer::shared();
    let scheduler = PostgresScheduler::connect_with(options(&server)).await.unwrap();
    let mut stream = scheduler.receive(Lanes::Runs).await.unwrap();
    let tasks: Vec<TaskId> = (0..3).map(|_| TaskId::new()).collect();
    let mut operations = Vec::new();
    for task in &tasks {
        let operation = TaskOperation::run(run_params(*task));
        scheduler.enqueue(&operation).await.unwrap();
        operations.push(operation);
    }
    for _ in &tasks {
        next_for(&mut stream, &tasks.iter().copied().collect(), Duration::from_secs(10))
            .await
            .ack()
            .await
            .unwrap();
    }
    assert_eq!(scheduler.prune(Duration::from_secs(3600), 100).await.unwrap(), 0, "acknowledged just now");
    assert_eq!(scheduler.prune(Duration::ZERO, 2).await.unwrap(), 2, "a batch at most");
    assert_eq!(scheduler.prune(Duration::ZERO, 2).await.unwrap(), 1);
    // Forgotten: enqueueing one of them again delivers it again.
    scheduler.enqueue(&operations[0]).await.unwrap();
    let again = next_for(&mut stream, &[tasks[0]].into(), Duration::from_secs(10)).await;
    assert_eq!(again.operation(), &operations[0]);
    again.ack().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_survive_a_killed_and_restarted_server() {
    let mut server = PostgresServer::start();
    let mut opts = options(&server);
    opts.postgres.request_timeout = Duration::from_secs(2);
    let scheduler = Arc::new(Retrying::with_policy(
        PostgresScheduler::connect_with(opts).await.unwrap(),
        RetryPolicy::new(30, Duration::from_millis(100), Duration::from_millis(500)),
    ));
    let mut stream = scheduler.receive_task_operations().await.unwrap();
    let producer = {
        let scheduler = Arc::clone(&scheduler);
        tokio::spawn(async move {
            let mut enqueued = Vec::new();
            for _ in 0..40 {
                let task_id = TaskId::new();
                let params = run_params(task_id);
                scheduler.run_task(&params).await.expect("enqueue succeeds once the server is back");
                enqueued.push(task_id);
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            enqueued
        })
    };
    let mut received = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut killed = false;
    while received.len() < 40 && Instant::now() < deadline {
        if !killed && received.len() >= 10 {
            server.kill();
            tokio::time::sleep(Duration::from_millis(500)).await;
            server.restart();
            killed = true;
        }
        if let Ok(Some(Ok(delivery))) = tokio::time::timeout(Duration::from_secs(1), stream.next()).await {
            received.insert(delivery.operation().action.task_id());
            let _ = delivery.ack().await; // an ack lost in the crash means a redelivery, not a loss
        }
    }
    let enqueued: HashSet<TaskId> = producer.await.unwrap().into_iter().collect();
    assert!(killed);
    assert_eq!(received, enqueued, "every operation whose enqueue succeeded is received");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batched_claim_takes_the_hint_in_one_statement() {
    let server = PostgresServer::shared();
    let mut options = options(&server);
    options.lease = Duration::from_secs(60);
    let scheduler = PostgresScheduler::connect_with(options).await.unwrap();
    scheduler::a_batched_read_takes_the_hint_at_once(&scheduler).await;
}

/// With both backends on PostgreSQL, `App::submit` commits the task and its run in one
/// transaction: when the run cannot be queued, the task is not stored either; a resend queues
/// nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_submit_commits_the_task_and_its_run_together() {
    let server = PostgresServer::shared();
    let schema = server.options().schema.clone().unwrap();
    let lookup = |name: &str| match name {
        "STORAGE_TYPE" | "SCHEDULER_TYPE" => Some("postgres".to_owned()),
        "DATABASE_URL" => Some(server.url().to_owned()),
        "DATABASE_SCHEMA" => Some(schema.clone()),
        "RETENTION_INTERVAL" => Some("0".to_owned()),
        _ => None,
    };
    let settings = bindu::AppSettings::from(&bindu::settings::Env::from_lookup(lookup)).unwrap();
    let app = bindu::App::connect(&settings).await.unwrap();
    let context_id = ContextId::new();
    let message = Message::user_text("together").for_task(TaskId::new());
    let waiting = async || app.scheduler.stats().await.unwrap().waiting_runs;
    assert_eq!(app.submit(context_id, &message, None).await.unwrap().outcome, bindu::SubmitOutcome::Created);
    assert_eq!(waiting().await, 1);
    assert_eq!(
        app.submit(context_id, &message, None).await.unwrap().outcome,
        bindu::SubmitOutcome::Duplicate
    );
    assert_eq!(waiting().await, 1, "a resend queues nothing twice");

    let (client, connection) = tokio_postgres::connect(server.url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let table = |from: &str, to: &str| format!("ALTER TABLE \"{schema}\".{from} RENAME TO {to}");
    client.batch_execute(&table("operations", "operations_away")).await.unwrap();
    let lost = Message::user_text("no run, no task").for_task(TaskId::new());
    app.submit(context_id, &lost, None).await.expect_err("the run cannot be queued");
    assert!(app.storage.load_task(lost.task_id.unwrap(), None).await.unwrap().is_none(), "rolled back");
    client.batch_execute(&table("operations_away", "operations")).await.unwrap();
    assert_eq!(app.submit(context_id, &lost, None).await.unwrap().outcome, bindu::SubmitOutcome::Created);
    assert_eq!(waiting().await, 2);
    app.close().await;
}

/// `PostgresPipeline` as a `Finisher`: a run's result and the acknowledgement of its delivery
/// commit together. A refused result acknowledges nothing; a replay changes nothing; a delivery
/// whose lease went to another receiver meanwhile is left to that receiver; a delivery of another
/// scheduler is refused without touching the task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_stores_a_result_and_acknowledges_its_run_together() {
    use bindu::memory::InMemoryScheduler;
    use bindu::postgres::PostgresPipeline;
    use bindu::worker::Finisher;

    let server = PostgresServer::shared();
    let storage = Arc::new(PostgresStorage::connect_with(server.options()).await.unwrap());
    let queue_options = options(&server);
    let queue_schema = queue_options.postgres.schema.clone().unwrap();
    let scheduler = Arc::new(PostgresScheduler::connect_with(queue_options).await.unwrap());
    let pipeline = PostgresPipeline::new(Arc::clone(&storage), Arc::clone(&scheduler));
    let in_flight = async || {
        let stats = scheduler.stats().await.unwrap();
        (stats.waiting_runs, stats.in_flight)
    };
    let within = Duration::from_secs(10);
    let message = Message::user_text("finish me").for_task(TaskId::new());
    let task_id = pipeline.submit(ContextId::new(), &message, None).await.unwrap().task.id;
    let mut first = scheduler.receive(Lanes::Runs).await.unwrap();
    let delivery = tokio::time::timeout(within, first.next()).await.unwrap().unwrap().unwrap();
    assert!(pipeline.settles(&delivery));
    let request = ClaimRequest::new(delivery.operation().id, Duration::from_secs(60));
    assert!(matches!(storage.claim_task(task_id, &request).await.unwrap(), ClaimOutcome::Claimed { .. }));

    let stranger = TaskUpdate::to(TaskState::Completed)
        .expecting(TaskState::Working)
        .fenced_by(bindu::ClaimToken::new());
    let refused = pipeline.store_and_ack(task_id, &stranger, &delivery).await.unwrap_err();
    assert!(matches!(refused, bindu::Error::Fenced { .. }), "{refused:?}");
    assert_eq!(in_flight().await, (0, 1), "a refused result acknowledges nothing");

    // The delivery's lease (1 s) lapses and another receiver takes it over.
    let mut second = scheduler.receive(Lanes::Runs).await.unwrap();
    let redelivered = tokio::time::timeout(within, second.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(redelivered.operation().id, delivery.operation().id);

    let answer = TaskUpdate::to(TaskState::Completed)
        .with_message(Message::agent_text("finished"))
        .expecting(TaskState::Working)
        .fenced_by(request.token);
    let task = pipeline.store_and_ack(task_id, &answer, &delivery).await.unwrap();
    assert_eq!(task.status.state, TaskState::Completed);
    assert_eq!(in_flight().await, (0, 1), "the lease of the second receiver is left alone");
    redelivered.ack().await.unwrap();
    assert_eq!(in_flight().await, (0, 0));

    // Now with a delivery that is still held: stored and acknowledged at once, replayable.
    let message = Message::user_text("and me").for_task(TaskId::new());
    let task_id = pipeline.submit(ContextId::new(), &message, None).await.unwrap().task.id;
    let delivery = tokio::time::timeout(within, first.next()).await.unwrap().unwrap().unwrap();
    let request = ClaimRequest::new(delivery.operation().id, Duration::from_secs(60));
    assert!(matches!(storage.claim_task(task_id, &request).await.unwrap(), ClaimOutcome::Claimed { .. }));
    let answer = TaskUpdate::to(TaskState::Completed)
        .with_message(Message::agent_text("finished too"))
        .expecting(TaskState::Working)
        .fenced_by(request.token);
    assert_eq!(
        pipeline.store_and_ack(task_id, &answer, &delivery).await.unwrap().status.state,
        TaskState::Completed
    );
    assert_eq!(in_flight().await, (0, 0), "acknowledged in the result's transaction");
    let replayed = pipeline.store_and_ack(task_id, &answer, &delivery).await.unwrap();
    assert_eq!(replayed.status.state, TaskState::Completed, "a replay finds it applied");
    let stored = storage.load_task(task_id, None).await.unwrap().unwrap();
    assert_eq!(stored.history.len(), 2, "the answer is stored once");
    tokio::time::sleep(EXPECT.redelivery_within).await;
    assert!(
        tokio::time::timeout(EXPECT.quiet_period, first.next()).await.is_err(),
        "an acknowledged run is not delivered again"
    );

    // The acknowledgement fails (the queue's table is gone): the result is not stored either.
    let message = Message::user_text("both or neither").for_task(TaskId::new());
    let task_id = pipeline.submit(ContextId::new(), &message, None).await.unwrap().task.id;
    let delivery = tokio::time::timeout(within, first.next()).await.unwrap().unwrap().unwrap();
    let request = ClaimRequest::new(delivery.operation().id, Duration::from_secs(60));
    assert!(matches!(storage.claim_task(task_id, &request).await.unwrap(), ClaimOutcome::Claimed { .. }));
    let answer = TaskUpdate::to(TaskState::Completed)
        .with_message(Message::agent_text("not without its acknowledgement"))
        .expecting(TaskState::Working)
        .fenced_by(request.token);
    let (client, connection) = tokio_postgres::connect(server.url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let rename = |from: &str, to: &str| format!("ALTER TABLE \"{queue_schema}\".{from} RENAME TO {to}");
    client.batch_execute(&rename("operations", "operations_away")).await.unwrap();
    pipeline
        .store_and_ack(task_id, &answer, &delivery)
        .await
        .expect_err("the acknowledgement cannot be written");
    let stored = storage.load_task(task_id, None).await.unwrap().unwrap();
    assert_eq!((stored.status.state, stored.history.len()), (TaskState::Working, 1), "rolled back with it");
    client.batch_execute(&rename("operations_away", "operations")).await.unwrap();
    pipeline.store_and_ack(task_id, &answer, &delivery).await.unwrap();
    assert_eq!(in_flight().await, (0, 0));

    // A delivery of another scheduler: refused, the task untouched.
    let other = InMemoryScheduler::new();
    let message = Message::user_text("elsewhere").for_task(TaskId::new());
    let task_id = storage.submit_task(ContextId::new(), &message, None).await.unwrap().task.id;
    other.run_task(&run_params(task_id)).await.unwrap();
    let mut foreign = other.receive(Lanes::Runs).await.unwrap();
    let foreign = foreign.next().await.unwrap().unwrap();
    assert!(!pipeline.settles(&foreign));
    let update = TaskUpdate::to(TaskState::Canceled);
    let refused = pipeline.store_and_ack(task_id, &update, &foreign).await.unwrap_err();
    assert!(refused.to_string().contains("delivery"), "{refused}");
    let untouched = storage.load_task(task_id, None).await.unwrap().unwrap();
    assert_eq!(untouched.status.state, TaskState::Submitted);
}
