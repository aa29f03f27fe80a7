//! Feedback.

use super::new_task;
use crate::conformance::step;
use crate::error::Error;
use crate::model::{Feedback, TaskId};
use crate::storage::Storage;

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
