//! Scheduler contracts: delivery of every kind of operation, deduplicated enqueues,
//! redelivery of what was not acknowledged, dead letters, competing receivers.
//!
//! Several cases share one scheduler, so each case recognises its own operations by task id and
//! acknowledges anything else it meets (leftovers of earlier cases).

use std::collections::HashSet;
use std::time::Duration;

use futures_util::StreamExt;

use super::within;
use crate::model::{Action, ContextId, Message, OperationId, TaskId, TaskIdParams, TaskSendParams};
use crate::scheduler::{Delivery, OperationStream, Scheduler};

/// What a backend promises about timing, for the cases that wait for redelivery.
#[derive(Clone, Copy, Debug)]
pub struct Expectations {
    /// How long after a delivery is dropped it is at the latest delivered again.
    pub redelivery_within: Duration,
    /// The backend's delivery limit before dead-lettering.
    pub max_deliveries: u32,
    /// How long to watch for a delivery that must not come.
    pub quiet_period: Duration,
}

impl Expectations {
    /// The in-memory scheduler's: immediate redelivery, 5 deliveries.
    pub const IN_MEMORY: Self = Self {
        redelivery_within: Duration::from_secs(1),
        max_deliveries: 5,
        quiet_period: Duration::from_millis(200),
    };
}

/// Runs every scheduler case in order.
pub async fn run_all(scheduler: &dyn Scheduler, expect: Expectations) {
    delivers_every_kind_of_operation(scheduler).await;
    duplicate_enqueues_deliver_once(scheduler, expect).await;
    unacknowledged_delivery_is_redelivered(scheduler, expect).await;
    dead_lettered_operation_is_not_redelivered(scheduler, expect).await;
    ack_and_keep_alive_are_idempotent(scheduler, expect).await;
    competing_receivers_share_the_work(scheduler, expect).await;
    redelivery_stops_after_the_limit(scheduler, expect).await;
}

fn run_params(task_id: TaskId) -> TaskSendParams {
    TaskSendParams::new(task_id, ContextId::new(), Some(Message::user_text("go").for_task(task_id)))
}

async fn open(scheduler: &dyn Scheduler) -> OperationStream {
    within("receive_task_operations", scheduler.receive_task_operations())
        .await
        .expect("open the operation stream")
}

/// The next delivery for one of `tasks`, acknowledging any other; panics after `wait`.
pub async fn next_for(stream: &mut OperationStream, tasks: &HashSet<TaskId>, wait: Duration) -> Delivery {
    let search = async {
        loop {
            let delivery = stream.next().await.expect("the stream ended").expect("a delivery");
            if tasks.contains(&delivery.operation().action.task_id()) {
                return delivery;
            }
            delivery.ack().await.expect("ack a leftover");
        }
    };
    match tokio::time::timeout(wait, search).await {
        Ok(delivery) => delivery,
        Err(_) => panic!("conformance: no delivery for {tasks:?} within {wait:?}"),
    }
}

/// Asserts that nothing for `tasks` arrives within `period`.
pub async fn assert_quiet(stream: &mut OperationStream, tasks: &HashSet<TaskId>, period: Duration) {
    let search = async {
        loop {
            let delivery = stream.next().await.expect("the stream ended").expect("a delivery");
            if tasks.contains(&delivery.operation().action.task_id()) {
                return delivery;
            }
            delivery.ack().await.expect("ack a leftover");
        }
    };
    if let Ok(delivery) = tokio::time::timeout(period, search).await {
        panic!("conformance: unexpected delivery {delivery:?}");
    }
}

fn set(ids: &[TaskId]) -> HashSet<TaskId> {
    ids.iter().copied().collect()
}

/// Run, cancel, pause and resume arrive once each, in order, with their parameters and id.
pub async fn delivers_every_kind_of_operation(scheduler: &dyn Scheduler) {
    let mut stream = open(scheduler).await;
    let tasks: Vec<TaskId> = (0..4).map(|_| TaskId::new()).collect();
    let ids: Vec<OperationId> = (0..4).map(|_| OperationId::new()).collect();
    let run = run_params(tasks[0]);
    within("run_task", scheduler.run_task(ids[0], &run)).await.unwrap();
    within("cancel_task", scheduler.cancel_task(ids[1], &TaskIdParams::new(tasks[1]))).await.unwrap();
    within("pause_task", scheduler.pause_task(ids[2], &TaskIdParams::new(tasks[2]))).await.unwrap();
    within("resume_task", scheduler.resume_task(ids[3], &TaskIdParams::new(tasks[3]))).await.unwrap();
    let wanted = set(&tasks);
    for (index, (task_id, id)) in tasks.iter().zip(&ids).enumerate() {
        let delivery = next_for(&mut stream, &wanted, Duration::from_secs(10)).await;
        let operation = delivery.operation();
        assert_eq!((operation.id, operation.action.task_id()), (*id, *task_id), "operation {index} in order");
        assert_eq!(delivery.delivery_count(), 1);
        match (&operation.action, index) {
            (Action::Run(params), 0) => assert_eq!(params, &run),
            (Action::Cancel(_), 1) | (Action::Pause(_), 2) | (Action::Resume(_), 3) => {}
            (other, _) => panic!("operation {index} is {other:?}"),
        }
        within("ack", delivery.ack()).await.unwrap();
    }
}

