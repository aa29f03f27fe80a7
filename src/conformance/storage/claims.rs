//! Claims: taking a task for a run, leases, takeovers, fencing, and the stuck-task listing.

use std::time::Duration;

use chrono::Utc;
use futures_util::future::join_all;

use super::{load, new_message, new_task, set_state};
use crate::conformance::step;
use crate::error::Error;
use crate::model::{
    ClaimOutcome, ClaimRequest, ClaimToken, ContextId, Message, OperationId, RUN_KEY, Renewal, StuckReason,
    Task, TaskId, TaskState, TaskUpdate,
};
use crate::storage::Storage;

const LEASE: Duration = Duration::from_secs(30);

async fn claim(storage: &dyn Storage, task_id: TaskId, request: &ClaimRequest) -> ClaimOutcome {
    step!(storage.claim_task(task_id, request)).expect("claim_task")
}

fn claimed(outcome: ClaimOutcome) -> (Task, bool) {
    match outcome {
        ClaimOutcome::Claimed { task, takeover } => (*task, takeover),
        other => panic!("conformance: expected a claim, got {other:?}"),
    }
}

/// A waiting task is claimed whole: `working`, the run's id in its metadata; a replay of the same
/// claim gets it again; another run finds it held until the lease ends; an unknown task is
/// missing and a task in another state is not claimable.
pub async fn claim_takes_a_waiting_task(storage: &dyn Storage) {
    let submitted = new_task(storage, None).await.task;
    let request = ClaimRequest::new(OperationId::new(), LEASE);
    let before = Utc::now();
    let (task, takeover) = claimed(claim(storage, submitted.id, &request).await);
    assert!(!takeover);
    assert_eq!(task.status.state, TaskState::Working);
    assert_eq!(task.history, submitted.history, "the whole history comes back");
    assert_eq!(task.metadata.get(RUN_KEY).and_then(|v| v.as_str()), Some(request.run.to_string().as_str()));
    assert_eq!(load(storage, task.id).await, task);
    let (again, takeover) = claimed(claim(storage, task.id, &request).await);
    assert!(!takeover && again.status.state == TaskState::Working, "a replay finds its own claim");
    let other = ClaimRequest::new(OperationId::new(), LEASE);
    match claim(storage, task.id, &other).await {
        ClaimOutcome::Held { run, until } => {
            assert_eq!(run, request.run);
            let lease = chrono::TimeDelta::from_std(LEASE).unwrap();
            let slack = chrono::TimeDelta::seconds(5);
            assert!(until > before + lease - slack && until < Utc::now() + lease + slack, "{until}");
        }
        outcome => panic!("conformance: a live claim must be held, got {outcome:?}"),
    }
    assert_eq!(claim(storage, TaskId::new(), &other).await, ClaimOutcome::Missing);
    for state in [TaskState::InputRequired, TaskState::Completed] {
        let task = new_task(storage, None).await.task;
        set_state(storage, &task, state).await;
        assert_eq!(claim(storage, task.id, &other).await, ClaimOutcome::Unclaimable(state));
    }
    let resumed = new_task(storage, None).await.task;
    set_state(storage, &resumed, TaskState::Resumed).await;
    assert!(!claimed(claim(storage, resumed.id, &other).await).1, "a resumed task is claimed");
}

/// Once a claim's lease runs out another run takes the task over with a new token; the old
/// holder's renewals and fenced writes fail from then on, the new holder's succeed.
pub async fn expired_claims_are_taken_over_and_the_old_holder_is_fenced(storage: &dyn Storage) {
    let task = new_task(storage, None).await.task;
    let old = ClaimRequest::new(OperationId::new(), Duration::from_millis(300));
    claimed(claim(storage, task.id, &old).await);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let new = ClaimRequest::new(OperationId::new(), LEASE);
    let (_, takeover) = claimed(claim(storage, task.id, &new).await);
    assert!(takeover, "an expired claim is taken over");
    assert_eq!(step!(storage.renew_claim(task.id, old.token, LEASE)).unwrap(), Renewal::Lost);
    let stale = TaskUpdate::to(TaskState::Completed)
        .with_message(Message::agent_text("stale"))
        .expecting(TaskState::Working)
        .fenced_by(old.token);
    let err = step!(storage.update_task(task.id, &stale)).unwrap_err();
    assert!(matches!(err, Error::Fenced { .. }), "{err:?}");
    assert!(matches!(step!(storage.renew_claim(task.id, new.token, LEASE)).unwrap(), Renewal::Held { .. }));
    let fresh = TaskUpdate::to(TaskState::Completed)
        .with_message(Message::agent_text("fresh"))
        .expecting(TaskState::Working)
        .fenced_by(new.token);
    let done = step!(storage.update_task(task.id, &fresh)).unwrap();
    assert_eq!(done.status.state, TaskState::Completed);
    assert_eq!(step!(storage.update_task(task.id, &fresh)).unwrap(), done, "a replay of the fenced write");
    assert_eq!(step!(storage.renew_claim(task.id, new.token, LEASE)).unwrap(), Renewal::Lost, "finished");
}

