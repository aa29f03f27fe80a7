//! Submitting, loading and updating tasks; the state machine; idempotency; concurrency.

use futures_util::future::join_all;
use serde_json::json;

use super::{load, new_message, new_task, set_state};
use crate::conformance::{step, unique_owner};
use crate::error::Error;
use crate::model::{
    Artifact, ContextId, Message, MessageId, Part, SubmitOutcome, TaskId, TaskState, TaskUpdate,
};
use crate::storage::Storage;

/// A new task is created in `submitted` with the message, stamped with its ids, as its history;
/// its context is created and lists it; the owner is recorded.
pub async fn submit_creates_a_task(storage: &dyn Storage) {
    let owner = unique_owner();
    let context_id = ContextId::new();
    let message = new_message("hello");
    let task_id = message.task_id.unwrap();
    let submitted = step!(storage.submit_task(context_id, &message, Some(&owner))).unwrap();
    assert_eq!(submitted.outcome, SubmitOutcome::Created);
    let task = submitted.task;
    assert_eq!((task.id, task.context_id, task.status.state), (task_id, context_id, TaskState::Submitted));
    assert_eq!(task.history.len(), 1);
    let stored = &task.history[0];
    assert_eq!(
        (stored.message_id, stored.task_id, stored.context_id),
        (message.message_id, Some(task_id), Some(context_id))
    );
    assert_eq!(stored.parts, message.parts);
    assert!(task.artifacts.is_empty() && task.metadata.is_empty());
    assert_eq!(load(storage, task_id).await, task, "load returns what submit returned");
    let context = step!(storage.load_context(context_id)).unwrap().expect("the context was created");
    assert_eq!(context.task_ids, [task_id]);
    assert_eq!(step!(storage.get_task_owner(task_id)).unwrap().as_deref(), Some(owner.as_str()));
    assert_eq!(step!(storage.get_context_owner(context_id)).unwrap().as_deref(), Some(owner.as_str()));
}

/// A message that names no task is rejected, and nothing is stored.
pub async fn submit_without_task_id_is_invalid(storage: &dyn Storage) {
    let context_id = ContextId::new();
    let err = step!(storage.submit_task(context_id, &Message::user_text("no task"), None)).unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    assert!(step!(storage.load_context(context_id)).unwrap().is_none());
}

/// Submitting a message id that is already in the history changes nothing — in any state, even
/// terminal — and says so.
pub async fn resent_message_is_a_duplicate(storage: &dyn Storage) {
    let context_id = ContextId::new();
    let message = new_message("once");
    let task_id = message.task_id.unwrap();
    step!(storage.submit_task(context_id, &message, None)).unwrap();
    for state in [TaskState::Submitted, TaskState::Working, TaskState::Completed] {
        if state != TaskState::Submitted {
            set_state(storage, &load(storage, task_id).await, state).await;
        }
        let again = step!(storage.submit_task(context_id, &message, None)).unwrap();
        assert_eq!(again.outcome, SubmitOutcome::Duplicate, "resend in {state}");
        assert_eq!(again.task.history.len(), 1, "no second append in {state}");
        assert_eq!(again.task.status.state, state, "the state is untouched in {state}");
    }
    assert_eq!(load(storage, task_id).await.history.len(), 1);
}

/// A new message to a non-terminal task is appended and the task returns to `submitted`.
pub async fn continuation_appends_and_resubmits(storage: &dyn Storage) {
    let first = new_task(storage, None).await.task;
    let waiting = set_state(storage, &first, TaskState::InputRequired).await;
    let reply = Message::user_text("more input").for_task(first.id);
    let continued = step!(storage.submit_task(first.context_id, &reply, None)).unwrap();
    assert_eq!(continued.outcome, SubmitOutcome::Continued);
    let task = continued.task;
    assert_eq!(task.status.state, TaskState::Submitted);
    assert!(task.status.timestamp >= waiting.status.timestamp);
    // A submit returns the end of the conversation: the message it appended.
    assert_eq!(task.history.len(), 1, "a submit returns its message, not the whole history");
    assert_eq!(task.history[0].message_id, reply.message_id);
    assert_eq!(task.history[0].context_id, Some(first.context_id));
    assert_eq!(step!(storage.load_task(first.id, Some(1))).unwrap().unwrap(), task);
    let ids: Vec<MessageId> = load(storage, first.id).await.history.iter().map(|m| m.message_id).collect();
    assert_eq!(ids, [first.history[0].message_id, reply.message_id]);
}

