//! Scheduler contracts: delivery of every kind of operation, deduplicated enqueues,
//! redelivery of what was not acknowledged, releases that do not count, the delivery limit,
//! lanes, dead letters, competing receivers, closing; and what an operator does (`operations`):
//! the queue's state, dead letters listed, replayed and discarded, pruning.
//!
//! Several cases share one scheduler, so each case recognises its own operations by task id and
//! acknowledges anything else it meets (leftovers of earlier cases).

mod operations;

pub use operations::*;

use std::collections::HashSet;
use std::time::Duration;

use futures_util::StreamExt;

use super::within;
use crate::error::Error;
use crate::model::{
    Action, ContextId, Lane, Lanes, Message, OperationId, TaskId, TaskIdParams, TaskOperation, TaskSendParams,
};
use crate::scheduler::{BatchHint, Delivery, Hold, OperationStream, Scheduler};

/// What a backend promises about timing, for the cases that wait for redelivery.
#[derive(Clone, Copy, Debug)]
pub struct Expectations {
    /// How long after a delivery is dropped it is at the latest delivered again.
    pub redelivery_within: Duration,
    /// The backend's delivery limit before dead-lettering.
    pub max_deliveries: u32,
    /// How long to watch for a delivery that must not come.
    pub quiet_period: Duration,
    /// Whether a delivery left idle (not dropped, not kept alive) is taken over by another
    /// receiver after `redelivery_within` (the backends with an idle time; not memory).
    pub idle_takeover: bool,
}

impl Expectations {
    /// The in-memory scheduler's: immediate redelivery, 5 deliveries, no idle takeover.
    pub const IN_MEMORY: Self = Self {
        redelivery_within: Duration::from_secs(1),
        max_deliveries: 5,
        quiet_period: Duration::from_millis(200),
        idle_takeover: false,
    };
}

/// Runs every scheduler case in order, except [`close_ends_streams_and_later_calls`] (which
/// leaves the scheduler closed).
pub async fn run_all(scheduler: &dyn Scheduler, expect: Expectations) {
    stats_count_what_waits_what_is_in_flight_and_what_died(scheduler).await;
    delivers_every_kind_of_operation(scheduler).await;
    duplicate_enqueues_deliver_once(scheduler, expect).await;
    unacknowledged_delivery_is_redelivered(scheduler, expect).await;
    dead_lettered_operation_is_not_redelivered(scheduler, expect).await;
    ack_and_keep_alive_are_idempotent(scheduler, expect).await;
    competing_receivers_share_the_work(scheduler, expect).await;
    acknowledgements_at_once_all_settle(scheduler, expect).await;
    batched_receivers_deliver_each_operation_once(scheduler, expect).await;
    redelivery_stops_after_the_limit(scheduler, expect).await;
    released_delivery_comes_back_uncounted(scheduler, expect).await;
    control_operations_have_a_lane_of_their_own(scheduler, expect).await;
    if expect.idle_takeover {
        an_idle_delivery_is_taken_over_and_its_first_holder_cannot_settle_it(scheduler, expect).await;
    }
    dead_letters_are_listed_replayed_and_discarded(scheduler, expect).await;
    prune_keeps_what_is_not_settled(scheduler, expect).await;
}

fn run_params(task_id: TaskId) -> TaskSendParams {
    TaskSendParams::new(task_id, ContextId::new(), Some(Message::user_text("go").for_task(task_id)))
}

async fn open(scheduler: &dyn Scheduler) -> OperationStream {
    open_lanes(scheduler, Lanes::All).await
}

async fn open_lanes(scheduler: &dyn Scheduler, lanes: Lanes) -> OperationStream {
    within("receive", scheduler.receive(lanes)).await.expect("open the operation stream")
}

async fn enqueue(scheduler: &dyn Scheduler, operation: TaskOperation) -> OperationId {
    within("enqueue", scheduler.enqueue(&operation)).await.expect("enqueue");
    operation.id
}

fn run_op(task_id: TaskId) -> TaskOperation {
    TaskOperation::run(run_params(task_id))
}

