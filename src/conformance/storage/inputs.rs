//! One input rule on every backend: the same hostile inputs get the same outcome everywhere,
//! and a refused input leaves nothing behind.

use serde_json::{Value, json};

use super::{load, new_message, new_task};
use crate::conformance::step;
use crate::error::Error;
use crate::model::{
    Artifact, ContextId, Feedback, InputLimits, Message, Metadata, Part, PushNotificationConfig, TaskState,
    TaskUpdate,
};
use crate::storage::Storage;

/// What a backend must do with one input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Stored and read back exactly.
    Stored,
    /// Refused with [`Error::Invalid`] whose text holds this.
    Refused(&'static str),
}

fn nested(levels: usize) -> Value {
    (0..levels).fold(json!("bottom"), |inner, _| json!({ "x": inner }))
}

fn data_message(data: Value) -> Message {
    let mut message = new_message("data");
    message.parts.push(Part::data(data.as_object().cloned().unwrap_or_default()));
    message
}

/// The table of hostile inputs and the outcome every backend gives them (with the default
/// [`InputLimits`]).
pub fn hostile_messages() -> Vec<(&'static str, Message, Outcome)> {
    let limits = InputLimits::default();
    let mut with_metadata = new_message("meta");
    with_metadata.metadata = Some(crate::model::metadata([("deep", nested(60))]));
    vec![
        ("NUL in text", new_message("a\u{0}b"), Outcome::Refused("NUL character")),
        ("NUL in a data key", data_message(json!({"k\u{0}": 1})), Outcome::Refused("NUL character")),
        ("escaped NUL lookalike", new_message("\\u0000 and \\\\u0000"), Outcome::Stored),
        (
            "control and format characters",
            new_message("\u{1}\u{7f}\u{202e}\u{feff}\u{fffd}"),
            Outcome::Stored,
        ),
        ("astral and combining", new_message("𝔘𝔫𝔦𝔠𝔬𝔡𝔢 e\u{301} 👩‍👩‍👧"), Outcome::Stored),
        ("nested 20 levels", data_message(nested(20)), Outcome::Stored),
        ("nested 200 levels", data_message(nested(200)), Outcome::Refused("levels deep")),
        ("nested metadata", with_metadata, Outcome::Refused("levels deep")),
        (
            "too many parts",
            Message::new(crate::model::Role::User, vec![Part::text("p"); limits.parts + 1])
                .for_task(crate::model::TaskId::new()),
            Outcome::Refused("parts; at most"),
        ),
        (
            "over the size limit",
            new_message(&"x".repeat(limits.message_bytes + 1)),
            Outcome::Refused("bytes as JSON"),
        ),
        (
            "number extremes",
            data_message(json!({"big": 1e308, "neg": -1e-308, "int": u64::MAX, "min": i64::MIN})),
            Outcome::Stored,
        ),
    ]
}

/// Every hostile message gets its outcome on submit and on update; a refused one stores nothing.
pub async fn hostile_inputs_have_one_outcome_everywhere(storage: &dyn Storage) {
    for (name, message, outcome) in hostile_messages() {
        let context_id = ContextId::new();
        let submitted = step!(storage.submit_task(context_id, &message, None));
        match outcome {
            Outcome::Stored => {
                let task = submitted.unwrap_or_else(|err| panic!("conformance: {name} refused: {err}")).task;
                let loaded = load(storage, task.id).await;
                assert_eq!(loaded.history[0].parts, message.parts, "{name} round trip");
                assert_eq!(loaded.history[0].metadata, message.metadata, "{name} round trip");
            }
            Outcome::Refused(why) => {
                let err = submitted.expect_err(name);
                assert!(
                    matches!(&err, Error::Invalid { .. }) && err.to_string().contains(why),
                    "{name}: {err}"
                );
                let task_id = message.task_id.unwrap();
                assert!(step!(storage.load_task(task_id, None)).unwrap().is_none(), "{name}: nothing stored");
                assert!(step!(storage.load_context(context_id)).unwrap().is_none(), "{name}: no context");
                // The same content as an agent's answer is refused the same way.
                let task = new_task(storage, None).await.task;
                let mut answer = message.clone();
                answer.message_id = crate::model::MessageId::new();
                let update = TaskUpdate::to(TaskState::Completed).with_message(answer);
                let err = step!(storage.update_task(task.id, &update)).expect_err(name);
                assert!(err.to_string().contains(why), "{name} as an update: {err}");
                assert_eq!(load(storage, task.id).await, task, "{name}: the task is unchanged");
            }
        }
    }
}

/// Metadata, artifacts, context data, feedback and webhook configs follow the same rule.
pub async fn every_write_applies_the_input_rule(storage: &dyn Storage) {
    let task = new_task(storage, None).await.task;
    let nul: Metadata = crate::model::metadata([("k", json!("v\u{0}"))]);
    let deep: Metadata = crate::model::metadata([("k", nested(200))]);
    for metadata in [&nul, &deep] {
        let mut update = TaskUpdate::to(TaskState::Working);
        update.metadata = metadata.clone();
        assert!(matches!(step!(storage.update_task(task.id, &update)), Err(Error::Invalid { .. })));
        let artifact =
            Artifact { metadata: Some(metadata.clone()), ..Artifact::new("a", vec![Part::text("x")]) };
        let update = TaskUpdate::to(TaskState::Working).with_artifact(artifact);
        assert!(matches!(step!(storage.update_task(task.id, &update)), Err(Error::Invalid { .. })));
        let context_id = ContextId::new();
        assert!(matches!(
            step!(storage.update_context(context_id, metadata, None)),
            Err(Error::Invalid { .. })
        ));
        assert!(step!(storage.load_context(context_id)).unwrap().is_none(), "no context created");
        let mut feedback = Feedback::new(task.id, "ok", Some(5));
        feedback.metadata = metadata.clone();
        assert!(matches!(step!(storage.store_task_feedback(&feedback)), Err(Error::Invalid { .. })));
    }
    let mut message = new_message("log");
    message.metadata = Some(deep.clone());
    assert!(matches!(
        step!(storage.append_to_context(ContextId::new(), &[message], None)),
        Err(Error::Invalid { .. })
    ));
    let mut config = PushNotificationConfig::new("https://example.org/hook");
    config.token = Some("tok\u{0}en".into());
    assert!(matches!(step!(storage.save_webhook_config(task.id, &config)), Err(Error::Invalid { .. })));
    assert_eq!(load(storage, task.id).await, task, "nothing was written");
    assert!(step!(storage.get_task_feedback(task.id)).unwrap().is_empty());
    assert!(step!(storage.load_webhook_config(task.id)).unwrap().is_none());
}
