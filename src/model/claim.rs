//! Claims: a worker's hold on a task while its agent runs, with a lease its heartbeat renews.
//!
//! The rules here are the ones every storage backend applies inside its own atomic section, so
//! that claiming, taking over and fencing behave the same everywhere.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::{
    Action, ClaimToken, ContextId, OperationId, Task, TaskId, TaskOperation, TaskSendParams, TaskState,
};

/// Metadata key holding the id of the run operation that claimed a task, for people reading the
/// task (the fencing token is the [`ClaimToken`], kept beside the task).
pub const RUN_KEY: &str = "bindu.runId";

/// A worker's hold on a `working` task: the token its writes are fenced on, the run operation
/// it serves, and until when nobody else may take it over.
///
/// Stored beside the task (not in it): clients never see it. A task holds a claim only while it
/// is `working`; every write that moves it to another state drops the claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Fresh for every claim and takeover: the fencing token.
    pub token: ClaimToken,
    /// The run operation the holder is handling.
    pub run: OperationId,
    /// The lease: after this instant (the storage's clock) another run may take the task over.
    pub lease_until: DateTime<Utc>,
}

impl Claim {
    /// Whether the lease still runs at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.lease_until > now
    }

    /// Whether a task entering `state` keeps its claim (only `working` does).
    pub fn survives(state: TaskState) -> bool {
        state == TaskState::Working
    }
}

/// What [`Storage::claim_task`](crate::Storage::claim_task) is asked: claim the task for run
/// `run` under `token`, leased for `lease`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClaimRequest {
    /// The fencing token of this claim; a replay with the same token is recognised.
    pub token: ClaimToken,
    /// The run operation being handled.
    pub run: OperationId,
    /// How long the claim lasts unless renewed.
    pub lease: Duration,
}

/// What the claim rule decided for one task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimDecision {
    /// Write the claim: the task was waiting, or its holder's lease ran out (a takeover).
    Take {
        /// Whether another claim is being replaced.
        takeover: bool,
    },
    /// This very request already holds the task (a replay): change nothing.
    Replay,
    /// Another holder's lease is still running.
    Held(Claim),
    /// The task is in a state that is not run (terminal, waiting for input, paused…).
    Unclaimable(TaskState),
}

impl ClaimRequest {
    /// A claim with a fresh token.
    pub fn new(run: OperationId, lease: Duration) -> Self {
        Self { token: ClaimToken::new(), run, lease }
    }

    /// The rule: a `submitted` or `resumed` task is claimed; a `working` task is taken over only
    /// when it has no claim or its lease ran out by `now`, and a replay of the claim that holds it
    /// changes nothing; every other state is not claimable.
    pub fn decide(&self, task: &Task, stored: Option<&Claim>, now: DateTime<Utc>) -> ClaimDecision {
        match task.status.state {
            TaskState::Submitted | TaskState::Resumed => ClaimDecision::Take { takeover: false },
            TaskState::Working => match stored {
                Some(claim) if claim.token == self.token => ClaimDecision::Replay,
                Some(claim) if claim.is_live(now) => ClaimDecision::Held(claim.clone()),
                _ => ClaimDecision::Take { takeover: true },
            },
            state => ClaimDecision::Unclaimable(state),
        }
    }

    /// The claim this request stores when taken at `now`.
    pub fn claim_at(&self, now: DateTime<Utc>) -> Claim {
        Claim { token: self.token, run: self.run, lease_until: lease_end(now, self.lease) }
    }

    /// Applies a [`ClaimDecision::Take`] to `task`: `working` since `now`, with the run's id in
    /// its metadata.
    pub fn apply(&self, task: &mut Task, now: DateTime<Utc>) {
        task.status = super::TaskStatus { state: TaskState::Working, timestamp: now, message: None };
        task.metadata.insert(RUN_KEY.to_owned(), self.run.to_string().into());
    }
}

/// `now + lease`, saturating far in the future.
pub fn lease_end(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(lease)
        .ok()
        .and_then(|lease| now.checked_add_signed(lease))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The result of [`Storage::claim_task`](crate::Storage::claim_task).
#[derive(Clone, Debug, PartialEq)]
pub enum ClaimOutcome {
    /// The task is `working` under the request's token (claimed now, taken over, or a replay).
    Claimed {
        /// The task as claimed, with its whole history.
        task: Box<Task>,
        /// Whether an expired claim of another run was replaced.
        takeover: bool,
    },
    /// Another run holds the task and its lease is still running.
    Held {
        /// The run operation holding it.
        run: OperationId,
        /// When its lease ends unless renewed.
        until: DateTime<Utc>,
    },
    /// The task is in a state that is not run: terminal, waiting for input, paused…
    Unclaimable(TaskState),
    /// There is no such task.
    Missing,
}

/// The result of [`Storage::renew_claim`](crate::Storage::renew_claim).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewal {
    /// The claim holds; its lease now ends at `until`.
    Held {
        /// The new end of the lease.
        until: DateTime<Utc>,
    },
    /// The claim is gone: the task left `working` (canceled, paused, continued, finished,
    /// deleted) or another run took it over. Its holder must stop.
    Lost,
}

/// Why a task shows up in [`Storage::stuck_tasks`](crate::Storage::stuck_tasks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StuckReason {
    /// `submitted` or `resumed` and not claimed by any run since `since`.
    Waiting,
    /// `working`, but its claim's lease ended at `since` (or it has no claim since then): its
    /// worker died or lost touch with storage.
    LeaseExpired,
}

