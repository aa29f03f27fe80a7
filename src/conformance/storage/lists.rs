//! Listing and counting: one ordering (oldest first), one pagination, owner filters.

use super::{new_task, set_state};
use crate::conformance::{step, unique_owner};
use crate::model::{ContextId, Message, Page, TaskId, TaskState};
use crate::storage::Storage;

/// `list_tasks` is oldest first, windowed by `Page`, filtered by owner when one is given.
pub async fn list_tasks_orders_oldest_first_and_pages(storage: &dyn Storage) {
    let owner = unique_owner();
    let other = unique_owner();
    let mut mine = Vec::new();
    for i in 0..5 {
        mine.push(new_task(storage, Some(&owner)).await.task.id);
        if i == 2 {
            new_task(storage, Some(&other)).await;
        }
    }
    let ids = |tasks: Vec<crate::model::Task>| tasks.into_iter().map(|t| t.id).collect::<Vec<TaskId>>();
    assert_eq!(ids(step!(storage.list_tasks(Page::ALL, Some(&owner))).unwrap()), mine);
    assert_eq!(ids(step!(storage.list_tasks(Page::new(1, 2), Some(&owner))).unwrap()), mine[1..3]);
    assert_eq!(ids(step!(storage.list_tasks(Page::new(3, 10), Some(&owner))).unwrap()), mine[3..]);
    assert!(step!(storage.list_tasks(Page::first(0), Some(&owner))).unwrap().is_empty());
    assert!(step!(storage.list_tasks(Page::new(5, 1), Some(&owner))).unwrap().is_empty());
    assert_eq!(step!(storage.list_tasks(Page::ALL, Some(&other))).unwrap().len(), 1);
    assert!(step!(storage.list_tasks(Page::ALL, Some(&unique_owner()))).unwrap().is_empty());
    let everyone = ids(step!(storage.list_tasks(Page::ALL, None)).unwrap());
    let positions: Vec<usize> =
        mine.iter().map(|id| everyone.iter().position(|e| e == id).expect("unfiltered lists all")).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "oldest first without a filter too");
}

/// `count_tasks` counts all tasks, or those in one state.
pub async fn count_tasks_by_state(storage: &dyn Storage) {
    step!(storage.clear_all()).unwrap();
    let a = new_task(storage, None).await.task;
    new_task(storage, None).await;
    new_task(storage, Some(&unique_owner())).await;
    set_state(storage, &a, TaskState::Working).await;
    assert_eq!(step!(storage.count_tasks(None)).unwrap(), 3);
    assert_eq!(step!(storage.count_tasks(Some(TaskState::Submitted))).unwrap(), 2);
    assert_eq!(step!(storage.count_tasks(Some(TaskState::Working))).unwrap(), 1);
    assert_eq!(step!(storage.count_tasks(Some(TaskState::Completed))).unwrap(), 0);
}

/// `list_tasks_by_context` lists one context's tasks oldest first, windowed, filtered by owner.
pub async fn list_tasks_by_context_orders_and_filters(storage: &dyn Storage) {
    let owner = unique_owner();
    let context_id = ContextId::new();
    let mut ids = Vec::new();
    for i in 0..4 {
        let message = Message::user_text(format!("task {i}")).for_task(TaskId::new());
        ids.push(step!(storage.submit_task(context_id, &message, Some(&owner))).unwrap().task.id);
        new_task(storage, Some(&owner)).await; // another context, same owner
    }
    let listed = |tasks: Vec<crate::model::Task>| tasks.into_iter().map(|t| t.id).collect::<Vec<TaskId>>();
    assert_eq!(listed(step!(storage.list_tasks_by_context(context_id, Page::ALL, None)).unwrap()), ids);
    assert_eq!(
        listed(step!(storage.list_tasks_by_context(context_id, Page::ALL, Some(&owner))).unwrap()),
        ids
    );
    assert_eq!(
        listed(step!(storage.list_tasks_by_context(context_id, Page::new(1, 2), None)).unwrap()),
        ids[1..3]
    );
    assert!(step!(storage.list_tasks_by_context(context_id, Page::first(0), None)).unwrap().is_empty());
    assert!(
        step!(storage.list_tasks_by_context(context_id, Page::ALL, Some(&unique_owner())))
            .unwrap()
            .is_empty()
    );
    assert!(step!(storage.list_tasks_by_context(ContextId::new(), Page::ALL, None)).unwrap().is_empty());
}