/// A terminal task accepts no new message.
pub async fn terminal_task_refuses_new_messages(storage: &dyn Storage) {
    for state in [TaskState::Completed, TaskState::Failed, TaskState::Canceled, TaskState::Rejected] {
        let task = new_task(storage, None).await.task;
        let done = set_state(storage, &task, state).await;
        let late = Message::user_text("too late").for_task(task.id);
        let err = step!(storage.submit_task(task.context_id, &late, None)).unwrap_err();
        assert!(matches!(err, Error::TaskImmutable { state: s, .. } if s == state), "{state}: {err:?}");
        assert_eq!(load(storage, task.id).await, done, "nothing changed in {state}");
    }
}

/// A continuation must come from the task's owner and name the task's context.
pub async fn continuation_checks_owner_and_context(storage: &dyn Storage) {
    let owner = unique_owner();
    let task = new_task(storage, Some(&owner)).await.task;
    let intruder = unique_owner();
    let message = Message::user_text("let me in").for_task(task.id);
    for (context_id, caller) in [
        (task.context_id, Some(intruder.as_str())),
        (task.context_id, None),
        (ContextId::new(), Some(owner.as_str())),
    ] {
        let err = step!(storage.submit_task(context_id, &message, caller)).unwrap_err();
        assert!(matches!(err, Error::Ownership { .. }), "{caller:?} in {context_id}: {err:?}");
    }
    assert_eq!(load(storage, task.id).await, task, "nothing changed");
}

/// A new task cannot be created in a context owned by someone else.
pub async fn new_task_in_foreign_context_is_refused(storage: &dyn Storage) {
    let owned = new_task(storage, Some(&unique_owner())).await.task;
    let message = new_message("squatting");
    let err = step!(storage.submit_task(owned.context_id, &message, Some(&unique_owner()))).unwrap_err();
    assert!(matches!(err, Error::Ownership { .. }), "{err:?}");
    assert!(step!(storage.load_task(message.task_id.unwrap(), None)).unwrap().is_none());
    let context = step!(storage.load_context(owned.context_id)).unwrap().unwrap();
    assert_eq!(context.task_ids, [owned.id]);
}

/// Many concurrent submits of the same message make one task with one history entry.
pub async fn concurrent_submits_of_one_message_create_one_task(storage: &dyn Storage) {
    let context_id = ContextId::new();
    let message = new_message("race");
    let results = step!(join_all((0..16).map(|_| storage.submit_task(context_id, &message, None))));
    let outcomes: Vec<SubmitOutcome> =
        results.into_iter().map(|r| r.expect("every submit succeeds").outcome).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == SubmitOutcome::Created).count(), 1, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|o| matches!(o, SubmitOutcome::Created | SubmitOutcome::Duplicate)),
        "{outcomes:?}"
    );
    let task = load(storage, message.task_id.unwrap()).await;
    assert_eq!(task.history.len(), 1);
    assert_eq!(step!(storage.load_context(context_id)).unwrap().unwrap().task_ids, [task.id]);
}

/// Concurrent different messages for one new task: one creates it, the others continue it, and
/// every message is kept exactly once.
pub async fn concurrent_messages_to_one_new_task_are_all_kept(storage: &dyn Storage) {
    let context_id = ContextId::new();
    let task_id = TaskId::new();
    let messages: Vec<Message> =
        (0..8).map(|i| Message::user_text(format!("m{i}")).for_task(task_id)).collect();
    let results = step!(join_all(messages.iter().map(|m| storage.submit_task(context_id, m, None))));
    let outcomes: Vec<SubmitOutcome> =
        results.into_iter().map(|r| r.expect("every submit succeeds").outcome).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == SubmitOutcome::Created).count(), 1, "{outcomes:?}");
    let task = load(storage, task_id).await;
    let mut stored: Vec<MessageId> = task.history.iter().map(|m| m.message_id).collect();
    let mut sent: Vec<MessageId> = messages.iter().map(|m| m.message_id).collect();
    stored.sort();
    sent.sort();
    assert_eq!(stored, sent);
    assert_eq!(step!(storage.load_context(context_id)).unwrap().unwrap().task_ids, [task_id]);
}