/// A task that should be running but is not: see [`Storage::stuck_tasks`](crate::Storage::stuck_tasks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StuckTask {
    /// The task.
    pub task_id: TaskId,
    /// Its context.
    pub context_id: ContextId,
    /// Its state.
    pub state: TaskState,
    /// Since when it has been stuck: when it entered its state, or when its lease ended.
    pub since: DateTime<Utc>,
    /// Why it is listed.
    pub reason: StuckReason,
}

impl StuckTask {
    /// The instant `older_than` before `now` (saturating): tasks stuck since then or earlier are
    /// listed.
    pub fn cutoff(now: DateTime<Utc>, older_than: Duration) -> DateTime<Utc> {
        TimeDelta::from_std(older_than)
            .ok()
            .and_then(|age| now.checked_sub_signed(age))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Whether `task` (with `claim`) is stuck as of `cutoff` (now minus the threshold): the
    /// rule every backend's query implements.
    pub fn of(task: &Task, claim: Option<&Claim>, cutoff: DateTime<Utc>) -> Option<Self> {
        let (since, reason) = match task.status.state {
            TaskState::Submitted | TaskState::Resumed => (task.status.timestamp, StuckReason::Waiting),
            TaskState::Working => {
                (claim.map_or(task.status.timestamp, |claim| claim.lease_until), StuckReason::LeaseExpired)
            }
            _ => return None,
        };
        (since <= cutoff).then_some(Self {
            task_id: task.id,
            context_id: task.context_id,
            state: task.status.state,
            since,
            reason,
        })
    }

    /// The run operation a rescue of this task enqueues: the same stuck task always gives the
    /// same id, so rescuers in several processes schedule one run, and a task stuck again later
    /// gets a new one.
    pub fn rescue_operation_id(&self) -> OperationId {
        OperationId::for_rescue(self.task_id, self.since)
    }

    /// The run a rescue of this task enqueues, under [`rescue_operation_id`](Self::rescue_operation_id):
    /// the worker's rescuer and an operator's reschedule enqueue the same operation, so together
    /// they schedule one run. It carries no message: the worker runs the task on its history.
    pub fn rescue_run(&self) -> TaskOperation {
        let params = TaskSendParams::new(self.task_id, self.context_id, None);
        TaskOperation::new(self.rescue_operation_id(), Action::Run(params))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Message, Metadata, TaskStatus};

    fn task(state: TaskState) -> Task {
        Task {
            id: TaskId::new(),
            context_id: ContextId::new(),
            status: TaskStatus::now(state),
            artifacts: Vec::new(),
            history: vec![Message::user_text("hi")],
            metadata: Metadata::new(),
        }
    }

    #[test]
    fn waiting_tasks_are_claimed_and_live_claims_are_not_taken_over() {
        let now = Utc::now();
        let request = ClaimRequest::new(OperationId::new(), Duration::from_secs(30));
        for state in [TaskState::Submitted, TaskState::Resumed] {
            assert_eq!(request.decide(&task(state), None, now), ClaimDecision::Take { takeover: false });
        }
        let working = task(TaskState::Working);
        let other = ClaimRequest::new(OperationId::new(), Duration::from_secs(30)).claim_at(now);
        assert_eq!(request.decide(&working, Some(&other), now), ClaimDecision::Held(other.clone()));
        let later = now + TimeDelta::seconds(31);
        assert_eq!(request.decide(&working, Some(&other), later), ClaimDecision::Take { takeover: true });
        assert_eq!(request.decide(&working, None, now), ClaimDecision::Take { takeover: true });
        let mine = request.claim_at(now);
        assert_eq!(request.decide(&working, Some(&mine), later), ClaimDecision::Replay);
        for state in [TaskState::Completed, TaskState::InputRequired, TaskState::Suspended] {
            assert_eq!(request.decide(&task(state), None, now), ClaimDecision::Unclaimable(state));
        }
    }

    #[test]
    fn stuck_means_waiting_or_expired_past_the_cutoff() {
        let now = Utc::now();
        let waiting = task(TaskState::Submitted);
        assert!(StuckTask::of(&waiting, None, now - TimeDelta::seconds(10)).is_none());
        let stuck = StuckTask::of(&waiting, None, now + TimeDelta::seconds(1)).unwrap();
        assert_eq!(stuck.reason, StuckReason::Waiting);
        let working = task(TaskState::Working);
        let claim = ClaimRequest::new(OperationId::new(), Duration::from_secs(5)).claim_at(now);
        assert!(StuckTask::of(&working, Some(&claim), now).is_none());
        let expired = StuckTask::of(&working, Some(&claim), now + TimeDelta::seconds(6)).unwrap();
        assert_eq!((expired.reason, expired.since), (StuckReason::LeaseExpired, claim.lease_until));
        assert!(StuckTask::of(&task(TaskState::Completed), None, now + TimeDelta::days(1)).is_none());
        assert_eq!(stuck.rescue_operation_id(), stuck.clone().rescue_operation_id());
        assert_ne!(stuck.rescue_operation_id(), expired.rescue_operation_id());
    }

    #[test]
    fn huge_leases_saturate() {
        assert_eq!(lease_end(Utc::now(), Duration::MAX), DateTime::<Utc>::MAX_UTC);
    }
}
