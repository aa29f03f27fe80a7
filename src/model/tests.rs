//! Round trips over JSON shaped like Bindu's.

use serde_json::{Value, json};

use super::*;

const TASK: &str = "0b9c7f3e-8a51-4c8e-9d5a-1f2e3d4c5b6a";
const CONTEXT: &str = "5f0e9d8c-7b6a-4c3d-8e1f-0a9b8c7d6e5f";
const MESSAGE: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
const ARTIFACT: &str = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f";

fn bindu_task() -> Value {
    json!({
        "id": TASK,
        "contextId": CONTEXT,
        "kind": "task",
        "status": {"state": "input-required", "timestamp": "2026-01-02T03:04:05.123456Z"},
        "history": [{
            "messageId": MESSAGE,
            "contextId": CONTEXT,
            "taskId": TASK,
            "kind": "message",
            "role": "user",
            "parts": [
                {"kind": "text", "text": "summarise this", "metadata": {"did.message.signature": "abc"}},
                {"kind": "file", "file": {"bytes": "aGVsbG8=", "mimeType": "text/plain", "name": "a.txt"}},
                {"kind": "file", "file": {"uri": "https://example.org/b.pdf"}},
                {"kind": "data", "data": {"n": 1, "nested": {"ok": true}}}
            ],
            "referenceTaskIds": [TASK]
        }],
        "artifacts": [{
            "artifactId": ARTIFACT,
            "name": "result",
            "parts": [{"kind": "text", "text": "done"}],
            "lastChunk": true
        }],
        "metadata": {"k": "v"}
    })
}

#[test]
fn task_round_trips_bindu_json() {
    let task: Task = serde_json::from_value(bindu_task()).unwrap();
    assert_eq!(task.id.to_string(), TASK);
    assert_eq!(task.status.state, TaskState::InputRequired);
    let message = &task.history[0];
    assert_eq!(message.role, Role::User);
    assert!(
        matches!(&message.parts[1], Part::File(FilePart { file: FileContent::Bytes { mime_type: Some(m), .. }, .. }) if m == "text/plain")
    );
    assert!(
        matches!(&message.parts[2], Part::File(FilePart { file: FileContent::Uri { uri, .. }, .. }) if uri.ends_with("b.pdf"))
    );
    assert!(matches!(&message.parts[3], Part::Data(_)));
    assert_eq!(task.artifacts[0].last_chunk, Some(true));

    let back = serde_json::to_value(&task).unwrap();
    assert_eq!(back, bindu_task());
}

#[test]
fn snake_case_input_is_accepted() {
    let task: Task = serde_json::from_value(json!({
        "id": TASK,
        "context_id": CONTEXT,
        "status": {"state": "working", "timestamp": "2026-01-02T03:04:05Z"},
        "history": [{"message_id": MESSAGE, "task_id": TASK, "context_id": CONTEXT, "role": "agent",
                     "parts": [{"kind": "text", "text": "hi"}], "reference_task_ids": []}]
    }))
    .unwrap();
    assert_eq!(task.context_id.to_string(), CONTEXT);
    assert_eq!(task.history[0].task_id.unwrap().to_string(), TASK);
    // Output is always camelCase, with the collections present even when empty.
    let out = serde_json::to_value(&task).unwrap();
    assert_eq!(out["contextId"], CONTEXT);
    assert_eq!(out["artifacts"], json!([]));
    assert_eq!(out["metadata"], json!({}));
}

#[test]
fn parts_are_a_real_tagged_enum() {
    // A file part needs no `text`, a uri file needs no `bytes` (Bindu's TypedDict defects).
    let part: Part = serde_json::from_value(json!({"kind": "file", "file": {"uri": "s3://x"}})).unwrap();
    assert!(matches!(part, Part::File(_)));
    let err = serde_json::from_value::<Part>(json!({"kind": "video", "url": "x"})).unwrap_err();
    assert!(err.to_string().contains("unknown variant `video`"), "{err}");
    let err = serde_json::from_value::<Part>(json!({"kind": "text"})).unwrap_err();
    assert!(err.to_string().contains("text"), "{err}");
}

#[test]
fn system_role_and_unknown_role() {
    let m: Message =
        serde_json::from_value(json!({"messageId": MESSAGE, "role": "system", "parts": []})).unwrap();
    assert_eq!(m.role, Role::System);
    assert!(
        serde_json::from_value::<Message>(json!({"messageId": MESSAGE, "role": "robot", "parts": []}))
            .is_err()
    );
}