/// `history_length` keeps the last messages; `None` and `Some(0)` keep all; unknown ids give
/// `None`.
pub async fn load_task_truncates_history(storage: &dyn Storage) {
    let task = new_task(storage, None).await.task;
    let mut update = TaskUpdate::to(TaskState::InputRequired);
    for i in 0..4 {
        update = update.with_message(Message::agent_text(format!("reply {i}")));
    }
    let written = step!(storage.update_task(task.id, &update)).unwrap();
    assert_eq!(written.history.len(), 4, "an update returns as many messages as it names");
    let full = load(storage, task.id).await;
    assert_eq!(full.history.len(), 5);
    assert_eq!(written.history, full.history[1..]);
    let last3 = step!(storage.load_task(task.id, Some(3))).unwrap().unwrap();
    assert_eq!(last3.history, full.history[2..]);
    assert_eq!(step!(storage.load_task(task.id, Some(0))).unwrap().unwrap(), full);
    assert_eq!(step!(storage.load_task(task.id, Some(50))).unwrap().unwrap(), full);
    assert!(step!(storage.load_task(TaskId::new(), None)).unwrap().is_none());
}

/// What storage returns is a copy: changing it changes nothing stored.
pub async fn loaded_tasks_are_copies(storage: &dyn Storage) {
    let submitted = new_task(storage, None).await.task;
    let mut copy = load(storage, submitted.id).await;
    copy.history.clear();
    copy.metadata.insert("mutated".into(), json!(true));
    assert_eq!(load(storage, submitted.id).await, submitted);
}

/// An update sets the state with a fresh timestamp, appends artifacts and messages (stamped with
/// the task's ids) and merges metadata.
pub async fn update_sets_state_and_appends(storage: &dyn Storage) {
    let task = new_task(storage, None).await.task;
    let first =
        TaskUpdate::to(TaskState::Working).with_metadata("a", json!(1)).with_metadata("b", json!("x"));
    let working = step!(storage.update_task(task.id, &first)).unwrap();
    assert!(working.status.timestamp >= task.status.timestamp);
    let artifact = Artifact::new("result", vec![Part::text("42")]);
    let reply = Message::agent_text("the answer is 42");
    let done = TaskUpdate::to(TaskState::Completed)
        .with_artifact(artifact.clone())
        .with_message(reply.clone())
        .with_metadata("b", json!("y"));
    let completed = step!(storage.update_task(task.id, &done)).unwrap();
    assert_eq!(completed.status.state, TaskState::Completed);
    assert_eq!(completed.artifacts, [artifact]);
    assert_eq!(completed.history.len(), 1, "the update's one message");
    let stored = &completed.history[0];
    assert_eq!(
        (stored.message_id, stored.task_id, stored.context_id),
        (reply.message_id, Some(task.id), Some(task.context_id))
    );
    assert_eq!(completed.metadata.get("a"), Some(&json!(1)), "merge keeps other keys");
    assert_eq!(completed.metadata.get("b"), Some(&json!("y")), "merge overwrites");
    assert_eq!(step!(storage.load_task(task.id, Some(1))).unwrap().unwrap(), completed);
    assert_eq!(load(storage, task.id).await.history.len(), 2);
}

