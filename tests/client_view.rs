//! What A2A clients see when something fails: a short, stable reason in the task's history (and
//! in JSON-RPC errors), never a driver's text, a retry chain or a panic message — those are in
//! the logs, with the task id. Each test captures the logs of its (single-threaded) runtime.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/a2a_server/server/mod.rs"]
mod server;

mod common;

use std::sync::Arc;
use std::time::Duration;

use bindu::testing::{Fault, Faulty};
use bindu::worker::{AgentInput, AgentOutput, FAILURE_KEY, Worker};
use bindu::{
    App, AppSettings, Call, InMemoryScheduler, InMemoryStorage, Message, RetryPolicy, Retrying, Scheduler,
    Storage, Task, TaskId, TaskState, Transience,
};
use common::logs::Captured;
use common::{TestAgent, fast_options, submit, wait_for_state};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(20);

/// Runs one task through a worker with `agent` on `storage`; the task as it ended.
async fn run_one(storage: Arc<dyn Storage>, agent: Arc<TestAgent>, end: TaskState) -> Task {
    let scheduler: Arc<dyn Scheduler> = Arc::new(InMemoryScheduler::new());
    let worker = Worker::new(Arc::clone(&storage), Arc::clone(&scheduler), agent)
        .with_options(fast_options(1))
        .spawn();
    let task = submit(&*storage, &*scheduler, "go").await;
    let done = wait_for_state(&*storage, task.id, end, LIMIT).await;
    worker.shutdown(LIMIT).await;
    done
}

/// The last history message (what the client reads) and the failure reason word.
fn failure_of(task: &Task) -> (String, Option<&str>) {
    let text = task.history.last().map(Message::text).unwrap_or_default();
    (text, task.metadata.get(FAILURE_KEY).and_then(Value::as_str))
}

/// Asserts that the logs hold `detail` on a line naming `task`.
fn assert_logged(logs: &str, task: TaskId, detail: &str) {
    let named = format!("task={task}");
    assert!(
        logs.lines().any(|line| line.contains(&named) && line.contains(detail)),
        "no log line names {named} with {detail:?}:\n{logs}"
    );
}

#[tokio::test]
async fn an_agent_error_carrying_a_storage_retry_chain_stays_in_the_logs() {
    let (captured, _guard) = Captured::install();
    // The agent reads storage of its own, which is down: its error is a whole retry chain.
    let down = Arc::new(Retrying::with_policy(
        Faulty::new(InMemoryStorage::new()),
        RetryPolicy::new(2, Duration::ZERO, Duration::ZERO),
    ));
    down.inner().set_down(true);
    let agent = TestAgent::new(move |input: AgentInput| {
        let down = Arc::clone(&down);
        async move {
            down.load_task(input.task.id, None).await?;
            Ok(AgentOutput::text("unreachable"))
        }
    });
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let task = run_one(storage, agent, TaskState::Failed).await;
    let (text, reason) = failure_of(&task);
    assert_eq!(text, "Task execution failed: the agent reported an error");
    assert_eq!(reason, Some("agent_error"));
    assert_logged(&captured.text(), task.id, "load_task failed after 2 attempts");
    assert_logged(&captured.text(), task.id, "injected transient fault");
}

#[tokio::test]
async fn a_panic_message_stays_in_the_logs() {
    let (captured, _guard) = Captured::install();
    let agent = TestAgent::new(|_: AgentInput| async { panic!("secret state 0x5f3a in the agent") });
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let task = run_one(storage, agent, TaskState::Failed).await;
    let (text, reason) = failure_of(&task);
    assert_eq!((text.as_str(), reason), ("Task execution failed: the agent panicked", Some("agent_panic")));
    assert_logged(&captured.text(), task.id, "secret state 0x5f3a");
}

#[tokio::test]
async fn storage_refusing_the_answer_is_a_stable_reason_with_the_detail_logged() {
    let (captured, _guard) = Captured::install();
    let storage = Arc::new(Faulty::new(InMemoryStorage::new()));
    // The answer's write fails for good (a driver error); the failure's write then goes through.
    storage.script(Call::UPDATE_TASK, [Fault::Before(Transience::Permanent)]);
    let task = run_one(storage.clone(), TestAgent::echo(), TaskState::Failed).await;
    let (text, reason) = failure_of(&task);
    assert_eq!(text, "Task execution failed: the agent's answer could not be stored");
    assert_eq!(reason, Some("invalid_result"));
    assert_logged(&captured.text(), task.id, "injected permanent fault before update_task");
}