#[test]
fn operations_round_trip() {
    let message: Message = serde_json::from_value(bindu_task()["history"][0].clone()).unwrap();
    let run = TaskOperation::new(
        OperationId::new(),
        Action::Run(TaskSendParams::new(TASK.parse().unwrap(), CONTEXT.parse().unwrap(), Some(message))),
    );
    let json = serde_json::to_value(&run).unwrap();
    assert_eq!(json["operation"], "run");
    assert_eq!(json["params"]["taskId"], TASK);
    assert_eq!(serde_json::from_value::<TaskOperation>(json).unwrap(), run);

    for action in [
        Action::Cancel(TaskIdParams::new(TaskId::new())),
        Action::Pause(TaskIdParams::new(TaskId::new())),
        Action::Resume(TaskIdParams::new(TaskId::new())),
    ] {
        let op = TaskOperation { id: OperationId::new(), action, traceparent: Some("00-abc-def-01".into()) };
        let json = serde_json::to_string(&op).unwrap();
        assert!(json.contains(&format!("\"operation\":\"{}\"", op.action.name())));
        assert_eq!(serde_json::from_str::<TaskOperation>(&json).unwrap(), op);
    }
    let err =
        serde_json::from_value::<TaskOperation>(json!({"id": TASK, "operation": "explode", "params": {}}));
    assert!(err.is_err());
}

#[test]
fn webhook_config_hides_its_token_from_debug() {
    let config: PushNotificationConfig = serde_json::from_value(json!({
        "id": TASK, "url": "https://user:pw@hooks.example/x", "token": "s3cr3t-token"
    }))
    .unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("s3cr3t-token"), "{debug}");
    assert!(!debug.contains(":pw@"), "{debug}");
    assert_eq!(serde_json::to_value(&config).unwrap()["token"], "s3cr3t-token");
}

#[test]
fn feedback_round_trips() {
    let feedback = Feedback::new(TaskId::new(), "great", Some(5));
    let json = serde_json::to_value(&feedback).unwrap();
    assert_eq!(json["rating"], 5);
    assert_eq!(serde_json::from_value::<Feedback>(json).unwrap(), feedback);
}

#[test]
fn history_truncation_keeps_the_last_messages() {
    let mut task: Task = serde_json::from_value(bindu_task()).unwrap();
    let extra: Vec<Message> = (0..4).map(|i| Message::user_text(format!("m{i}"))).collect();
    task.history.extend(extra.clone());
    let mut all = task.clone();
    all.truncate_history(Some(0));
    assert_eq!(all.history.len(), 5);
    task.truncate_history(Some(2));
    assert_eq!(task.history, extra[2..]);
}

#[test]
fn pages_window_in_order() {
    let items = 0..10;
    assert_eq!(Page::ALL.apply(items.clone()).len(), 10);
    assert_eq!(Page::new(2, 3).apply(items.clone()), vec![2, 3, 4]);
    assert!(Page::first(0).apply(items.clone()).is_empty());
    assert!(Page::new(20, 5).apply(items).is_empty());
}

#[test]
fn what_a2a_allows_is_accepted() {
    let mut task = bindu_task();
    task["status"] = json!({"state": "working"});
    task["metadata"] = Value::Null;
    task["history"] = Value::Null;
    task["artifacts"] = Value::Null;
    let before = chrono::Utc::now();
    let parsed: Task = serde_json::from_value(task).unwrap();
    assert!(parsed.status.timestamp >= before, "a status without timestamp is taken as of now");
    assert!(parsed.metadata.is_empty() && parsed.history.is_empty() && parsed.artifacts.is_empty());
    let message: Message = serde_json::from_value(json!({
        "messageId": MESSAGE, "kind": "message", "role": "user",
        "parts": [{"kind": "text", "text": "hi", "metadata": null}],
        "metadata": null, "referenceTaskIds": null, "extensions": null, "taskId": null
    }))
    .unwrap();
    assert_eq!((message.metadata, message.task_id), (None, None));
}

#[test]
fn what_a2a_forbids_is_refused_naming_the_field() {
    let both = json!({"kind": "file", "file": {"bytes": "aGk=", "uri": "https://example.org/a"}});
    let err = serde_json::from_value::<Part>(both).unwrap_err().to_string();
    assert!(err.contains("file: has both `bytes` and `uri`"), "{err}");
    let neither = json!({"kind": "file", "file": {"name": "a.txt"}});
    let err = serde_json::from_value::<Part>(neither).unwrap_err().to_string();
    assert!(err.contains("file: needs `bytes` or `uri`"), "{err}");
    let unknown = json!({"kind": "file", "file": {"bytes": "aGk=", "url": "https://example.org/a"}});
    let err = serde_json::from_value::<Part>(unknown).unwrap_err().to_string();
    assert!(err.contains("unknown field `url`"), "{err}");
    let err = serde_json::from_value::<Message>(json!({"kind": "message", "role": "user", "parts": []}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("messageId"), "{err}");
}