/// Replaying an update (a retry after an uncertain failure) stores nothing twice, and succeeds
/// even when the update made the task terminal.
pub async fn update_is_idempotent(storage: &dyn Storage) {
    let task = new_task(storage, None).await.task;
    let working = TaskUpdate::to(TaskState::Working).with_message(Message::agent_text("on it"));
    let once = step!(storage.update_task(task.id, &working)).unwrap();
    let twice = step!(storage.update_task(task.id, &working)).unwrap();
    assert_eq!(once, twice);
    let done = TaskUpdate::to(TaskState::Completed)
        .expecting(TaskState::Working)
        .with_artifact(Artifact::new("result", vec![Part::text("ok")]))
        .with_message(Message::agent_text("done"));
    let completed = step!(storage.update_task(task.id, &done)).unwrap();
    let replayed =
        step!(storage.update_task(task.id, &done)).expect("a replay of an applied update succeeds");
    assert_eq!(completed, replayed);
    assert_eq!((replayed.history.len(), replayed.artifacts.len()), (1, 1));
    assert_eq!(load(storage, task.id).await.history.len(), 3, "nothing stored twice");
}

/// A long conversation: appends keep their order, `load_task(id, Some(n))` returns the last `n`,
/// a write returns the end of the history (as many messages as it names, at least one) and every
/// artifact, and message and artifact ids stay idempotency keys however far back they are.
pub async fn long_conversations_append_and_read_the_end(storage: &dyn Storage) {
    let first = new_task(storage, None).await.task;
    let task_id = first.id;
    let mut sent = vec![first.history[0].message_id];
    let mut artifacts = Vec::new();
    for turn in 0..40 {
        let message = Message::agent_text(format!("turn {turn}"));
        sent.push(message.message_id);
        let mut update = TaskUpdate::to(TaskState::Working).with_message(message.clone());
        if turn % 10 == 0 {
            let artifact = Artifact::new(format!("chunk {turn}"), vec![Part::text("…")]);
            artifacts.push(artifact.clone());
            update = update.with_artifact(artifact);
        }
        let written = step!(storage.update_task(task_id, &update)).unwrap();
        assert_eq!(written.history.len(), 1, "turn {turn}: the write returns its message");
        assert_eq!(written.history[0].message_id, message.message_id);
        assert_eq!(written.artifacts, artifacts, "turn {turn}: artifacts come back whole, in order");
    }
    let ids = |messages: &[Message]| messages.iter().map(|m| m.message_id).collect::<Vec<_>>();
    let last5 = step!(storage.load_task(task_id, Some(5))).unwrap().unwrap();
    assert_eq!(ids(&last5.history), sent[sent.len() - 5..]);
    assert_eq!(last5.artifacts, artifacts);
    let full = load(storage, task_id).await;
    assert_eq!(ids(&full.history), sent, "every message, in order");
    assert!(full.history.iter().all(|m| m.task_id == Some(task_id)));

    // Replays of old records change nothing, and a replay returns the end of the history.
    let old = full.history[3].clone();
    let replay = TaskUpdate::to(TaskState::Working).with_message(old).with_artifact(artifacts[0].clone());
    let replayed = step!(storage.update_task(task_id, &replay)).unwrap();
    assert_eq!(ids(&replayed.history), sent[sent.len() - 1..]);
    let resent = step!(storage.submit_task(first.context_id, &first.history[0], None)).unwrap();
    assert_eq!(resent.outcome, SubmitOutcome::Duplicate);
    assert_eq!(resent.task.history.len(), 1);
    // An update naming two messages, one old and one new, appends the new one only.
    let fresh = Message::agent_text("the last word");
    let mixed = TaskUpdate::to(TaskState::InputRequired)
        .with_message(full.history[7].clone())
        .with_message(fresh.clone());
    let written = step!(storage.update_task(task_id, &mixed)).unwrap();
    sent.push(fresh.message_id);
    assert_eq!(ids(&written.history), sent[sent.len() - 2..]);
    let full = load(storage, task_id).await;
    assert_eq!(ids(&full.history), sent, "nothing stored twice");
    assert_eq!(full.artifacts, artifacts);
    // A continuation of the long conversation returns its message only.
    let more = Message::user_text("one more thing").for_task(task_id);
    let continued = step!(storage.submit_task(first.context_id, &more, None)).unwrap();
    assert_eq!(continued.outcome, SubmitOutcome::Continued);
    assert_eq!(ids(&continued.task.history), [more.message_id]);
    assert_eq!(load(storage, task_id).await.history.len(), sent.len() + 1);
}