/// The next delivery for one of `tasks`, acknowledging any other on the way.
async fn search(stream: &mut OperationStream, tasks: &HashSet<TaskId>) -> Delivery {
    loop {
        let delivery = stream.next().await.expect("the stream ended").expect("a delivery");
        if tasks.contains(&delivery.operation().action.task_id()) {
            return delivery;
        }
        delivery.ack().await.expect("ack a leftover");
    }
}

/// The next delivery for one of `tasks`, acknowledging any other; panics after `wait`.
pub async fn next_for(stream: &mut OperationStream, tasks: &HashSet<TaskId>, wait: Duration) -> Delivery {
    match tokio::time::timeout(wait, search(stream, tasks)).await {
        Ok(delivery) => delivery,
        Err(_) => panic!("conformance: no delivery for {tasks:?} within {wait:?}"),
    }
}

/// Asserts that nothing for `tasks` arrives within `period`.
pub async fn assert_quiet(stream: &mut OperationStream, tasks: &HashSet<TaskId>, period: Duration) {
    if let Ok(delivery) = tokio::time::timeout(period, search(stream, tasks)).await {
        panic!("conformance: unexpected delivery {delivery:?}");
    }
}

/// Opens a stream and enqueues `operation`: the stream, the task to wait on, and the first
/// delivery.
async fn first_delivery(
    scheduler: &dyn Scheduler,
    operation: TaskOperation,
) -> (OperationStream, HashSet<TaskId>, Delivery) {
    let mut stream = open(scheduler).await;
    let wanted = set(&[operation.action.task_id()]);
    enqueue(scheduler, operation).await;
    let delivery = next_for(&mut stream, &wanted, Duration::from_secs(10)).await;
    (stream, wanted, delivery)
}

fn set(ids: &[TaskId]) -> HashSet<TaskId> {
    ids.iter().copied().collect()
}

