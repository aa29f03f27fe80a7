//! Owners of tasks and contexts.

use super::new_task;
use crate::conformance::{step, unique_owner};
use crate::error::Error;
use crate::model::{ContextId, TaskId};
use crate::storage::Storage;

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