/// Updating an unknown task is `NotFound`.
pub async fn update_unknown_task_is_not_found(storage: &dyn Storage) {
    let err = step!(storage.update_task(TaskId::new(), &TaskUpdate::to(TaskState::Working))).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

/// A terminal task never changes again, through any write.
pub async fn terminal_tasks_are_immutable(storage: &dyn Storage) {
    for terminal in [TaskState::Completed, TaskState::Failed, TaskState::Canceled, TaskState::Rejected] {
        let task = new_task(storage, None).await.task;
        let done = set_state(storage, &task, terminal).await;
        let other_terminal =
            if terminal == TaskState::Failed { TaskState::Completed } else { TaskState::Failed };
        for update in [
            TaskUpdate::to(TaskState::Working),
            TaskUpdate::to(other_terminal),
            TaskUpdate::to(terminal).with_message(Message::agent_text("late")),
            TaskUpdate::to(terminal).with_metadata("late", json!(true)),
        ] {
            let err = step!(storage.update_task(task.id, &update)).unwrap_err();
            assert!(matches!(err, Error::TaskImmutable { .. }), "{terminal} → {:?}: {err:?}", update.state);
        }
        let err = step!(storage.update_task_state_if(task.id, terminal, TaskState::Working)).unwrap_err();
        assert!(matches!(err, Error::TaskImmutable { .. }), "CAS from {terminal}: {err:?}");
        // Writing what is already there is an idempotent replay, not a change.
        assert_eq!(step!(storage.update_task(task.id, &TaskUpdate::to(terminal))).unwrap(), done);
        assert_eq!(load(storage, task.id).await, done, "{terminal} task unchanged");
    }
}

/// An update that expects another state than the current one is a `StateConflict`.
pub async fn update_checks_expected_state(storage: &dyn Storage) {
    let task = new_task(storage, None).await.task;
    let working = set_state(storage, &task, TaskState::Working).await;
    let stale = TaskUpdate::to(TaskState::InputRequired).expecting(TaskState::Submitted);
    let err = step!(storage.update_task(task.id, &stale)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::StateConflict { expected: TaskState::Submitted, actual: TaskState::Working, .. }
        ),
        "{err:?}"
    );
    assert_eq!(load(storage, task.id).await, working);
    let fresh = TaskUpdate::to(TaskState::InputRequired).expecting(TaskState::Working);
    assert_eq!(step!(storage.update_task(task.id, &fresh)).unwrap().status.state, TaskState::InputRequired);
}

/// An update fenced on metadata applies only while the task's metadata still holds the values.
pub async fn update_checks_expected_metadata(storage: &dyn Storage) {
    let task = new_task(storage, None).await.task;
    let claim =
        TaskUpdate::to(TaskState::Working).expecting(TaskState::Submitted).with_metadata("run", json!("a"));
    step!(storage.update_task(task.id, &claim)).unwrap();
    let stale = TaskUpdate::to(TaskState::Completed).expecting_metadata("run", json!("b"));
    let err = step!(storage.update_task(task.id, &stale)).unwrap_err();
    assert!(matches!(&err, Error::Fenced { key, .. } if key == "run"), "{err:?}");
    let missing = TaskUpdate::to(TaskState::Completed).expecting_metadata("absent", json!(1));
    assert!(matches!(step!(storage.update_task(task.id, &missing)), Err(Error::Fenced { .. })));
    assert_eq!(load(storage, task.id).await.status.state, TaskState::Working);
    let current = TaskUpdate::to(TaskState::Completed)
        .expecting(TaskState::Working)
        .expecting_metadata("run", json!("a"))
        .with_message(Message::agent_text("done"));
    let done = step!(storage.update_task(task.id, &current)).unwrap();
    assert_eq!(done.status.state, TaskState::Completed);
    assert_eq!(step!(storage.update_task(task.id, &current)).unwrap(), done, "a replay still succeeds");
}