/// Run, cancel, pause and resume arrive once each, with their parameters and id: the control
/// operations in order, then the run (control operations are served first).
pub async fn delivers_every_kind_of_operation(scheduler: &dyn Scheduler) {
    let mut stream = open(scheduler).await;
    let tasks: Vec<TaskId> = (0..4).map(|_| TaskId::new()).collect();
    let ids: Vec<OperationId> = (0..4).map(|_| OperationId::new()).collect();
    let run = run_params(tasks[0]);
    enqueue(scheduler, TaskOperation::new(ids[0], Action::Run(run.clone()))).await;
    enqueue(scheduler, TaskOperation::new(ids[1], Action::Cancel(TaskIdParams::new(tasks[1])))).await;
    enqueue(scheduler, TaskOperation::new(ids[2], Action::Pause(TaskIdParams::new(tasks[2])))).await;
    enqueue(scheduler, TaskOperation::new(ids[3], Action::Resume(TaskIdParams::new(tasks[3])))).await;
    let wanted = set(&tasks);
    let mut deliveries = Vec::new();
    for _ in 0..4 {
        deliveries.push(next_for(&mut stream, &wanted, Duration::from_secs(10)).await);
    }
    let control: Vec<TaskId> = deliveries
        .iter()
        .map(|d| d.operation().action.task_id())
        .filter(|task_id| *task_id != tasks[0])
        .collect();
    assert_eq!(control, tasks[1..], "control operations in order");
    deliveries.sort_by_key(|d| tasks.iter().position(|t| *t == d.operation().action.task_id()));
    for (index, ((task_id, id), delivery)) in tasks.iter().zip(&ids).zip(deliveries).enumerate() {
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
    let operation = run_op(task_id);
    let id = operation.id;
    for _ in 0..3 {
        enqueue(scheduler, operation.clone()).await;
    }
    let wanted = set(&[task_id]);
    let delivery = next_for(&mut stream, &wanted, Duration::from_secs(10)).await;
    assert_eq!(delivery.operation().id, id);
    within("ack", delivery.ack()).await.unwrap();
    enqueue(scheduler, operation).await;
    assert_quiet(&mut stream, &wanted, expect.quiet_period).await;
}

/// A delivery dropped without acknowledgement comes again with a higher count; once
/// acknowledged it does not.
pub async fn unacknowledged_delivery_is_redelivered(scheduler: &dyn Scheduler, expect: Expectations) {
    let operation = TaskOperation::cancel(TaskIdParams::new(TaskId::new()));
    let id = operation.id;
    let (mut stream, wanted, first) = first_delivery(scheduler, operation).await;
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
    let operation = TaskOperation::pause(TaskIdParams::new(TaskId::new()));
    let (mut stream, wanted, delivery) = first_delivery(scheduler, operation).await;
    within("dead_letter", delivery.dead_letter("conformance: poison")).await.unwrap();
    drop(delivery);
    assert_quiet(&mut stream, &wanted, expect.redelivery_within.max(expect.quiet_period)).await;
}

/// Acknowledging twice and keeping alive are harmless; keep-alive says whether the delivery is
/// still held.
pub async fn ack_and_keep_alive_are_idempotent(scheduler: &dyn Scheduler, expect: Expectations) {
    let operation = TaskOperation::resume(TaskIdParams::new(TaskId::new()));
    let (mut stream, wanted, delivery) = first_delivery(scheduler, operation).await;
    assert_eq!(within("keep_alive", delivery.keep_alive()).await.unwrap(), Hold::Held);
    assert_eq!(within("keep_alive", delivery.keep_alive()).await.unwrap(), Hold::Held);
    within("ack", delivery.ack()).await.unwrap();
    within("ack", delivery.ack()).await.unwrap();
    assert_eq!(within("keep_alive", delivery.keep_alive()).await.unwrap(), Hold::Lost, "settled");
    within("release", delivery.release(Duration::from_millis(1))).await.unwrap();
    drop(delivery);
    assert_quiet(&mut stream, &wanted, expect.redelivery_within.max(expect.quiet_period)).await;
}

/// Deliveries acknowledged at once (a worker finishing many runs together, which backends may
/// write as one group) are all settled, none twice, none lost: nothing is delivered again.
pub async fn acknowledgements_at_once_all_settle(scheduler: &dyn Scheduler, expect: Expectations) {
    let tasks: Vec<TaskId> = (0..24).map(|_| TaskId::new()).collect();
    for task_id in &tasks {
        enqueue(scheduler, run_op(*task_id)).await;
    }
    let wanted = set(&tasks);
    let mut stream = within("receive batched", scheduler.receive_batched(Lanes::All, BatchHint::new(24)))
        .await
        .expect("open the operation stream");
    let mut deliveries = Vec::new();
    while deliveries.len() < tasks.len() {
        deliveries
            .push(next_for(&mut stream, &wanted, expect.redelivery_within + Duration::from_secs(5)).await);
    }
    let acks = deliveries.iter().map(|delivery| within("ack", delivery.ack()));
    for acked in futures_util::future::join_all(acks).await {
        acked.expect("ack");
    }
    // Acknowledging again, together, is as harmless as once.
    let again = deliveries.iter().map(|delivery| within("ack", delivery.ack()));
    for acked in futures_util::future::join_all(again).await {
        acked.expect("a second ack");
    }
    drop(deliveries);
    assert_quiet(&mut stream, &wanted, expect.redelivery_within.max(expect.quiet_period)).await;
}

/// Two receivers split the operations: each is delivered to exactly one of them.
pub async fn competing_receivers_share_the_work(scheduler: &dyn Scheduler, expect: Expectations) {
    let mut a = open(scheduler).await;
    let mut b = open(scheduler).await;
    let tasks: Vec<TaskId> = (0..12).map(|_| TaskId::new()).collect();
    for task_id in &tasks {
        enqueue(scheduler, run_op(*task_id)).await;
    }
    let wanted = set(&tasks);
    collect_each_once(&mut a, &mut b, &wanted, |_, _| {}).await;
    assert_quiet(&mut a, &wanted, expect.quiet_period).await;
}

/// Takes deliveries from `a` and `b` (whichever has one) until every one of `tasks` arrived,
/// calling `each` with the delivery and how many arrived before acknowledging it, and asserts
/// that each arrived exactly once.
async fn collect_each_once(
    a: &mut OperationStream,
    b: &mut OperationStream,
    tasks: &HashSet<TaskId>,
    mut each: impl FnMut(&Delivery, usize),
) {
    let mut seen = Vec::new();
    let collect = async {
        while seen.len() < tasks.len() {
            let delivery = tokio::select! {
                delivery = next_for(a, tasks, Duration::from_secs(20)) => delivery,
                delivery = next_for(b, tasks, Duration::from_secs(20)) => delivery,
            };
            each(&delivery, seen.len());
            seen.push(delivery.operation().action.task_id());
            delivery.ack().await.expect("ack");
        }
    };
    within("collect from two receivers", collect).await;
    let distinct: HashSet<TaskId> = seen.iter().copied().collect();
    assert_eq!((seen.len(), &distinct), (tasks.len(), tasks), "each operation exactly once");
}

/// Two streams reading batches ([`Scheduler::receive_batched`]) of their lane only: every
/// operation arrives once, in one of them, whatever the hint (changed midway), and nothing comes
/// back after all are acknowledged.
pub async fn batched_receivers_deliver_each_operation_once(scheduler: &dyn Scheduler, expect: Expectations) {
    let hint = BatchHint::new(5);
    let batched = |hint: BatchHint| async move {
        within("receive batched", scheduler.receive_batched(Lanes::Runs, hint))
            .await
            .expect("open a batched stream")
    };
    let (mut a, mut b) = (batched(hint.clone()).await, batched(BatchHint::new(3)).await);
    let tasks: Vec<TaskId> = (0..17).map(|_| TaskId::new()).collect();
    let canceled = TaskId::new();
    enqueue(scheduler, TaskOperation::cancel(TaskIdParams::new(canceled))).await;
    for task_id in &tasks {
        enqueue(scheduler, run_op(*task_id)).await;
    }
    let wanted = set(&tasks);
    collect_each_once(&mut a, &mut b, &wanted, |delivery, before| {
        assert_eq!(delivery.operation().action.lane(), Lane::Runs, "a runs stream delivers runs only");
        // A first delivery each: nothing read in a batch was lost and found again later.
        assert_eq!(delivery.delivery_count(), 1, "delivered once, not redelivered");
        hint.set((before + 1) % 4 + 1);
    })
    .await;
    assert_quiet(&mut a, &wanted, expect.quiet_period).await;
    assert_quiet(&mut b, &wanted, expect.quiet_period).await;
    // The cancel is still there for a control receiver.
    let mut control = open_lanes(scheduler, Lanes::Control).await;
    next_for(&mut control, &set(&[canceled]), Duration::from_secs(20))
        .await
        .ack()
        .await
        .expect("ack the cancel");
}

/// For backends that batch (not part of [`run_all`]: the in-memory scheduler has no round trips
/// and ignores the hint): one read takes the hint at once — in flight as a whole after the first
/// delivery, in enqueue order, its lane only — hands the rest out without another read, and a
/// changed hint is read at the next one. Needs a fresh queue and a lease or idle time far longer
/// than the case.
pub async fn a_batched_read_takes_the_hint_at_once(scheduler: &dyn Scheduler) {
    let tasks: Vec<TaskId> = (0..6).map(|_| TaskId::new()).collect();
    for task_id in &tasks {
        enqueue(scheduler, run_op(*task_id)).await;
    }
    enqueue(scheduler, TaskOperation::cancel(TaskIdParams::new(TaskId::new()))).await;
    let stats = async || within("stats", scheduler.stats()).await.expect("stats");
    let hint = BatchHint::new(4);
    let mut stream =
        within("receive batched", scheduler.receive_batched(Lanes::Runs, hint.clone())).await.expect("open");
    let mut next =
        async || within("next", stream.next()).await.expect("the stream ended").expect("a delivery");
    let mut delivered = vec![next().await];
    let after_one = stats().await;
    assert_eq!(
        (after_one.in_flight, after_one.waiting_runs, after_one.waiting_control),
        (4, 2, 1),
        "{after_one:?}"
    );
    for _ in 0..3 {
        delivered.push(next().await);
    }
    assert_eq!(stats().await.in_flight, 4, "handed out from the batch, no new read");
    hint.set(1);
    delivered.push(next().await);
    let after_five = stats().await;
    assert_eq!((after_five.in_flight, after_five.waiting_runs), (5, 1), "the new hint: one more");
    let order: Vec<TaskId> = delivered.iter().map(|d| d.operation().action.task_id()).collect();
    assert_eq!(order, tasks[..5], "in enqueue order");
    for delivery in delivered {
        assert_eq!(delivery.delivery_count(), 1);
        delivery.ack().await.expect("ack");
    }
    let settled = stats().await;
    assert_eq!((settled.in_flight, settled.waiting_runs, settled.waiting_control), (0, 1, 1), "{settled:?}");
}

/// An operation that is never settled is delivered `max_deliveries` times, then once more flagged
/// [`Delivery::over_limit`], then dead-lettered and never delivered again.
pub async fn redelivery_stops_after_the_limit(scheduler: &dyn Scheduler, expect: Expectations) {
    let mut stream = open(scheduler).await;
    let task_id = TaskId::new();
    enqueue(scheduler, run_op(task_id)).await;
    let wanted = set(&[task_id]);
    let wait = expect.redelivery_within + Duration::from_secs(5);
    for count in 1..=expect.max_deliveries + 1 {
        let delivery = next_for(&mut stream, &wanted, wait).await;
        assert_eq!(delivery.delivery_count(), count);
        assert_eq!(delivery.over_limit(), count > expect.max_deliveries, "delivery {count}");
        drop(delivery);
    }
    assert_quiet(&mut stream, &wanted, expect.redelivery_within + expect.quiet_period).await;
}

/// A released delivery comes back after its delay (not before), with the same delivery count,
/// however often it is released; settling after a release changes nothing.
pub async fn released_delivery_comes_back_uncounted(scheduler: &dyn Scheduler, expect: Expectations) {
    let mut stream = open(scheduler).await;
    let task_id = TaskId::new();
    let id = enqueue(scheduler, run_op(task_id)).await;
    let wanted = set(&[task_id]);
    let delay = Duration::from_millis(300);
    for _ in 0..expect.max_deliveries + 2 {
        let delivery =
            next_for(&mut stream, &wanted, expect.redelivery_within + Duration::from_secs(5)).await;
        assert_eq!(
            (delivery.operation().id, delivery.delivery_count()),
            (id, 1),
            "releases are not deliveries"
        );
        assert!(!delivery.over_limit());
        let released = tokio::time::Instant::now();
        within("release", delivery.release(delay)).await.unwrap();
        within("release", delivery.release(delay)).await.unwrap();
        assert_eq!(within("keep_alive", delivery.keep_alive()).await.unwrap(), Hold::Lost, "released");
        drop(delivery);
        let again = next_for(&mut stream, &wanted, expect.redelivery_within + Duration::from_secs(5)).await;
        // Redis counts idle time in whole milliseconds: allow one.
        assert!(
            released.elapsed() + Duration::from_millis(1) >= delay,
            "came back after {:?}",
            released.elapsed()
        );
        assert_eq!(again.delivery_count(), 1);
        within("release", again.release(Duration::from_millis(1))).await.unwrap();
    }
    let last = next_for(&mut stream, &wanted, expect.redelivery_within + Duration::from_secs(5)).await;
    within("ack", last.ack()).await.unwrap();
    assert_quiet(&mut stream, &wanted, expect.redelivery_within.max(expect.quiet_period)).await;
}

/// Control operations travel in a lane of their own: a control receiver gets them while runs
/// wait unread, a runs receiver never sees them, and an all-lanes receiver gets both.
pub async fn control_operations_have_a_lane_of_their_own(scheduler: &dyn Scheduler, expect: Expectations) {
    let mut control = open_lanes(scheduler, Lanes::Control).await;
    let run_task = TaskId::new();
    let cancel_task = TaskId::new();
    enqueue(scheduler, run_op(run_task)).await;
    enqueue(scheduler, TaskOperation::cancel(TaskIdParams::new(cancel_task))).await;
    let both = set(&[run_task, cancel_task]);
    let delivery = next_for(&mut control, &both, Duration::from_secs(10)).await;
    assert_eq!(delivery.operation().action.task_id(), cancel_task, "the control lane has the cancel only");
    within("ack", delivery.ack()).await.unwrap();
    assert_quiet(&mut control, &both, expect.quiet_period).await;
    let mut runs = open_lanes(scheduler, Lanes::Runs).await;
    let delivery = next_for(&mut runs, &both, Duration::from_secs(10)).await;
    assert_eq!(delivery.operation().action.task_id(), run_task, "the runs lane has the run");
    within("ack", delivery.ack()).await.unwrap();
    drop(runs);
    let pause_task = TaskId::new();
    enqueue(scheduler, TaskOperation::pause(TaskIdParams::new(pause_task))).await;
    let mut runs = open_lanes(scheduler, Lanes::Runs).await;
    assert_quiet(&mut runs, &set(&[pause_task]), expect.quiet_period).await;
    let delivery = next_for(&mut control, &set(&[pause_task]), Duration::from_secs(10)).await;
    within("ack", delivery.ack()).await.unwrap();
}

/// A delivery left idle (neither settled nor kept alive) goes to another receiver; its first
/// holder then learns it lost it, and cannot settle it from under the new holder.
pub async fn an_idle_delivery_is_taken_over_and_its_first_holder_cannot_settle_it(
    scheduler: &dyn Scheduler,
    expect: Expectations,
) {
    let mut first = open(scheduler).await;
    let mut second = open(scheduler).await;
    let task_id = TaskId::new();
    enqueue(scheduler, run_op(task_id)).await;
    let wanted = set(&[task_id]);
    let wait = expect.redelivery_within + Duration::from_secs(5);
    let held = tokio::select! {
        delivery = next_for(&mut first, &wanted, wait) => delivery,
        delivery = next_for(&mut second, &wanted, wait) => delivery,
    };
    let taken = tokio::select! {
        delivery = next_for(&mut first, &wanted, wait) => delivery,
        delivery = next_for(&mut second, &wanted, wait) => delivery,
    };
    assert_eq!(taken.delivery_count(), 2);
    assert_eq!(within("keep_alive", held.keep_alive()).await.unwrap(), Hold::Lost, "taken over");
    within("ack", held.ack()).await.unwrap();
    within("release", held.release(Duration::from_millis(1))).await.unwrap();
    assert_eq!(within("keep_alive", taken.keep_alive()).await.unwrap(), Hold::Held, "still the new holder's");
    within("ack", taken.ack()).await.unwrap();
    assert_quiet(&mut first, &wanted, expect.redelivery_within.max(expect.quiet_period)).await;
}

/// Closing ends open streams after one [`Error::Closed`] and makes later calls fail with it.
/// Leaves the scheduler closed: run it last, on a scheduler of its own.
pub async fn close_ends_streams_and_later_calls(scheduler: &dyn Scheduler) {
    let mut stream = open(scheduler).await;
    within("close", scheduler.close()).await.expect("close");
    within("close", scheduler.close()).await.expect("close is idempotent");
    let mut ended = false;
    let drain = async {
        while let Some(item) = stream.next().await {
            match item {
                Ok(delivery) => drop(delivery.ack().await),
                Err(Error::Closed(_)) => ended = true,
                Err(other) => panic!("conformance: unexpected error after close: {other}"),
            }
        }
    };
    within("the stream ends after close", drain).await;
    assert!(ended, "the stream reports Closed before it ends");
    let refused = within("enqueue", scheduler.enqueue(&run_op(TaskId::new()))).await;
    assert!(matches!(refused, Err(Error::Closed(_))), "{refused:?}");
    assert!(matches!(within("receive", scheduler.receive(Lanes::All)).await, Err(Error::Closed(_))));
    assert!(matches!(within("stats", scheduler.stats()).await, Err(Error::Closed(_))));
    let dead = within("dead_letters", scheduler.dead_letters(crate::model::Page::ALL)).await;
    assert!(matches!(dead, Err(Error::Closed(_))), "{dead:?}");
}
