//! Webhook configs, feedback, owners, clearing and closing.

use super::new_task;
use crate::conformance::{step, unique_owner};
use crate::error::Error;
use crate::model::{ContextId, Feedback, Page, PushNotificationConfig, TaskId};
use crate::storage::Storage;

/// One webhook config per task: save needs the task, replaces, loads, lists, deletes
/// idempotently.
pub async fn webhook_configs(storage: &dyn Storage) {
    let err = step!(storage.save_webhook_config(TaskId::new(), &PushNotificationConfig::new("https://h/x")))
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let task = new_task(storage, None).await.task;
    assert!(step!(storage.load_webhook_config(task.id)).unwrap().is_none());
    let mut config = PushNotificationConfig::new("https://hooks.example/a");
    config.token = Some("t0ken".into());
    step!(storage.save_webhook_config(task.id, &config)).unwrap();
    step!(storage.save_webhook_config(task.id, &config)).unwrap();
    assert_eq!(step!(storage.load_webhook_config(task.id)).unwrap(), Some(config));
    let replacement = PushNotificationConfig::new("https://hooks.example/b");
    step!(storage.save_webhook_config(task.id, &replacement)).unwrap();
    assert_eq!(step!(storage.load_webhook_config(task.id)).unwrap().as_ref(), Some(&replacement));
    assert_eq!(step!(storage.load_all_webhook_configs()).unwrap().get(&task.id), Some(&replacement));
    step!(storage.delete_webhook_config(task.id)).unwrap();
    step!(storage.delete_webhook_config(task.id)).unwrap();
    assert!(step!(storage.load_webhook_config(task.id)).unwrap().is_none());
    assert!(!step!(storage.load_all_webhook_configs()).unwrap().contains_key(&task.id));
}

/// Feedback is appended in order, once per id; it needs the task.
pub async fn feedback_is_stored_once_per_id(storage: &dyn Storage) {
    let err = step!(storage.store_task_feedback(&Feedback::new(TaskId::new(), "?", None))).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let task = new_task(storage, None).await.task;
    assert!(step!(storage.get_task_feedback(task.id)).unwrap().is_empty());
    let first = Feedback::new(task.id, "good", Some(5));
    let second = Feedback::new(task.id, "slow", Some(2));
    step!(storage.store_task_feedback(&first)).unwrap();
    step!(storage.store_task_feedback(&second)).unwrap();
    step!(storage.store_task_feedback(&first)).unwrap();
    let stored = step!(storage.get_task_feedback(task.id)).unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!((stored[0].id, stored[1].id), (first.id, second.id));
    assert_eq!(stored[0].feedback, "good");
    assert_eq!(stored[0].rating, Some(5));
    assert!(step!(storage.get_task_feedback(TaskId::new())).unwrap().is_empty());
}

/// Owners are reported; unowned records report `None`; unknown ones are `NotFound`.
pub async fn owners_are_reported(storage: &dyn Storage) {
    let owner = unique_owner();
    let owned = new_task(storage, Some(&owner)).await.task;
    let unowned = new_task(storage, None).await.task;
    assert_eq!(step!(storage.get_task_owner(owned.id)).unwrap(), Some(owner.clone()));
    assert_eq!(step!(storage.get_context_owner(owned.context_id)).unwrap(), Some(owner));
    assert_eq!(step!(storage.get_task_owner(unowned.id)).unwrap(), None);
    assert_eq!(step!(storage.get_context_owner(unowned.context_id)).unwrap(), None);
    let err = step!(storage.get_task_owner(TaskId::new())).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = step!(storage.get_context_owner(ContextId::new())).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

/// `clear_all` empties everything and may be called again.
pub async fn clear_all_empties_everything(storage: &dyn Storage) {
    let task = new_task(storage, Some(&unique_owner())).await.task;
    step!(storage.save_webhook_config(task.id, &PushNotificationConfig::new("https://h/x"))).unwrap();
    step!(storage.store_task_feedback(&Feedback::new(task.id, "x", None))).unwrap();
    step!(storage.record_failed_notification(&super::retention::failure(&task))).unwrap();
    step!(storage.clear_all()).unwrap();
    step!(storage.clear_all()).unwrap();
    assert_eq!(step!(storage.count_tasks(None)).unwrap(), 0);
    assert!(step!(storage.list_tasks(Page::ALL, None)).unwrap().is_empty());
    assert!(step!(storage.list_contexts(Page::ALL, None)).unwrap().is_empty());
    assert!(step!(storage.load_all_webhook_configs()).unwrap().is_empty());
    assert!(step!(storage.get_task_feedback(task.id)).unwrap().is_empty());
    assert!(step!(storage.failed_notifications(Page::ALL)).unwrap().is_empty());
}

/// After `close`, calls fail with `Closed` (and closing again succeeds). Needs a backend of its
/// own, so [`run_all`](super::run_all) does not call it.
pub async fn close_makes_later_calls_fail(storage: &dyn Storage) {
    let task = new_task(storage, None).await.task;
    step!(storage.close()).unwrap();
    step!(storage.close()).unwrap();
    let err = step!(storage.load_task(task.id, None)).unwrap_err();
    assert!(matches!(err, Error::Closed(_)), "{err:?}");
    let err = step!(storage.list_tasks(Page::ALL, None)).unwrap_err();
    assert!(matches!(err, Error::Closed(_)), "{err:?}");
}