/// `update_task_state_if` swaps only from the expected state, and says whether it did.
pub async fn compare_and_swap(storage: &dyn Storage) {
    let task = new_task(storage, None).await.task;
    assert!(step!(storage.update_task_state_if(task.id, TaskState::Submitted, TaskState::Working)).unwrap());
    assert_eq!(load(storage, task.id).await.status.state, TaskState::Working);
    assert!(!step!(storage.update_task_state_if(task.id, TaskState::Submitted, TaskState::Working)).unwrap());
    assert!(
        !step!(storage.update_task_state_if(task.id, TaskState::InputRequired, TaskState::Canceled)).unwrap()
    );
    assert!(
        !step!(storage.update_task_state_if(TaskId::new(), TaskState::Submitted, TaskState::Working))
            .unwrap()
    );
    assert!(step!(storage.update_task_state_if(task.id, TaskState::Working, TaskState::Canceled)).unwrap());
    assert_eq!(load(storage, task.id).await.status.state, TaskState::Canceled);
}

/// Of many concurrent swaps from the same state, exactly one wins.
pub async fn concurrent_compare_and_swap_has_one_winner(storage: &dyn Storage) {
    let task = new_task(storage, None).await.task;
    let results = step!(join_all((0..12).map(|_| storage.update_task_state_if(
        task.id,
        TaskState::Submitted,
        TaskState::Working
    ))));
    let winners = results.into_iter().map(|r| r.unwrap()).filter(|won| *won).count();
    assert_eq!(winners, 1);
}

/// Quotes, backslashes, SQL- and Lua-looking text, control characters and non-Latin scripts are
/// stored exactly.
pub async fn hostile_text_round_trips(storage: &dyn Storage) {
    let hostile = [
        "it's a \"quoted\" 'string'",
        "'); DROP TABLE tasks; --",
        "1' OR '1'='1",
        "$1 $$ $tag$ \\x00 \\\\ \\u0000",
        "redis.call('FLUSHALL') -- ]] [[",
        "emoji 🦀🚀, accents é ü ñ, 中文, العربية, עברית, \u{200B}zero-width",
        "tabs\tand\nnewlines\r\n and \u{7f} and \u{1b}[31m",
        "{\"json\": [1, 2, {\"nested\": null}]}",
    ];
    for text in hostile {
        let mut message = new_message(text);
        message.metadata = Some(crate::model::metadata([(text, json!(text))]));
        let task = step!(storage.submit_task(ContextId::new(), &message, Some(text))).unwrap().task;
        let update = TaskUpdate::to(TaskState::Completed)
            .with_artifact(Artifact::new(text, vec![Part::text(text)]))
            .with_metadata(text, json!([text]));
        let stored = step!(storage.update_task(task.id, &update)).unwrap();
        let loaded = load(storage, task.id).await;
        assert_eq!(loaded, stored, "round trip of {text:?}");
        assert_eq!(loaded.history[0].text(), text);
        assert_eq!(loaded.history[0].metadata, message.metadata);
        assert_eq!(loaded.artifacts[0].name.as_deref(), Some(text));
        assert_eq!(step!(storage.get_task_owner(task.id)).unwrap().as_deref(), Some(text));
        assert_eq!(step!(storage.list_tasks(crate::model::Page::ALL, Some(text))).unwrap(), [loaded]);
    }
}

/// A message and artifact just under the default size limit (1 MiB as JSON) are stored exactly.
pub async fn large_payload_round_trips(storage: &dyn Storage) {
    let big: String = "0123456789abcdef🦀".chars().cycle().take(870_000).collect();
    assert!(big.len() > 1_000_000 && big.len() < 1_040_000);
    let message = new_message(&big);
    let task = step!(storage.submit_task(ContextId::new(), &message, None)).unwrap().task;
    let update = TaskUpdate::to(TaskState::Completed)
        .with_artifact(Artifact::new("big", vec![Part::text(big.clone())]));
    step!(storage.update_task(task.id, &update)).unwrap();
    let loaded = load(storage, task.id).await;
    assert_eq!(loaded.history[0].text(), big);
    assert!(matches!(&loaded.artifacts[0].parts[0], Part::Text(t) if t.text == big));
}
