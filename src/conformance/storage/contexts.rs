//! Contexts: loading, data, message logs, listing and clearing.

use serde_json::json;

use super::new_task;
use crate::conformance::{step, unique_owner};
use crate::error::Error;
use crate::model::{ContextId, Feedback, Message, Page, PushNotificationConfig, TaskId, metadata};
use crate::storage::Storage;

/// A context lists its tasks oldest first; an unknown context is `None`.
pub async fn load_context_lists_its_tasks(storage: &dyn Storage) {
    let first = new_task(storage, None).await.task;
    let second = Message::user_text("second").for_task(TaskId::new());
    step!(storage.submit_task(first.context_id, &second, None)).unwrap();
    let context = step!(storage.load_context(first.context_id)).unwrap().unwrap();
    assert_eq!(context.context_id, first.context_id);
    assert_eq!(context.task_ids, [first.id, second.task_id.unwrap()]);
    assert!(context.data.is_empty() && context.messages.is_empty());
    assert!(step!(storage.load_context(ContextId::new())).unwrap().is_none());
}

/// `update_context` replaces the data, creates the context for its owner, is idempotent, and
/// refuses other owners.
pub async fn update_context_replaces_data(storage: &dyn Storage) {
    let owner = unique_owner();
    let context_id = ContextId::new();
    let data = metadata([("topic", json!("rust")), ("n", json!(1))]);
    step!(storage.update_context(context_id, &data, Some(&owner))).unwrap();
    step!(storage.update_context(context_id, &data, Some(&owner))).unwrap();
    assert_eq!(step!(storage.load_context(context_id)).unwrap().unwrap().data, data);
    assert_eq!(step!(storage.get_context_owner(context_id)).unwrap().as_deref(), Some(owner.as_str()));
    let replaced = metadata([("topic", json!("go"))]);
    step!(storage.update_context(context_id, &replaced, Some(&owner))).unwrap();
    assert_eq!(step!(storage.load_context(context_id)).unwrap().unwrap().data, replaced);
    let err = step!(storage.update_context(context_id, &data, Some(&unique_owner()))).unwrap_err();
    assert!(matches!(err, Error::Ownership { .. }), "{err:?}");
    assert_eq!(step!(storage.load_context(context_id)).unwrap().unwrap().data, replaced);
}

/// `append_to_context` adds messages once each, creating the context, refusing other owners.
pub async fn append_to_context_skips_known_messages(storage: &dyn Storage) {
    let context_id = ContextId::new();
    let (a, b) = (Message::user_text("a"), Message::agent_text("b"));
    step!(storage.append_to_context(context_id, std::slice::from_ref(&a), None)).unwrap();
    step!(storage.append_to_context(context_id, &[a.clone(), b.clone()], None)).unwrap();
    let context = step!(storage.load_context(context_id)).unwrap().unwrap();
    let ids: Vec<_> = context.messages.iter().map(|m| m.message_id).collect();
    assert_eq!(ids, [a.message_id, b.message_id]);
    assert_eq!(context.messages[0].context_id, Some(context_id));
    let err = step!(storage.append_to_context(context_id, &[Message::user_text("c")], Some(&unique_owner())))
        .unwrap_err();
    assert!(matches!(err, Error::Ownership { .. }), "{err:?}");
    assert_eq!(step!(storage.load_context(context_id)).unwrap().unwrap().messages.len(), 2);
}

/// `list_contexts` is oldest first with task counts and ids, windowed and owner-filtered.
pub async fn list_contexts_orders_and_counts(storage: &dyn Storage) {
    let owner = unique_owner();
    let first = new_task(storage, Some(&owner)).await.task;
    let extra = Message::user_text("another").for_task(TaskId::new());
    step!(storage.submit_task(first.context_id, &extra, Some(&owner))).unwrap();
    let empty = ContextId::new();
    step!(storage.update_context(empty, &metadata([("k", json!(1))]), Some(&owner))).unwrap();
    let third = new_task(storage, Some(&owner)).await.task;
    new_task(storage, Some(&unique_owner())).await;

    let listed = step!(storage.list_contexts(Page::ALL, Some(&owner))).unwrap();
    let ids: Vec<ContextId> = listed.iter().map(|c| c.context_id).collect();
    assert_eq!(ids, [first.context_id, empty, third.context_id]);
    assert_eq!((listed[0].task_count, listed[1].task_count, listed[2].task_count), (2, 0, 1));
    assert_eq!(listed[0].task_ids, [first.id, extra.task_id.unwrap()]);
    assert!(listed[1].task_ids.is_empty());
    let page = step!(storage.list_contexts(Page::new(1, 1), Some(&owner))).unwrap();
    assert_eq!(page.iter().map(|c| c.context_id).collect::<Vec<_>>(), [empty]);
    let all = step!(storage.list_contexts(Page::ALL, None)).unwrap();
    assert!(all.len() >= 4);
}

/// `clear_context` deletes the context, its tasks and their feedback and webhook configs, and
/// nothing else; an unknown context is `NotFound`.
pub async fn clear_context_removes_everything_of_it(storage: &dyn Storage) {
    let doomed = new_task(storage, None).await.task;
    let kept = new_task(storage, None).await.task;
    for task in [&doomed, &kept] {
        step!(storage.save_webhook_config(task.id, &PushNotificationConfig::new("https://hooks.example/x")))
            .unwrap();
        step!(storage.store_task_feedback(&Feedback::new(task.id, "fine", Some(4)))).unwrap();
    }
    step!(storage.clear_context(doomed.context_id)).unwrap();
    assert!(step!(storage.load_task(doomed.id, None)).unwrap().is_none());
    assert!(step!(storage.load_context(doomed.context_id)).unwrap().is_none());
    assert!(step!(storage.load_webhook_config(doomed.id)).unwrap().is_none());
    assert!(step!(storage.get_task_feedback(doomed.id)).unwrap().is_empty());
    assert!(!step!(storage.load_all_webhook_configs()).unwrap().contains_key(&doomed.id));
    assert!(step!(storage.load_task(kept.id, None)).unwrap().is_some());
    assert!(step!(storage.load_webhook_config(kept.id)).unwrap().is_some());
    assert_eq!(step!(storage.get_task_feedback(kept.id)).unwrap().len(), 1);
    for unknown in [doomed.context_id, ContextId::new()] {
        let err = step!(storage.clear_context(unknown)).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    }
}
