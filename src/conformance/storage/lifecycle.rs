//! Clearing everything and closing.

use super::new_task;
use crate::conformance::{step, unique_owner};
use crate::error::Error;
use crate::model::{Feedback, Page, PushNotificationConfig};
use crate::storage::Storage;

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