/// Renewing moves the lease forward; releasing ends it at once, so the next run takes over
/// without waiting; neither touches a claim held under another token.
pub async fn renew_extends_and_release_ends_a_lease(storage: &dyn Storage) {
    let task = new_task(storage, None).await.task;
    let request = ClaimRequest::new(OperationId::new(), Duration::from_secs(2));
    claimed(claim(storage, task.id, &request).await);
    let Renewal::Held { until } = step!(storage.renew_claim(task.id, request.token, LEASE)).unwrap() else {
        panic!("conformance: the holder renews its claim");
    };
    assert!(until > Utc::now() + chrono::TimeDelta::seconds(20), "renewed for the new lease: {until}");
    assert_eq!(step!(storage.renew_claim(task.id, ClaimToken::new(), LEASE)).unwrap(), Renewal::Lost);
    step!(storage.release_claim(task.id, ClaimToken::new())).unwrap();
    let other = ClaimRequest::new(OperationId::new(), LEASE);
    assert!(
        matches!(claim(storage, task.id, &other).await, ClaimOutcome::Held { .. }),
        "a stranger cannot release"
    );
    step!(storage.release_claim(task.id, request.token)).unwrap();
    step!(storage.release_claim(task.id, request.token)).unwrap();
    assert!(claimed(claim(storage, task.id, &other).await).1, "taken over at once after a release");
    assert_eq!(step!(storage.renew_claim(TaskId::new(), request.token, LEASE)).unwrap(), Renewal::Lost);
}

/// Any write that moves a claimed task out of `working` ends the claim: a cancel, a new message
/// (the task goes back to `submitted` and is claimed afresh), a compare-and-swap.
pub async fn leaving_working_ends_the_claim(storage: &dyn Storage) {
    let canceled = new_task(storage, None).await.task;
    let request = ClaimRequest::new(OperationId::new(), LEASE);
    claimed(claim(storage, canceled.id, &request).await);
    set_state(storage, &canceled, TaskState::Canceled).await;
    assert_eq!(step!(storage.renew_claim(canceled.id, request.token, LEASE)).unwrap(), Renewal::Lost);

    let context_id = ContextId::new();
    let first = new_message("first");
    let task_id = first.task_id.unwrap();
    step!(storage.submit_task(context_id, &first, None)).unwrap();
    claimed(claim(storage, task_id, &request).await);
    let second = Message::user_text("second").for_task(task_id);
    step!(storage.submit_task(context_id, &second, None)).unwrap();
    assert_eq!(step!(storage.renew_claim(task_id, request.token, LEASE)).unwrap(), Renewal::Lost);
    let answer = TaskUpdate::to(TaskState::Completed).expecting(TaskState::Working).fenced_by(request.token);
    assert!(step!(storage.update_task(task_id, &answer)).is_err(), "the old run's answer is refused");
    let next = ClaimRequest::new(OperationId::new(), LEASE);
    let (task, takeover) = claimed(claim(storage, task_id, &next).await);
    assert!(!takeover, "a continued task is claimed afresh");
    assert_eq!(task.history.len(), 2);

    let swapped = new_task(storage, None).await.task;
    claimed(claim(storage, swapped.id, &request).await);
    assert!(
        step!(storage.update_task_state_if(swapped.id, TaskState::Working, TaskState::InputRequired))
            .unwrap()
    );
    assert_eq!(step!(storage.renew_claim(swapped.id, request.token, LEASE)).unwrap(), Renewal::Lost);
}