#[tokio::test]
async fn an_answer_past_the_input_limits_names_what_was_refused_not_why() {
    let storage: Arc<dyn Storage> =
        Arc::new(InMemoryStorage::with_limits(bindu::InputLimits { parts: 1, ..Default::default() }));
    let agent = TestAgent::new(|_: AgentInput| async {
        let parts = vec![bindu::Part::text("a"), bindu::Part::text("b")];
        Ok(AgentOutput::Completed {
            messages: vec![Message::new(bindu::Role::Agent, parts)],
            artifacts: vec![],
        })
    });
    let task = run_one(storage, agent, TaskState::Failed).await;
    let (text, reason) = failure_of(&task);
    assert_eq!(text, "Task execution failed: the agent's answer was refused as an invalid message");
    assert_eq!(reason, Some("invalid_result"));
}

#[tokio::test]
async fn an_agent_that_fails_on_purpose_words_its_own_message() {
    let agent = TestAgent::new(|_: AgentInput| async {
        Ok(AgentOutput::Failed(Message::agent_text("the document is password-protected")))
    });
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let task = run_one(storage, agent, TaskState::Failed).await;
    let (text, reason) = failure_of(&task);
    assert_eq!((text.as_str(), reason), ("the document is password-protected", Some("agent_failed")));
}

/// The A2A example server on a storage that fails as scripted.
struct Harness {
    running: server::Running,
    storage: Arc<Faulty<InMemoryStorage>>,
    http: reqwest::Client,
    url: String,
}

impl Harness {
    async fn start() -> Self {
        let storage = Arc::new(Faulty::new(InMemoryStorage::new()));
        let app =
            App::with_backends(storage.clone(), Arc::new(InMemoryScheduler::new()), AppSettings::default());
        let running = server::start(app, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let url = format!("http://{}/", running.addr);
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        Self { running, storage, http, url }
    }

    async fn call(&self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let response = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        serde_json::from_str(&response.text().await.unwrap()).unwrap()
    }
}

/// The error's message, checked to be a JSON-RPC internal error free of the injected detail.
fn internal_error(answer: &Value) -> &str {
    assert_eq!(answer["error"]["code"], -32603, "{answer}");
    let shown = answer.to_string();
    assert!(!shown.contains("injected") && !shown.contains("faulty"), "detail reached the client: {shown}");
    answer["error"]["message"].as_str().unwrap()
}

#[tokio::test]
async fn an_a2a_request_hitting_a_storage_error_gets_a_stable_reason() {
    let (captured, _guard) = Captured::install();
    let harness = Harness::start().await;
    let task_id = TaskId::new();
    let id = task_id.to_string();

    // Unavailable (transient): worth trying again.
    harness.storage.script(Call::LOAD_TASK, [Fault::Before(Transience::Transient)]);
    let answer = harness.call("GetTask", json!({"id": id})).await;
    assert_eq!(internal_error(&answer), server::service::UNAVAILABLE);
    assert_logged(&captured.text(), task_id, "injected transient fault before load_task");

    // Broken for good (permanent), in both protocol versions.
    harness.storage.script(Call::LOAD_TASK, [Fault::Before(Transience::Permanent)]);
    let answer = harness.call("tasks/get", json!({"id": id})).await;
    assert_eq!(internal_error(&answer), server::service::INTERNAL);
    assert_logged(&captured.text(), task_id, "injected permanent fault before load_task");

    // A message whose submit fails.
    harness.storage.script(Call::SUBMIT_TASK, [Fault::Before(Transience::Permanent)]);
    let message = json!({"messageId": uuid::Uuid::new_v4(), "taskId": id, "role": "ROLE_USER", "parts": [{"text": "hi"}]});
    let answer = harness.call("SendMessage", json!({"message": message})).await;
    assert_eq!(internal_error(&answer), server::service::INTERNAL);
    assert_logged(&captured.text(), task_id, "injected permanent fault before submit_task");
    harness.running.stop().await;
}
