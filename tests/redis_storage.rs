//! RedisStorage against a real redis-server: the conformance suite (plain, under `Retrying`,
//! through `Arc<dyn Storage>`), isolation by prefix, a restart while writes go on, records that
//! cannot be read, and data written by the release before claims and lanes (with its scheduler).
#![cfg(feature = "redis")]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bindu::conformance::scheduler::next_for;
use bindu::conformance::storage;
use bindu::conformance::within;
use bindu::redis::{RedisScheduler, RedisStorage};
use bindu::{
    Artifact, ClaimOutcome, ClaimRequest, ContextId, Error, Lanes, Message, OperationId, Page, Part,
    RetryPolicy, Retrying, Scheduler, Storage, StuckReason, SubmitOutcome, Task, TaskId, TaskIdParams,
    TaskOperation, TaskSendParams, TaskState, TaskStatus, TaskUpdate, Transience,
};
use bindu_test_support::{RedisServer, RedisServerOptions};
use chrono::{TimeDelta, Utc};
use deadpool_redis::redis::{self, aio::MultiplexedConnection};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_plain_retrying_and_arc_dyn() {
    let server = RedisServer::start();
    storage::run_all(&RedisStorage::connect_with(server.quick_options()).await.unwrap()).await;
    let retrying = Retrying::with_policy(
        RedisStorage::connect_with(server.quick_options()).await.unwrap(),
        RetryPolicy::STORAGE,
    );
    storage::run_all(&retrying).await;
    let shared: Arc<dyn Storage> =
        Arc::new(RedisStorage::connect_with(server.quick_options()).await.unwrap());
    storage::run_all(&shared).await;
    storage::close_makes_later_calls_fail(&shared).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixes_keep_agents_apart() {
    let server = RedisServer::start();
    let a = RedisStorage::connect_with(server.quick_options()).await.unwrap();
    let b = RedisStorage::connect_with(server.quick_options()).await.unwrap();
    let message = Message::user_text("mine").for_task(TaskId::new());
    a.submit_task(ContextId::new(), &message, None).await.unwrap();
    b.clear_all().await.unwrap();
    assert_eq!(a.count_tasks(None).await.unwrap(), 1, "b's clear_all leaves a's keys alone");
    assert_eq!(b.count_tasks(None).await.unwrap(), 0);
    assert!(b.load_task(message.task_id.unwrap(), None).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_loses_nothing_and_duplicates_nothing() {
    let server = RedisServer::spawn(RedisServerOptions { persistent: true, password: None });
    let storage = Arc::new(Retrying::with_policy(
        RedisStorage::connect_with(server.quick_options()).await.unwrap(),
        RetryPolicy::new(40, Duration::from_millis(50), Duration::from_millis(300)),
    ));
    let stream = {
        let storage = Arc::clone(&storage);
        tokio::spawn(async move {
            let mut done = Vec::new();
            for i in 0..60 {
                let message = Message::user_text(format!("question {i}")).for_task(TaskId::new());
                let task = storage.submit_task(ContextId::new(), &message, None).await.expect("submit").task;
                let update = TaskUpdate::to(TaskState::Completed)
                    .with_message(Message::agent_text(format!("answer {i}")));
                storage.update_task(task.id, &update).await.expect("update");
                done.push((task.id, message.message_id, Instant::now()));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            done
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.restart();
    let accepting = Instant::now();
    let done = tokio::time::timeout(Duration::from_secs(90), stream).await.unwrap().unwrap();
    let recovery = done.iter().map(|(_, _, at)| *at).find(|at| *at >= accepting).map(|at| at - accepting);
    println!("redis storage: restarted → first completed operation after {recovery:?}");
    assert_eq!(done.len(), 60);
    for (task_id, message_id, _) in done {
        let task =
            storage.load_task(task_id, None).await.unwrap().expect("every acknowledged write is stored");
        assert_eq!(task.status.state, TaskState::Completed);
        assert_eq!(task.history.len(), 2, "no duplicate history entries");
        assert_eq!(task.history[0].message_id, message_id);
    }
    assert_eq!(storage.count_tasks(Some(TaskState::Completed)).await.unwrap(), 60);
}

async fn raw(url: &str) -> MultiplexedConnection {
    let client = redis::Client::open(url).unwrap();
    within("connect", client.get_multiplexed_async_connection()).await.unwrap()
}

#[tokio::test]
async fn a_record_that_cannot_be_read_breaks_no_other_read() {
    let server = RedisServer::start();
    let options = server.quick_options();
    let storage = RedisStorage::connect_with(options.clone()).await.unwrap();
    let context_id = ContextId::new();
    let mut good = Vec::new();
    for text in ["one", "two"] {
        let message = Message::user_text(text).for_task(TaskId::new());
        good.push(storage.submit_task(context_id, &message, None).await.unwrap().task.id);
    }
    // A third task of the context whose value is not a task any more.
    let broken = TaskId::new();
    let tag = format!("{{{}}}:store", options.prefix);
    let mut con = raw(server.url()).await;
    let () = redis::pipe()
        .set(format!("{tag}:task:{broken}"), "{not json")
        .ignore()
        .zadd(format!("{tag}:tasks"), broken.to_string(), 99)
        .ignore()
        .zadd(format!("{tag}:context-tasks:{context_id}"), broken.to_string(), 99)
        .ignore()
        .zadd(format!("{tag}:due"), broken.to_string(), 0)
        .ignore()
        .sadd(format!("{tag}:state:submitted"), broken.to_string())
        .ignore()
        .query_async(&mut con)
        .await
        .unwrap();
    let ids = |tasks: Vec<Task>| tasks.into_iter().map(|task| task.id).collect::<Vec<_>>();
    assert_eq!(ids(storage.list_tasks(Page::ALL, None).await.unwrap()), good);
    assert_eq!(ids(storage.list_tasks_by_context(context_id, Page::ALL, None).await.unwrap()), good);
    let stuck = storage.stuck_tasks(Duration::ZERO, 100).await.unwrap();
    assert_eq!(stuck.iter().map(|s| s.task_id).collect::<Vec<_>>(), good, "{stuck:?}");
    let err = storage.load_task(broken, None).await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "the broken record itself reports why: {err}");
    storage.clear_context(context_id).await.unwrap();
    let exists: bool =
        redis::cmd("EXISTS").arg(format!("{tag}:task:{broken}")).query_async(&mut con).await.unwrap();
    assert!(!exists, "clearing the context removes the broken record too");
    assert_eq!(storage.count_tasks(None).await.unwrap(), 0);
    assert_eq!(storage.count_tasks(Some(TaskState::Submitted)).await.unwrap(), 0);
}

/// A task as the previous release stored it: its JSON with owner and creation number (no claim
/// key, no due set), with its indexes.
fn write_old_task(pipe: &mut redis::Pipeline, tag: &str, task: &Task, seq: u64) {
    let id = task.id.to_string();
    pipe.set(format!("{tag}:task:{id}"), json!({"task": task, "owner": null, "seq": seq}).to_string())
        .ignore();
    pipe.zadd(format!("{tag}:tasks"), &id, seq).ignore();
    pipe.zadd(format!("{tag}:context-tasks:{}", task.context_id), &id, seq).ignore();
    pipe.sadd(format!("{tag}:state:{}", task.status.state), &id).ignore();
    let context = json!({"owner": null, "seq": seq, "data": {}, "messages": []});
    pipe.set(format!("{tag}:context:{}", task.context_id), context.to_string()).ignore();
    pipe.zadd(format!("{tag}:contexts"), task.context_id.to_string(), seq).ignore();
    pipe.set(format!("{tag}:sequence"), seq).ignore();
}

/// An operation as the previous release enqueued it: on the one stream `{prefix}:ops`.
fn write_old_operation(pipe: &mut redis::Pipeline, prefix: &str, operation: &TaskOperation) {
    let mut payload = serde_json::to_value(operation).unwrap();
    payload["v"] = 1.into();
    pipe.cmd("XADD")
        .arg(format!("{{{prefix}}}:ops"))
        .arg("*")
        .arg("id")
        .arg(operation.id.to_string())
        .arg("op")
        .arg(payload.to_string())
        .ignore();
}

fn old_task(state: TaskState, age: TimeDelta) -> Task {
    let (id, context_id) = (TaskId::new(), ContextId::new());
    let mut message = Message::user_text("from the previous release").for_task(id);
    message.context_id = Some(context_id);
    let mut task = Task::submitted(id, context_id, message);
    task.status = TaskStatus { state, timestamp: Utc::now() - age, message: None };
    task
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_of_the_previous_release_is_read_claimed_rescued_and_delivered() {
    let server = RedisServer::start();
    let options = server.quick_scheduler_options();
    let prefix = options.redis.prefix.clone();
    let tag = format!("{{{prefix}}}:store");
    let hour = TimeDelta::hours(1);
    let (waiting, running, finished) = (
        old_task(TaskState::Submitted, hour),
        old_task(TaskState::Working, hour),
        old_task(TaskState::Completed, hour),
    );
    let run = TaskOperation::run(TaskSendParams::new(
        waiting.id,
        waiting.context_id,
        waiting.history.first().cloned(),
    ));
    let cancel = TaskOperation::cancel(TaskIdParams::new(running.id));
    let mut con = raw(server.url()).await;
    let mut pipe = redis::pipe();
    for (seq, task) in [&waiting, &running, &finished].into_iter().enumerate() {
        write_old_task(&mut pipe, &tag, task, seq as u64 + 1);
    }
    pipe.cmd("XGROUP")
        .arg("CREATE")
        .arg(format!("{{{prefix}}}:ops"))
        .arg("workers")
        .arg("0-0")
        .arg("MKSTREAM")
        .ignore();
    write_old_operation(&mut pipe, &prefix, &run);
    write_old_operation(&mut pipe, &prefix, &cancel);
    let () = pipe.query_async(&mut con).await.unwrap();

    // Two processes of the new release start at once: one migrates, the other waits for it.
    let (a, b) = tokio::join!(
        RedisStorage::connect_with(options.redis.clone()),
        RedisStorage::connect_with(options.redis.clone())
    );
    let (storage, _other) = (a.unwrap(), b.unwrap());
    let version: String = redis::cmd("GET").arg(format!("{tag}:schema")).query_async(&mut con).await.unwrap();
    assert_eq!(version, "4", "the layout version is written once the data is migrated");

    for task in [&waiting, &running, &finished] {
        assert_eq!(storage.load_task(task.id, None).await.unwrap().as_ref(), Some(task), "read as written");
    }
    assert_eq!(storage.list_tasks(Page::ALL, None).await.unwrap().len(), 3);
    assert_eq!(storage.count_tasks(Some(TaskState::Working)).await.unwrap(), 1);
    let stuck = storage.stuck_tasks(Duration::from_secs(30 * 60), 100).await.unwrap();
    let found: Vec<_> = stuck.iter().map(|s| (s.task_id, s.reason)).collect();
    assert_eq!(found, [(waiting.id, StuckReason::Waiting), (running.id, StuckReason::LeaseExpired)]);
    // The finished task entered the finished set: retention deletes it, and its context with it.
    assert_eq!(storage.prune_tasks(Duration::from_secs(30 * 60), 100).await.unwrap(), 1);
    assert!(storage.load_task(finished.id, None).await.unwrap().is_none());
    assert!(storage.load_context(finished.context_id).await.unwrap().is_none());

    let lease = Duration::from_secs(30);
    match storage.claim_task(waiting.id, &ClaimRequest::new(run.id, lease)).await.unwrap() {
        ClaimOutcome::Claimed { task, takeover } => assert!(!takeover && task.history == waiting.history),
        other => panic!("the waiting task is claimed: {other:?}"),
    }
    let rescue = ClaimRequest::new(OperationId::new(), lease);
    match storage.claim_task(running.id, &rescue).await.unwrap() {
        ClaimOutcome::Claimed { takeover, .. } => {
            assert!(takeover, "a working task without a claim is taken over")
        }
        other => panic!("the abandoned task is taken over: {other:?}"),
    }
    assert!(storage.stuck_tasks(Duration::ZERO, 100).await.unwrap().is_empty(), "both are claimed now");
    let done = TaskUpdate::to(TaskState::Completed).fenced_by(rescue.token);
    assert_eq!(storage.update_task(running.id, &done).await.unwrap().status.state, TaskState::Completed);

    // The old stream is the runs lane: its run, and the cancel enqueued there, are delivered.
    let scheduler = within("connect", RedisScheduler::connect_with(options)).await.unwrap();
    let mut runs = within("open", scheduler.receive(Lanes::Runs)).await.unwrap();
    let wanted: HashSet<TaskId> = [waiting.id, running.id].into();
    let mut delivered = Vec::new();
    for _ in 0..2 {
        let delivery = next_for(&mut runs, &wanted, Duration::from_secs(10)).await;
        assert_eq!(delivery.delivery_count(), 1);
        delivered.push(delivery.operation().clone());
        within("ack", delivery.ack()).await.unwrap();
    }
    assert_eq!(delivered, [run, cancel]);
    assert_eq!(within("backlog", scheduler.backlog()).await.unwrap(), 0);
}

/// Data of layout 2 (claims and the due set, no finished set): its terminal tasks enter the
/// finished set on connect, so that retention finds them; its due set is left as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_tasks_of_layout_2_are_indexed_for_retention() {
    let server = RedisServer::start();
    let options = server.quick_options();
    let tag = format!("{{{}}}:store", options.prefix);
    let hours = TimeDelta::hours(2);
    let (finished, waiting) = (old_task(TaskState::Failed, hours), old_task(TaskState::Submitted, hours));
    let mut con = raw(server.url()).await;
    let mut pipe = redis::pipe();
    write_old_task(&mut pipe, &tag, &finished, 1);
    write_old_task(&mut pipe, &tag, &waiting, 2);
    // Layout 2 scored its due set itself: a score the migration must not touch.
    pipe.zadd(format!("{tag}:due"), waiting.id.to_string(), 42).ignore();
    pipe.set(format!("{tag}:schema"), 2).ignore();
    let () = pipe.query_async(&mut con).await.unwrap();

    let storage = RedisStorage::connect_with(options).await.unwrap();
    let version: String = redis::cmd("GET").arg(format!("{tag}:schema")).query_async(&mut con).await.unwrap();
    assert_eq!(version, "4");
    let due: f64 = redis::cmd("ZSCORE")
        .arg(format!("{tag}:due"))
        .arg(waiting.id.to_string())
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(due, 42.0, "the due set of layout 2 is kept");
    assert_eq!(storage.prune_tasks(Duration::from_secs(3600), 100).await.unwrap(), 1);
    assert!(storage.load_task(finished.id, None).await.unwrap().is_none());
    assert_eq!(storage.load_task(waiting.id, None).await.unwrap().as_ref(), Some(&waiting));
}

/// A task of layout 3: `messages` alternating user and agent messages, `artifacts` artifacts,
/// all in its one JSON string.
fn long_old_task(state: TaskState, messages: usize, artifacts: usize) -> Task {
    let mut task = old_task(state, TimeDelta::minutes(5));
    for i in 1..messages {
        let mut message = if i % 2 == 1 {
            Message::agent_text(format!("answer {i}"))
        } else {
            Message::user_text(format!("question {i}"))
        };
        (message.task_id, message.context_id) = (Some(task.id), Some(task.context_id));
        task.history.push(message);
    }
    task.artifacts = (0..artifacts)
        .map(|i| Artifact::new(format!("result {i}"), vec![Part::text(format!("{i}"))]))
        .collect();
    task
}

fn ids(task: &Task) -> Vec<bindu::MessageId> {
    task.history.iter().map(|m| m.message_id).collect()
}

/// Data of layout 3 (each task one JSON string with its history and artifacts) is split on
/// connect: every message and artifact kept in order, the end of a history read alone, appends
/// continuing at the right position, old message ids still idempotency keys. A task already
/// split (a migration cut short) is left as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_of_layout_3_are_split_into_head_and_conversation() {
    let server = RedisServer::start();
    let options = server.quick_options();
    let tag = format!("{{{}}}:store", options.prefix);
    let mut con = raw(server.url()).await;
    // A task written by this release before the data was put back to layout 3 by hand: already
    // split, as after an interrupted migration.
    let split = {
        let storage = RedisStorage::connect_with(options.clone()).await.unwrap();
        let message = Message::user_text("already split").for_task(TaskId::new());
        let task = storage.submit_task(ContextId::new(), &message, None).await.unwrap().task;
        let update = TaskUpdate::to(TaskState::Working)
            .with_message(Message::agent_text("on it"))
            .with_artifact(Artifact::new("draft", vec![Part::text("x")]));
        storage.update_task(task.id, &update).await.unwrap();
        storage.load_task(task.id, None).await.unwrap().unwrap()
    };
    let (open, done) =
        (long_old_task(TaskState::InputRequired, 7, 3), long_old_task(TaskState::Completed, 4, 2));
    let mut pipe = redis::pipe();
    write_old_task(&mut pipe, &tag, &open, 10);
    write_old_task(&mut pipe, &tag, &done, 11);
    pipe.zadd(format!("{tag}:finished"), done.id.to_string(), done.status.timestamp.timestamp_millis())
        .ignore();
    pipe.set(format!("{tag}:schema"), 3).ignore();
    let () = pipe.query_async(&mut con).await.unwrap();

    let storage = RedisStorage::connect_with(options).await.unwrap();
    let version: String = redis::cmd("GET").arg(format!("{tag}:schema")).query_async(&mut con).await.unwrap();
    assert_eq!(version, "4");
    for task in [&open, &done, &split] {
        assert_eq!(storage.load_task(task.id, None).await.unwrap().as_ref(), Some(task), "kept in order");
        let last = storage.load_task(task.id, Some(1)).await.unwrap().unwrap();
        assert_eq!(ids(&last), ids(task)[ids(task).len() - 1..], "the last message alone");
        assert_eq!(last.artifacts, task.artifacts, "artifacts whole");
        let head: String =
            redis::cmd("GET").arg(format!("{tag}:task:{}", task.id)).query_async(&mut con).await.unwrap();
        let head: serde_json::Value = serde_json::from_str(&head).unwrap();
        assert_eq!(head["task"]["history"], json!([]), "the head holds no history");
        assert_eq!(head["task"]["artifacts"], json!([]), "the head holds no artifacts");
        let count: usize = redis::cmd("LLEN")
            .arg(format!("{tag}:messages:{}", task.id))
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(count, task.history.len(), "no message twice");
    }
    assert_eq!(ids(&storage.load_task(open.id, Some(3)).await.unwrap().unwrap()), ids(&open)[4..]);

    // An append continues at position 7; a replay of an old id (older than what the write
    // returns) is recognised and appends nothing.
    let answer = Message::agent_text("answer 7");
    let update = TaskUpdate::to(TaskState::InputRequired)
        .with_message(open.history[1].clone())
        .with_message(answer.clone())
        .with_artifact(open.artifacts[0].clone())
        .with_artifact(Artifact::new("result 3", vec![Part::text("3")]));
    let returned = storage.update_task(open.id, &update).await.unwrap();
    assert_eq!(ids(&returned), [open.history[6].message_id, answer.message_id], "the last two");
    assert_eq!(returned.artifacts.len(), 4);
    let position: usize = redis::cmd("HGET")
        .arg(format!("{tag}:message-ids:{}", open.id))
        .arg(answer.message_id.to_string())
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(position, 7);
    let again = storage.update_task(open.id, &update).await.unwrap();
    assert_eq!(again, returned, "a replayed update changes nothing");
    let submitted = storage.submit_task(open.context_id, &open.history[0], None).await.unwrap();
    assert_eq!(submitted.outcome, SubmitOutcome::Duplicate, "an old message id is still a key");
    assert_eq!(ids(&submitted.task), [answer.message_id], "the last message");
    let mut expected = ids(&open);
    expected.push(answer.message_id);
    let whole = storage.load_task(open.id, None).await.unwrap().unwrap();
    assert_eq!(ids(&whole), expected, "appended once, at the end");
    assert_eq!(whole.artifacts.len(), 4);
    let reply = Message::user_text("question 8").for_task(open.id);
    let continued = storage.submit_task(open.context_id, &reply, None).await.unwrap();
    assert_eq!((continued.outcome, ids(&continued.task)), (SubmitOutcome::Continued, vec![reply.message_id]));
    match storage.claim_task(open.id, &ClaimRequest::new(OperationId::new(), Duration::from_secs(30))).await {
        Ok(ClaimOutcome::Claimed { task, .. }) => assert_eq!(task.history.len(), 9, "a claim gets it all"),
        other => panic!("claimable: {other:?}"),
    }

    // Retention deletes the conversation with its task.
    assert_eq!(storage.prune_tasks(Duration::ZERO, 100).await.unwrap(), 1);
    for key in ["task", "messages", "message-ids", "artifacts"] {
        let exists: bool =
            redis::cmd("EXISTS").arg(format!("{tag}:{key}:{}", done.id)).query_async(&mut con).await.unwrap();
        assert!(!exists, "{key} of the pruned task");
    }
    storage.clear_context(open.context_id).await.unwrap();
    for key in ["task", "messages", "message-ids", "artifacts"] {
        let exists: bool =
            redis::cmd("EXISTS").arg(format!("{tag}:{key}:{}", open.id)).query_async(&mut con).await.unwrap();
        assert!(!exists, "{key} of the cleared task");
    }
}

/// Data of a layout newer than this release's is refused, permanently, naming both layouts.
#[tokio::test]
async fn a_newer_layout_is_refused() {
    let server = RedisServer::start();
    let options = server.quick_options();
    let mut con = raw(server.url()).await;
    let () = redis::cmd("SET")
        .arg(format!("{{{}}}:store:schema", options.prefix))
        .arg(5)
        .query_async(&mut con)
        .await
        .unwrap();
    let err = RedisStorage::connect_with(options).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("layout 5") && text.contains("layout 4"), "{text}");
    assert_eq!(err.transience(), Transience::Permanent, "{err:?}");
}