/// A write fenced on a token applies only while the task is claimed under it.
pub async fn fenced_writes_need_the_claim(storage: &dyn Storage) {
    let task = new_task(storage, None).await.task;
    let unclaimed = TaskUpdate::to(TaskState::Working).fenced_by(ClaimToken::new());
    let err = step!(storage.update_task(task.id, &unclaimed)).unwrap_err();
    assert!(matches!(err, Error::Fenced { .. }), "no claim at all: {err:?}");
    let request = ClaimRequest::new(OperationId::new(), LEASE);
    claimed(claim(storage, task.id, &request).await);
    let progress = TaskUpdate::to(TaskState::Working)
        .with_message(Message::agent_text("halfway"))
        .fenced_by(request.token);
    let stored = step!(storage.update_task(task.id, &progress)).unwrap();
    assert_eq!(stored.history.last().map(Message::text).as_deref(), Some("halfway"));
    assert_eq!(load(storage, task.id).await.history.len(), 2);
    assert!(
        matches!(step!(storage.renew_claim(task.id, request.token, LEASE)).unwrap(), Renewal::Held { .. }),
        "a write that stays in working keeps the claim"
    );
    let foreign = TaskUpdate::to(TaskState::Completed).fenced_by(ClaimToken::new());
    let err = step!(storage.update_task(task.id, &foreign)).unwrap_err();
    assert!(matches!(err, Error::Fenced { .. }), "{err:?}");
    assert_eq!(load(storage, task.id).await.status.state, TaskState::Working, "nothing applied");
}

/// Runs racing to claim one task: exactly one gets it.
pub async fn concurrent_claims_have_one_winner(storage: &dyn Storage) {
    let task = new_task(storage, None).await.task;
    let requests: Vec<ClaimRequest> = (0..8).map(|_| ClaimRequest::new(OperationId::new(), LEASE)).collect();
    let outcomes = join_all(requests.iter().map(|request| claim(storage, task.id, request))).await;
    let winners = outcomes.iter().filter(|o| matches!(o, ClaimOutcome::Claimed { .. })).count();
    let held = outcomes.iter().filter(|o| matches!(o, ClaimOutcome::Held { .. })).count();
    assert_eq!((winners, held), (1, 7), "{outcomes:?}");
}

/// Waiting tasks and working tasks whose lease ended are listed as stuck once they have been so
/// for the threshold, longest stuck first; live, finished and other tasks are not.
pub async fn stuck_tasks_are_listed(storage: &dyn Storage) {
    let first = new_task(storage, None).await.task;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = new_task(storage, None).await.task;
    let live = new_task(storage, None).await.task;
    claimed(claim(storage, live.id, &ClaimRequest::new(OperationId::new(), LEASE)).await);
    let expired = new_task(storage, None).await.task;
    claimed(
        claim(storage, expired.id, &ClaimRequest::new(OperationId::new(), Duration::from_millis(200))).await,
    );
    let done = new_task(storage, None).await.task;
    set_state(storage, &done, TaskState::Completed).await;
    let mine = [first.id, second.id, live.id, expired.id, done.id];
    let listed = |stuck: Vec<crate::model::StuckTask>| -> Vec<(TaskId, StuckReason)> {
        stuck.into_iter().filter(|s| mine.contains(&s.task_id)).map(|s| (s.task_id, s.reason)).collect()
    };
    let fresh = listed(step!(storage.stuck_tasks(Duration::from_secs(3600), 100_000)).unwrap());
    assert!(fresh.is_empty(), "nothing is stuck for an hour yet: {fresh:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stuck = listed(step!(storage.stuck_tasks(Duration::from_millis(100), 100_000)).unwrap());
    assert_eq!(
        stuck,
        [
            (first.id, StuckReason::Waiting),
            (second.id, StuckReason::Waiting),
            (expired.id, StuckReason::LeaseExpired)
        ],
        "waiting ones by age, then the expired lease (which ended last)"
    );
    let limited = step!(storage.stuck_tasks(Duration::ZERO, 1)).unwrap();
    assert_eq!(limited.len(), 1, "the limit bounds the batch");
    let all = step!(storage.stuck_tasks(Duration::ZERO, 100_000)).unwrap();
    assert!(all.windows(2).all(|pair| pair[0].since <= pair[1].since), "longest stuck first");
    let rescue = all.iter().find(|s| s.task_id == first.id).unwrap();
    assert_eq!(rescue.context_id, first.context_id);
    assert_eq!(rescue.state, TaskState::Submitted);
}
