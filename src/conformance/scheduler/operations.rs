//! The operator's contracts: the queue's state, dead letters listed, replayed and discarded,
//! acknowledged operations pruned.

use std::time::Duration;

use chrono::{TimeDelta, Utc};

use super::{assert_quiet, enqueue, next_for, open, run_op, set};
use crate::conformance::within;
use crate::model::{
    DeadLetter, DeadLetterId, OperationId, Page, QueueStats, TaskId, TaskIdParams, TaskOperation,
};
use crate::scheduler::Scheduler;

async fn stats(scheduler: &dyn Scheduler) -> QueueStats {
    within("stats", scheduler.stats()).await.expect("stats")
}

async fn dead_letters(scheduler: &dyn Scheduler, page: Page) -> Vec<DeadLetter> {
    within("dead_letters", scheduler.dead_letters(page)).await.expect("dead_letters")
}

/// Operations enqueued and not received wait in their lane, with an age; received ones are in
/// flight until settled; a dead-lettered one is counted as such. Run it while no other receiver
/// is open.
pub async fn stats_count_what_waits_what_is_in_flight_and_what_died(scheduler: &dyn Scheduler) {
    let before = stats(scheduler).await;
    let (run_task, control_task) = (TaskId::new(), TaskId::new());
    enqueue(scheduler, run_op(run_task)).await;
    enqueue(scheduler, TaskOperation::cancel(TaskIdParams::new(control_task))).await;
    let queued = stats(scheduler).await;
    assert_eq!(queued.waiting_runs, before.waiting_runs + 1, "{queued:?}");
    assert_eq!(queued.waiting_control, before.waiting_control + 1, "{queued:?}");
    assert!(queued.oldest_waiting_age.is_some(), "{queued:?}");

    let mut stream = open(scheduler).await;
    let wait = Duration::from_secs(10);
    let control = next_for(&mut stream, &set(&[control_task]), wait).await;
    let run = next_for(&mut stream, &set(&[run_task]), wait).await;
    let flying = stats(scheduler).await;
    assert_eq!(flying.waiting(), queued.waiting() - 2, "{flying:?}");
    assert_eq!(flying.in_flight, queued.in_flight + 2, "{flying:?}");

    within("dead_letter", control.dead_letter("conformance: counted")).await.unwrap();
    let buried = stats(scheduler).await;
    assert_eq!((buried.in_flight, buried.dead_letters), (flying.in_flight - 1, flying.dead_letters + 1));
    within("ack", run.ack()).await.unwrap();
    assert_eq!(stats(scheduler).await.in_flight, flying.in_flight - 2);
}