/// Enqueueing one operation id several times — a retried enqueue — delivers it once, even after
/// it was acknowledged.
pub async fn duplicate_enqueues_deliver_once(scheduler: &dyn Scheduler, expect: Expectations) {
    let mut stream = open(scheduler).await;
    let task_id = TaskId::new();
    let params = run_params(task_id);
    let id = params.operation_id();
    for _ in 0..3 {
        within("run_task", scheduler.run_task(id, &params)).await.unwrap();
    }
    let wanted = set(&[task_id]);
    let delivery = next_for(&mut stream, &wanted, Duration::from_secs(10)).await;
    assert_eq!(delivery.operation().id, id);
    within("ack", delivery.ack()).await.unwrap();
    within("run_task", scheduler.run_task(id, &params)).await.unwrap();
    assert_quiet(&mut stream, &wanted, expect.quiet_period).await;
}

/// A delivery dropped without acknowledgement comes again with a higher count; once
/// acknowledged it does not.
pub async fn unacknowledged_delivery_is_redelivered(scheduler: &dyn Scheduler, expect: Expectations) {
    let mut stream = open(scheduler).await;
    let task_id = TaskId::new();
    let id = OperationId::new();
    within("cancel_task", scheduler.cancel_task(id, &TaskIdParams::new(task_id))).await.unwrap();
    let wanted = set(&[task_id]);
    let first = next_for(&mut stream, &wanted, Duration::from_secs(10)).await;
    assert_eq!(first.delivery_count(), 1);
    drop(first);
    let wait = expect.redelivery_within + Duration::from_secs(5);
    let second = next_for(&mut stream, &wanted, wait).await;
    assert_eq!((second.operation().id, second.delivery_count()), (id, 2));
    within("ack", second.ack()).await.unwrap();
    assert_quiet(&mut stream, &wanted, expect.redelivery_within.max(expect.quiet_period)).await;
}

/// A dead-lettered operation is not delivered again.
pub async fn dead_lettered_operation_is_not_redelivered(scheduler: &dyn Scheduler, expect: Expectations) {
    let mut stream = open(scheduler).await;
    let task_id = TaskId::new();
    within("pause_task", scheduler.pause_task(OperationId::new(), &TaskIdParams::new(task_id)))
        .await
        .unwrap();
    let wanted = set(&[task_id]);
    let delivery = next_for(&mut stream, &wanted, Duration::from_secs(10)).await;
    within("dead_letter", delivery.dead_letter("conformance: poison")).await.unwrap();
    drop(delivery);
    assert_quiet(&mut stream, &wanted, expect.redelivery_within.max(expect.quiet_period)).await;
}

/// Acknowledging twice and keeping alive are harmless.
pub async fn ack_and_keep_alive_are_idempotent(scheduler: &dyn Scheduler, expect: Expectations) {
    let mut stream = open(scheduler).await;
    let task_id = TaskId::new();
    within("resume_task", scheduler.resume_task(OperationId::new(), &TaskIdParams::new(task_id)))
        .await
        .unwrap();
    let wanted = set(&[task_id]);
    let delivery = next_for(&mut stream, &wanted, Duration::from_secs(10)).await;
    within("keep_alive", delivery.keep_alive()).await.unwrap();
    within("keep_alive", delivery.keep_alive()).await.unwrap();
    within("ack", delivery.ack()).await.unwrap();
    within("ack", delivery.ack()).await.unwrap();
    drop(delivery);
    assert_quiet(&mut stream, &wanted, expect.redelivery_within.max(expect.quiet_period)).await;
}

/// Two receivers split the operations: each is delivered to exactly one of them.
pub async fn competing_receivers_share_the_work(scheduler: &dyn Scheduler, expect: Expectations) {
    let mut a = open(scheduler).await;
    let mut b = open(scheduler).await;
    let tasks: Vec<TaskId> = (0..12).map(|_| TaskId::new()).collect();
    for task_id in &tasks {
        within("run_task", scheduler.run_task(OperationId::new(), &run_params(*task_id))).await.unwrap();
    }
    let wanted = set(&tasks);
    let mut seen = Vec::new();
    let collect = async {
        while seen.len() < tasks.len() {
            let delivery = tokio::select! {
                delivery = next_for(&mut a, &wanted, Duration::from_secs(20)) => delivery,
                delivery = next_for(&mut b, &wanted, Duration::from_secs(20)) => delivery,
            };
            seen.push(delivery.operation().action.task_id());
            delivery.ack().await.expect("ack");
        }
    };
    within("collect from two receivers", collect).await;
    let distinct: HashSet<TaskId> = seen.iter().copied().collect();
    assert_eq!((seen.len(), distinct), (tasks.len(), wanted.clone()), "each operation exactly once");
    assert_quiet(&mut a, &wanted, expect.quiet_period).await;
}

/// An operation that is never acknowledged is delivered `max_deliveries` times, then dead-lettered
/// and never delivered again.
pub async fn redelivery_stops_after_the_limit(scheduler: &dyn Scheduler, expect: Expectations) {
    let mut stream = open(scheduler).await;
    let task_id = TaskId::new();
    within("run_task", scheduler.run_task(OperationId::new(), &run_params(task_id))).await.unwrap();
    let wanted = set(&[task_id]);
    let wait = expect.redelivery_within + Duration::from_secs(5);
    for count in 1..=expect.max_deliveries {
        let delivery = next_for(&mut stream, &wanted, wait).await;
        assert_eq!(delivery.delivery_count(), count);
        drop(delivery);
    }
    assert_quiet(&mut stream, &wanted, expect.redelivery_within + expect.quiet_period).await;
}
