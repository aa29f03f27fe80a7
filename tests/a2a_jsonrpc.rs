//! The JSON-RPC layer of the A2A server example (`examples/a2a_server`) against malformed and
//! hostile requests: each gets the right JSON-RPC error, naming what is wrong, and changes
//! nothing in storage. The server runs in process on the in-memory backends, over real HTTP.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/a2a_server/server/mod.rs"]
mod server;

use std::time::Duration;

use bindu::{App, AppSettings, Page};
use serde_json::{Value, json};
use uuid::Uuid;

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const TASK_NOT_FOUND: i64 = -32001;
const TASK_NOT_CANCELABLE: i64 = -32002;
const UNSUPPORTED_OPERATION: i64 = -32004;

struct Harness {
    running: server::Running,
    http: reqwest::Client,
    url: String,
}

impl Harness {
    async fn start() -> Self {
        let app = App::connect(&AppSettings::default()).await.unwrap();
        let running = server::start(app, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let url = format!("http://{}/", running.addr);
        // Every request is bounded, so a server that hangs fails the test instead.
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        Self { running, http, url }
    }

    /// POSTs `body` as is; the HTTP status and the JSON answer.
    async fn post(&self, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let response = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}")))
    }

    async fn call(&self, method: &str, params: Value) -> Value {
        let (status, answer) = self
            .post(json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string())
            .await;
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// Asserts that `body` gets error `code` (with HTTP 200) whose message contains `needle`.
    async fn refuses(&self, body: impl Into<reqwest::Body>, code: i64, needle: &str) -> Value {
        let (status, answer) = self.post(body).await;
        assert_eq!(status, 200, "{answer}");
        assert_error(&answer, code, needle);
        answer
    }

    /// Nothing was stored and the agent never ran.
    async fn assert_untouched(&self) {
        let storage = &self.running.app.storage;
        assert_eq!(storage.count_tasks(None).await.unwrap(), 0);
        assert!(storage.list_contexts(Page::ALL, None).await.unwrap().is_empty());
        assert_eq!(self.running.worker_stats().agent_runs, 0);
    }

    async fn stop(self) {
        self.running.stop().await;
    }
}

fn assert_error(answer: &Value, code: i64, needle: &str) {
    assert_eq!(answer["jsonrpc"], "2.0", "{answer}");
    assert!(answer.get("result").is_none(), "{answer}");
    assert_eq!(answer["error"]["code"], code, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains(needle), "{message:?} does not contain {needle:?}");
}

fn message(text: &str) -> Value {
    json!({"messageId": Uuid::new_v4(), "role": "ROLE_USER", "parts": [{"text": text}]})
}

fn send(params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": "req-1", "method": "SendMessage", "params": params}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_json_is_a_parse_error() {
    let harness = Harness::start().await;
    for body in
        ["", "{", "not json", r#"{"jsonrpc": "2.0", "id": 1,"#, "{'jsonrpc': '2.0'}", r#"{"a": "\ud800"}"#]
    {
        let answer = harness.refuses(body, PARSE_ERROR, "parse error").await;
        assert_eq!(answer["id"], Value::Null);
    }
    harness.refuses(vec![0xff, 0xfe, 0x00], PARSE_ERROR, "not valid JSON").await;
    // Nested past serde_json's recursion limit.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    harness.refuses(deep, PARSE_ERROR, "recursion limit").await;
    harness.assert_untouched().await;
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_one_json_object() {
    let harness = Harness::start().await;
    for body in ["42", r#""SendMessage""#, "null", "true"] {
        harness.refuses(body, INVALID_REQUEST, "a request must be a JSON object").await;
    }
    let batch = format!("[{}]", send(json!({"message": message("batched")})));
    harness.refuses(batch, INVALID_REQUEST, "batch requests are not supported").await;
    harness.refuses("[]", INVALID_REQUEST, "batch requests are not supported").await;
    harness.assert_untouched().await;
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_envelope_is_checked() {
    let harness = Harness::start().await;
    let params = json!({"message": message("hello")});
    for version in [json!("1.0"), json!(2.0), json!("2.0 "), Value::Null] {
        let body = json!({"jsonrpc": version, "id": 5, "method": "SendMessage", "params": params});
        let answer = harness.refuses(body.to_string(), INVALID_REQUEST, r#"jsonrpc must be "2.0""#).await;
        assert_eq!(answer["id"], 5, "the id is echoed once it could be read");
    }
    let body = json!({"id": 5, "method": "SendMessage", "params": params});
    harness.refuses(body.to_string(), INVALID_REQUEST, "jsonrpc").await;
    for id in [json!(true), json!({"x": 1}), json!([1])] {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "SendMessage", "params": params});
        let answer = harness.refuses(body.to_string(), INVALID_REQUEST, "id must be a string").await;
        assert_eq!(answer["id"], Value::Null);
    }
    let body = json!({"jsonrpc": "2.0", "method": "SendMessage", "params": params});
    harness.refuses(body.to_string(), INVALID_REQUEST, "notifications").await;
    for method in [json!(7), json!(null), json!(["SendMessage"])] {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        harness.refuses(body.to_string(), INVALID_REQUEST, "method").await;
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "params": params});
    harness.refuses(body.to_string(), INVALID_REQUEST, "method is missing").await;
    for method in ["sendMessage", "message/send ", "tasks/feedback", ""] {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        harness.refuses(body.to_string(), METHOD_NOT_FOUND, &format!("method not found: {method}")).await;
    }
    for params in [json!([message("by position")]), json!("text"), json!(3)] {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": params});
        harness.refuses(body.to_string(), INVALID_PARAMS, "params: must be an object").await;
    }
    // A streaming method refused before it streams: a plain JSON answer.
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "SendStreamingMessage", "params": {}});
    harness.refuses(body.to_string(), INVALID_PARAMS, "missing field `message`").await;
    harness.assert_untouched().await;
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_params_get_an_error_naming_the_field() {
    let harness = Harness::start().await;
    let good = message("fine");
    let with = |pointer: &str, value: Value| {
        let mut params = json!({"message": good.clone()});
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        params.pointer_mut(parent).unwrap()[key] = value;
        params
    };
    let cases = [
        (Value::Null, "params: missing"),
        (json!({}), "missing field `message`"),
        (json!({"message": "hello"}), "params.message: invalid type: string"),
        (with("/message/parts", json!("hello")), "params.message.parts: invalid type: string"),
        (with("/message/parts", json!([])), "params.message.parts: a message has at least one part"),
        (with("/message/parts", json!([{}])), "params.message.parts[0]: must have exactly one of"),
        (
            with("/message/parts", json!([{"text": "a", "url": "http://x"}])),
            "params.message.parts[0]: must have",
        ),
        (with("/message/parts", json!([{"text": 5}])), "params.message.parts[0].text: invalid type: integer"),
        (
            with("/message/parts", json!([{"data": [1, 2]}])),
            "params.message.parts[0].data: must be a JSON object",
        ),
        (with("/message/messageId", json!(42)), "params.message.messageId: invalid type: integer"),
        (with("/message/messageId", json!("msg-1")), "params.message.messageId: \"msg-1\" is not a UUID"),
        (with("/message/contextId", json!("ctx")), "params.message.contextId: \"ctx\" is not a UUID"),
        (with("/message/taskId", json!("task")), "params.message.taskId: \"task\" is not a UUID"),
        (with("/message/role", json!("ROLE_BOSS")), "params.message.role: unknown variant `ROLE_BOSS`"),
        (with("/message/role", json!("user")), "params.message.role: unknown variant `user`"),
        (
            with("/message/role", json!("ROLE_AGENT")),
            "params.message.role: a client's messages are ROLE_USER",
        ),
        (with("/message/referenceTaskIds", json!(["x"])), "params.message.referenceTaskIds[0]"),
        (with("/message/metadata", json!([1])), "params.message.metadata: invalid type: sequence"),
    ];
    for (params, needle) in cases {
        harness.refuses(send(params), INVALID_PARAMS, needle).await;
    }
    let configured = |configuration: Value| json!({"message": good.clone(), "configuration": configuration});
    let cases = [
        (
            configured(json!({"historyLength": "ten"})),
            "params.configuration.historyLength: invalid type: string",
        ),
        (
            configured(json!({"historyLength": -1})),
            "params.configuration.historyLength: must not be negative",
        ),
        (configured(json!({"returnImmediately": "yes"})), "params.configuration.returnImmediately"),
        (
            configured(json!({"taskPushNotificationConfig": {"url": "ftp://example.com/hook"}})),
            "params.configuration.taskPushNotificationConfig.url",
        ),
        (
            configured(json!({"taskPushNotificationConfig": {"url": "http://example.com/", "id": "cfg"}})),
            "params.configuration.taskPushNotificationConfig.id: \"cfg\" is not a UUID",
        ),
    ];
    for (params, needle) in cases {
        harness.refuses(send(params), INVALID_PARAMS, needle).await;
    }
    let others = [
        ("GetTask", json!({}), "missing field `id`"),
        ("GetTask", json!({"id": 7}), "params.id: invalid type: integer"),
        (
            "GetTask",
            json!({"id": Uuid::new_v4(), "historyLength": -2}),
            "historyLength: must not be negative",
        ),
        ("ListTasks", json!({"pageSize": 1000}), "params.pageSize: must be from 1 to 100"),
        ("ListTasks", json!({"pageToken": "next"}), "params.pageToken: \"next\" is not a page token"),
        ("ListTasks", json!({"status": "done"}), "params.status: unknown variant `done`"),
        ("CancelTask", json!({"id": null}), "params.id: invalid type: null"),
        ("CreateTaskPushNotificationConfig", json!({"taskId": Uuid::new_v4()}), "missing field `url`"),
        (
            "message/send",
            json!({"message": {"messageId": Uuid::new_v4(), "role": "user", "parts": []}}),
            "params.message.parts: a message has at least one part",
        ),
        (
            "message/send",
            json!({"message": {"kind": "message", "messageId": "m", "role": "user", "parts": []}}),
            "params.message.messageId",
        ),
        (
            "message/send",
            json!({"message": {"kind": "message", "messageId": Uuid::new_v4(), "role": "boss", "parts": []}}),
            "params.message.role: unknown variant `boss`",
        ),
        (
            "message/send",
            json!({"message": {"kind": "message", "messageId": Uuid::new_v4(), "role": "agent", "parts": []}}),
            "params.message.role: a client's messages have the user role",
        ),
        ("tasks/get", json!({"id": Uuid::new_v4(), "historyLength": "all"}), "params.historyLength"),
        (
            "tasks/pushNotificationConfig/set",
            json!({"taskId": Uuid::new_v4(), "pushNotificationConfig": {"url": "mailto:me@example.com"}}),
            "params.pushNotificationConfig.url",
        ),
    ];
    for (method, params, needle) in others {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        harness.refuses(body.to_string(), INVALID_PARAMS, needle).await;
    }
    harness.assert_untouched().await;
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_past_the_limit_is_refused_and_one_below_it_is_not() {
    let harness = Harness::start().await;
    let too_large = format!("the body is larger than {} bytes", server::BODY_LIMIT);
    for size in [server::BODY_LIMIT + 1, 2 * server::BODY_LIMIT] {
        let body = send(json!({"message": message(&"x".repeat(size))}));
        let (status, answer) = harness.post(body).await;
        assert_eq!(status, 413);
        assert_error(&answer, INVALID_REQUEST, &too_large);
    }
    // Far past the limit the server answers without reading the body and closes the connection:
    // the client sees the answer, or only the closed connection if it was still sending.
    let body = send(json!({"message": message(&"x".repeat(20 * server::BODY_LIMIT))}));
    let sent = harness.http.post(&harness.url).body(body).send().await;
    if let Ok(response) = sent {
        assert_eq!(response.status().as_u16(), 413);
        assert_error(
            &serde_json::from_str(&response.text().await.unwrap()).unwrap(),
            INVALID_REQUEST,
            &too_large,
        );
    }
    harness.assert_untouched().await;

    let text = "y ".repeat((server::BODY_LIMIT - 1000) / 2);
    let answer = harness.call("SendMessage", json!({"message": message(&text)})).await;
    assert_eq!(answer["result"]["task"]["status"]["state"], "TASK_STATE_COMPLETED", "{answer:.300}");
    assert_eq!(harness.running.app.storage.count_tasks(None).await.unwrap(), 1);
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_strings_are_refused_or_quoted_harmlessly() {
    let harness = Harness::start().await;
    // NUL characters: refused anywhere in the params, naming where (PostgreSQL cannot store them).
    let mut with_nul = message("fine");
    with_nul["parts"][0]["text"] = json!("before\u{0}after");
    harness
        .refuses(send(json!({"message": with_nul})), INVALID_PARAMS, "params.message.parts[0].text: NUL")
        .await;
    let mut nul_key = message("fine");
    nul_key["metadata"] = json!({"k\u{0}ey": 1});
    harness
        .refuses(send(json!({"message": nul_key})), INVALID_PARAMS, "NUL characters are not accepted")
        .await;

    // A long method name full of control characters is quoted short and escaped.
    let method = format!("\u{1b}[31m{}\r\n", "A".repeat(10_000));
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": {}});
    let answer =
        harness.refuses(body.to_string(), METHOD_NOT_FOUND, "method not found: \\u{1b}[31mAAA").await;
    let shown = answer["error"]["message"].as_str().unwrap();
    assert!(shown.len() < 200 && !shown.contains('\u{1b}') && shown.ends_with('…'), "{shown:?}");

    // Ids that are not task ids name no task, whatever they hold.
    for id in ["'; DROP TABLE tasks; --", "../../etc/passwd", "\u{202e}kcatta", &"9".repeat(5000)] {
        let answer = harness.call("GetTask", json!({"id": id})).await;
        assert_error(&answer, TASK_NOT_FOUND, "not found");
        assert!(answer["error"]["message"].as_str().unwrap().len() < 200);
        let answer = harness.call("tasks/cancel", json!({"id": id})).await;
        assert_error(&answer, TASK_NOT_FOUND, "not found");
    }
    // A huge request id is echoed as it was.
    let id = "i".repeat(100_000);
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "GetTask", "params": {"id": Uuid::new_v4()}});
    let answer = harness.refuses(body.to_string(), TASK_NOT_FOUND, "not found").await;
    assert_eq!(answer["id"], id);
    harness.assert_untouched().await;
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a2a_errors_have_a2a_codes() {
    let harness = Harness::start().await;
    let unknown = Uuid::new_v4();
    let answer = harness.call("GetTask", json!({"id": unknown})).await;
    assert_error(&answer, TASK_NOT_FOUND, &format!("task {unknown} not found"));
    assert_eq!(answer["error"]["data"][0]["reason"], "TASK_NOT_FOUND", "1.0 errors carry an ErrorInfo");
    let answer = harness.call("tasks/get", json!({"id": unknown})).await;
    assert_error(&answer, TASK_NOT_FOUND, "not found");
    for (method, params) in [
        ("CancelTask", json!({"id": unknown})),
        ("SubscribeToTask", json!({"id": unknown})),
        ("GetTaskPushNotificationConfig", json!({"taskId": unknown})),
        ("ListTaskPushNotificationConfigs", json!({"taskId": unknown})),
        ("DeleteTaskPushNotificationConfig", json!({"taskId": unknown, "id": Uuid::new_v4()})),
        ("CreateTaskPushNotificationConfig", json!({"taskId": unknown, "url": "http://127.0.0.1:9/hook"})),
        ("tasks/resubscribe", json!({"id": unknown})),
        ("tasks/pushNotificationConfig/get", json!({"id": unknown})),
    ] {
        assert_error(&harness.call(method, params).await, TASK_NOT_FOUND, "not found");
    }
    harness.assert_untouched().await;

    let answer = harness.call("SendMessage", json!({"message": message("done soon")})).await;
    let task_id = answer["result"]["task"]["id"].as_str().unwrap().to_owned();
    assert_error(&harness.call("CancelTask", json!({"id": task_id})).await, TASK_NOT_CANCELABLE, "completed");
    assert_error(
        &harness.call("tasks/cancel", json!({"id": task_id})).await,
        TASK_NOT_CANCELABLE,
        "completed",
    );
    assert_error(
        &harness.call("SubscribeToTask", json!({"id": task_id})).await,
        UNSUPPORTED_OPERATION,
        "terminal",
    );
    let mut more = message("more");
    more["taskId"] = json!(task_id);
    assert_error(
        &harness.call("SendMessage", json!({"message": more})).await,
        UNSUPPORTED_OPERATION,
        "terminal",
    );
    assert_error(&harness.call("GetExtendedAgentCard", json!({})).await, -32007, "no extended agent card");
    let stored =
        harness.running.app.storage.load_task(task_id.parse().unwrap(), None).await.unwrap().unwrap();
    assert_eq!(stored.history.len(), 2, "the refused message was not stored");
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resent_message_id_finds_the_same_task_and_runs_once() {
    let harness = Harness::start().await;
    let params = json!({"message": message("one two three")});
    let first = harness.call("SendMessage", params.clone()).await;
    let again = harness.call("SendMessage", params.clone()).await;
    assert_eq!(first["result"]["task"]["id"], again["result"]["task"]["id"]);
    assert_eq!(first["result"]["task"]["artifacts"], again["result"]["task"]["artifacts"]);
    // The same message over 0.3 names the same task too.
    let mut legacy = params["message"].clone();
    legacy["kind"] = json!("message");
    legacy["role"] = json!("user");
    legacy["parts"] = json!([{"kind": "text", "text": "one two three"}]);
    legacy["contextId"] = first["result"]["task"]["contextId"].clone();
    legacy["taskId"] = first["result"]["task"]["id"].clone();
    let answer = harness.call("message/send", json!({"message": legacy})).await;
    assert_eq!(answer["result"]["id"], first["result"]["task"]["id"]);
    assert_eq!(answer["result"]["status"]["state"], "completed");
    assert_eq!(harness.running.app.storage.count_tasks(None).await.unwrap(), 1);
    assert_eq!(harness.running.worker_stats().agent_runs, 1);
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_post_reaches_the_endpoint() {
    let harness = Harness::start().await;
    let response = harness.http.get(&harness.url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let card = harness.http.get(format!("{}.well-known/agent-card.json", harness.url)).send().await.unwrap();
    let card: Value = serde_json::from_str(&card.text().await.unwrap()).unwrap();
    assert_eq!(card["supportedInterfaces"][0]["url"], harness.url);
    harness.assert_untouched().await;
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_reaches_a_task_still_waiting_for_a_worker() {
    let harness = Harness::start().await;
    let slots = harness.running.app.settings.worker.concurrency;
    let mut tasks = Vec::new();
    for _ in 0..slots + 2 {
        let answer = harness
            .call(
                "SendMessage",
                json!({"message": message("sleep"), "configuration": {"returnImmediately": true}}),
            )
            .await;
        tasks.push(answer["result"]["task"]["id"].as_str().unwrap().to_owned());
    }
    let storage = &harness.running.app.storage;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while storage.count_tasks(Some(bindu::TaskState::Working)).await.unwrap() < slots as u64 {
        assert!(tokio::time::Instant::now() < deadline, "the agents did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Every run slot is busy: the last task waits for a worker, and a cancel still reaches it.
    let waiting = tasks.last().unwrap();
    let answer = harness.call("GetTask", json!({"id": waiting})).await;
    assert_eq!(answer["result"]["status"]["state"], "TASK_STATE_SUBMITTED");
    let answer = harness.call("CancelTask", json!({"id": waiting})).await;
    assert_eq!(answer["result"]["status"]["state"], "TASK_STATE_CANCELED", "{answer}");
    // The other waiting one next, then the running ones.
    for task in tasks[..tasks.len() - 1].iter().rev() {
        let answer = harness.call("CancelTask", json!({"id": task})).await;
        assert_eq!(answer["result"]["status"]["state"], "TASK_STATE_CANCELED", "{answer}");
    }
    assert_eq!(storage.count_tasks(Some(bindu::TaskState::Canceled)).await.unwrap(), tasks.len() as u64);
    // The canceled waiting tasks never ran.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(harness.running.worker_stats().agent_runs, slots as u64);
    harness.stop().await;
}