/// A dead letter is listed with its operation, task, deliveries, reason and time, in the order
/// they died, and paged; a replay delivers it again under its operation id with its count back
/// at zero, once however often it is asked for; a discarded one is gone and stays settled.
pub async fn dead_letters_are_listed_replayed_and_discarded(
    scheduler: &dyn Scheduler,
    expect: super::Expectations,
) {
    let mut stream = open(scheduler).await;
    let started = Utc::now() - TimeDelta::seconds(5);
    let (replayed_task, discarded_task) = (TaskId::new(), TaskId::new());
    let run = run_op(replayed_task);
    let cancel = TaskOperation::cancel(TaskIdParams::new(discarded_task));
    enqueue(scheduler, run.clone()).await;
    enqueue(scheduler, cancel.clone()).await;
    let wanted = set(&[replayed_task, discarded_task]);
    let wait = expect.redelivery_within + Duration::from_secs(5);

    // The cancel dies at its first delivery; the run at its second (its first receiver crashed).
    let delivery = next_for(&mut stream, &set(&[discarded_task]), wait).await;
    within("dead_letter", delivery.dead_letter("conformance: cannot cancel")).await.unwrap();
    drop(next_for(&mut stream, &set(&[replayed_task]), wait).await);
    let delivery = next_for(&mut stream, &set(&[replayed_task]), wait).await;
    assert_eq!(delivery.delivery_count(), 2);
    within("dead_letter", delivery.dead_letter("conformance: poison")).await.unwrap();

    let all = dead_letters(scheduler, Page::ALL).await;
    let ours: Vec<&DeadLetter> =
        all.iter().filter(|dead| dead.task_id.is_some_and(|task| wanted.contains(&task))).collect();
    assert_eq!(ours.len(), 2, "{all:#?}");
    let (dead_cancel, dead_run) = (ours[0].clone(), ours[1].clone());
    assert_eq!(dead_cancel.operation.as_ref(), Some(&cancel), "in the order they died");
    assert_eq!((dead_cancel.deliveries, dead_cancel.last_error.as_str()), (1, "conformance: cannot cancel"));
    assert_eq!(dead_run.operation.as_ref(), Some(&run));
    assert_eq!(dead_run.task_id, Some(replayed_task));
    assert_eq!((dead_run.deliveries, dead_run.last_error.as_str()), (2, "conformance: poison"));
    let now = Utc::now() + TimeDelta::seconds(5);
    assert!(dead_run.dead_at > started && dead_run.dead_at < now, "{:?}", dead_run.dead_at);
    let at = all.iter().position(|dead| dead.id == dead_run.id).unwrap();
    assert_eq!(dead_letters(scheduler, Page::new(at, 1)).await, std::slice::from_ref(&dead_run), "paged");
    assert!(dead_letters(scheduler, Page::first(0)).await.is_empty());
    assert!(stats(scheduler).await.dead_letters >= 2);

    for unknown in
        [DeadLetterId::from(OperationId::new()), DeadLetterId::from("0-1"), DeadLetterId::from("x")]
    {
        assert!(!within("replay", scheduler.replay_dead_letter(&unknown)).await.unwrap(), "{unknown}");
        assert!(!within("discard", scheduler.discard_dead_letter(&unknown)).await.unwrap(), "{unknown}");
    }

    assert!(within("replay", scheduler.replay_dead_letter(&dead_run.id)).await.unwrap());
    assert!(!within("replay", scheduler.replay_dead_letter(&dead_run.id)).await.unwrap(), "replayed once");
    // Queued again under its id: an enqueue of it now is a duplicate.
    enqueue(scheduler, run.clone()).await;
    let again = next_for(&mut stream, &wanted, wait).await;
    assert_eq!(again.operation(), &run);
    assert_eq!((again.delivery_count(), again.over_limit()), (1, false), "counted from zero");
    within("ack", again.ack()).await.unwrap();

    assert!(within("discard", scheduler.discard_dead_letter(&dead_cancel.id)).await.unwrap());
    assert!(!within("discard", scheduler.discard_dead_letter(&dead_cancel.id)).await.unwrap());
    assert!(!within("replay", scheduler.replay_dead_letter(&dead_cancel.id)).await.unwrap(), "discarded");
    let left = dead_letters(scheduler, Page::ALL).await;
    assert!(!left.iter().any(|dead| dead.id == dead_run.id || dead.id == dead_cancel.id), "{left:#?}");
    // The discarded operation counts as settled: enqueueing it again is a duplicate.
    enqueue(scheduler, cancel).await;
    assert_quiet(&mut stream, &wanted, expect.redelivery_within.max(expect.quiet_period)).await;
}

/// Pruning, even of everything acknowledged, leaves queued, in-flight and dead operations alone.
/// It forgets ids: run it last.
pub async fn prune_keeps_what_is_not_settled(scheduler: &dyn Scheduler, expect: super::Expectations) {
    let mut stream = open(scheduler).await;
    let (held_task, queued_task, dead_task) = (TaskId::new(), TaskId::new(), TaskId::new());
    let wait = expect.redelivery_within + Duration::from_secs(5);
    enqueue(scheduler, TaskOperation::pause(TaskIdParams::new(dead_task))).await;
    let dying = next_for(&mut stream, &set(&[dead_task]), wait).await;
    within("dead_letter", dying.dead_letter("conformance: kept")).await.unwrap();
    let held_run = run_op(held_task);
    enqueue(scheduler, held_run.clone()).await;
    let held = next_for(&mut stream, &set(&[held_task]), wait).await;
    // Received and kept by nobody yet: only a queued operation.
    enqueue(scheduler, run_op(queued_task)).await;

    within("prune", scheduler.prune(Duration::ZERO, 10_000)).await.expect("prune");
    assert!(within("prune", scheduler.prune(Duration::ZERO, 1)).await.expect("prune") <= 1, "bounded");

    let dead = dead_letters(scheduler, Page::ALL).await;
    assert!(dead.iter().any(|dead| dead.task_id == Some(dead_task)), "the dead letter is kept");
    enqueue(scheduler, held_run).await;
    within("ack", held.ack()).await.unwrap();
    let queued = next_for(&mut stream, &set(&[queued_task]), wait).await;
    within("ack", queued.ack()).await.unwrap();
    assert_quiet(&mut stream, &set(&[held_task, queued_task]), expect.quiet_period).await;
}
