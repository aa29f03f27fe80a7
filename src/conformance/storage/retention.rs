//! Failed notifications, kept for operators, and pruning of tasks that finished long ago.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{SubsecRound, Utc};
use uuid::Uuid;

use super::{load, new_message, new_task, set_state};
use crate::conformance::step;
use crate::error::Error;
use crate::model::{
    ContextId, FailedNotification, FailureReason, Feedback, Message, Page, PushNotificationConfig, Task,
    TaskId, TaskState,
};
use crate::storage::Storage;

/// A failed notification about `task`'s status.
pub(super) fn failure(task: &Task) -> FailedNotification {
    failed(task, FailureReason::Exhausted, 4)
}

fn failed(task: &Task, reason: FailureReason, attempts: u32) -> FailedNotification {
    FailedNotification {
        notification_id: Uuid::new_v4(),
        task_id: task.id,
        context_id: task.context_id,
        status: task.status.clone(),
        webhook_host: Some("hooks.example:8443".into()),
        attempts,
        reason,
        error: "POST answered 503".into(),
        // Microseconds: what every backend keeps.
        failed_at: Utc::now().trunc_subsecs(6),
    }
}

async fn failures(storage: &dyn Storage) -> Vec<FailedNotification> {
    step!(storage.failed_notifications(Page::ALL)).expect("failed_notifications")
}

/// One record per notification, in the order first recorded (a replacement keeps its place),
/// paged; recording needs the task; removing reports whether it removed; they go with their task.
pub async fn failed_notifications_are_kept_listed_and_removed(storage: &dyn Storage) {
    let (a, b) = (new_task(storage, None).await.task, new_task(storage, None).await.task);
    let first = failed(&a, FailureReason::Exhausted, 4);
    let second = failed(&b, FailureReason::Rejected, 1);
    step!(storage.record_failed_notification(&first)).unwrap();
    step!(storage.record_failed_notification(&second)).unwrap();
    let again = FailedNotification { attempts: 8, error: "still 503".into(), ..first.clone() };
    step!(storage.record_failed_notification(&again)).unwrap();
    step!(storage.record_failed_notification(&again)).unwrap();

    let ids: HashSet<Uuid> = [first.notification_id, second.notification_id].into();
    let all = failures(storage).await;
    let ours: Vec<&FailedNotification> = all.iter().filter(|f| ids.contains(&f.notification_id)).collect();
    assert_eq!(ours, [&again, &second], "replaced in place, in the order first recorded");
    let at = all.iter().position(|f| *f == again).unwrap();
    assert_eq!(step!(storage.failed_notifications(Page::new(at, 1))).unwrap(), std::slice::from_ref(&again));
    assert!(step!(storage.failed_notifications(Page::first(0))).unwrap().is_empty());

    let orphan = failed(
        &Task::submitted(TaskId::new(), ContextId::new(), new_message("?")),
        FailureReason::Storage,
        0,
    );
    let err = step!(storage.record_failed_notification(&orphan)).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");

    assert!(step!(storage.remove_failed_notification(first.notification_id)).unwrap());
    assert!(!step!(storage.remove_failed_notification(first.notification_id)).unwrap(), "removed once");
    assert!(!step!(storage.remove_failed_notification(Uuid::new_v4())).unwrap());
    let left = failures(storage).await;
    assert!(!left.iter().any(|f| f.notification_id == first.notification_id));
    assert!(left.contains(&second));

    step!(storage.clear_context(b.context_id)).unwrap();
    assert!(!failures(storage).await.iter().any(|f| f.task_id == b.id), "gone with the task");
}

/// Terminal tasks finished before the cutoff go, the longest finished first and at most `limit`
/// a call, with their webhook config, feedback and failed notifications, and their context when
/// they were its last tasks; waiting and running tasks, and contexts with tasks left, stay.
/// Deletes every finished task: run it last.
pub async fn prune_tasks_deletes_what_finished_long_ago_with_its_records(storage: &dyn Storage) {
    // A context keeping a running task beside a finished one.
    let done = new_task(storage, None).await.task;
    let second = Message::user_text("still going").for_task(TaskId::new());
    let running = step!(storage.submit_task(done.context_id, &second, None)).unwrap().task;
    set_state(storage, &running, TaskState::Working).await;
    let done = set_state(storage, &done, TaskState::Completed).await;
    // A context whose only task failed, with everything a task can have.
    let lone = new_task(storage, None).await.task;
    step!(storage.save_webhook_config(lone.id, &PushNotificationConfig::new("https://hooks.example/x")))
        .unwrap();
    step!(storage.store_task_feedback(&Feedback::new(lone.id, "meh", Some(2)))).unwrap();
    step!(storage.record_failed_notification(&failure(&lone))).unwrap();
    let lone = set_state(storage, &lone, TaskState::Failed).await;
    let waiting = new_task(storage, None).await.task;

    step!(storage.prune_tasks(Duration::from_secs(3600), 10_000)).unwrap();
    for task in [&done, &running, &lone, &waiting] {
        load(storage, task.id).await;
    }
    assert!(step!(storage.prune_tasks(Duration::ZERO, 1)).unwrap() <= 1, "at most `limit`");
    for _ in 0..1000 {
        if step!(storage.prune_tasks(Duration::ZERO, 100)).unwrap() == 0 {
            break;
        }
    }

    for gone in [&done, &lone] {
        assert!(step!(storage.load_task(gone.id, None)).unwrap().is_none(), "{:?}", gone.status.state);
    }
    assert_eq!(load(storage, running.id).await.status.state, TaskState::Working);
    assert_eq!(load(storage, waiting.id).await.status.state, TaskState::Submitted);
    let kept = step!(storage.load_context(done.context_id)).unwrap().expect("a context with tasks left");
    assert_eq!(kept.task_ids, [running.id]);
    assert!(step!(storage.load_context(lone.context_id)).unwrap().is_none(), "left without tasks");
    assert!(step!(storage.load_webhook_config(lone.id)).unwrap().is_none());
    assert!(step!(storage.get_task_feedback(lone.id)).unwrap().is_empty());
    assert!(!failures(storage).await.iter().any(|f| f.task_id == lone.id));
    let finished = step!(storage.count_tasks(Some(TaskState::Completed))).unwrap()
        + step!(storage.count_tasks(Some(TaskState::Failed))).unwrap();
    assert_eq!(finished, 0, "every finished task went");
}
