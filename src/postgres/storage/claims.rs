//! Claims: taking a task for a run, renewing and releasing its lease, and listing stuck tasks.
//!
//! The claim lives in three columns beside the task (`claim_token`, `claim_run`, `lease_until`),
//! all set or all NULL, never in the task's JSON. Leases and cutoffs are read on the server's
//! clock, the one every process shares.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::Object;
use tokio_postgres::types::Json;

use super::codec::{self, CLAIM_COLUMNS};
use crate::error::Result;
use crate::model::{
    ClaimDecision, ClaimOutcome, ClaimRequest, ClaimToken, ContextId, Renewal, StuckReason, StuckTask, TaskId,
};
use crate::postgres::error::{committing, in_transaction};
use crate::postgres::seconds;

/// One transaction: lock the row, decide by the shared rule ([`ClaimRequest::decide`]) at the
/// server's `now()`, and write the claim only when it is taken.
pub(crate) async fn claim_task(
    client: &mut Object,
    task_id: TaskId,
    request: &ClaimRequest,
) -> Result<ClaimOutcome> {
    let tx = client.transaction().await.map_err(in_transaction)?;
    let lock = tx
        .prepare_cached(&format!(
            // The whole history: the agent runs on the conversation.
            "SELECT {}, {CLAIM_COLUMNS}, now() AS now FROM tasks WHERE id = $1 FOR UPDATE",
            codec::task_columns()
        ))
        .await
        .map_err(in_transaction)?;
    let Some(row) = tx.query_opt(&lock, &[&task_id.0]).await.map_err(in_transaction)? else {
        return Ok(ClaimOutcome::Missing);
    };
    let mut task = codec::task(&row)?;
    let now: DateTime<Utc> = codec::get(&row, "now")?;
    let takeover = match request.decide(&task, codec::claim(&row)?.as_ref(), now) {
        ClaimDecision::Take { takeover } => takeover,
        ClaimDecision::Replay => return Ok(ClaimOutcome::Claimed { task: Box::new(task), takeover: false }),
        ClaimDecision::Held(claim) => {
            return Ok(ClaimOutcome::Held { run: claim.run, until: claim.lease_until });
        }
        ClaimDecision::Unclaimable(state) => return Ok(ClaimOutcome::Unclaimable(state)),
    };
    request.apply(&mut task, now);
    let claim = request.claim_at(now);
    // History and artifacts are not rewritten: only the state, the metadata and the claim.
    let write = tx
        .prepare_cached(
            "UPDATE tasks SET state = $2, state_timestamp = $3, metadata = $4, updated_at = now(),
                              claim_token = $5, claim_run = $6, lease_until = $7
             WHERE id = $1",
        )
        .await
        .map_err(in_transaction)?;
    tx.execute(
        &write,
        &[
            &task_id.0,
            &task.status.state.as_str(),
            &task.status.timestamp,
            &Json(&task.metadata),
            &claim.token.0,
            &claim.run.0,
            &claim.lease_until,
        ],
    )
    .await
    .map_err(in_transaction)?;
    tx.commit().await.map_err(committing)?;
    Ok(ClaimOutcome::Claimed { task: Box::new(task), takeover })
}

/// The heartbeat: one statement on the claim columns, never the history.
pub(crate) async fn renew_claim(
    client: &Object,
    task_id: TaskId,
    token: ClaimToken,
    lease: Duration,
) -> Result<Renewal> {
    let statement = client
        .prepare_cached(
            "UPDATE tasks SET lease_until = now() + make_interval(secs => $3)
             WHERE id = $1 AND state = 'working' AND claim_token = $2
             RETURNING lease_until",
        )
        .await
        .map_err(in_transaction)?;
    let row =
        client.query_opt(&statement, &[&task_id.0, &token.0, &seconds(lease)]).await.map_err(committing)?;
    Ok(match row {
        Some(row) => Renewal::Held { until: codec::get(&row, "lease_until")? },
        None => Renewal::Lost,
    })
}

/// Ends the lease now (never later than it was), so the next claim takes the task over at once.
pub(crate) async fn release_claim(client: &Object, task_id: TaskId, token: ClaimToken) -> Result<()> {
    let statement = client
        .prepare_cached(
            "UPDATE tasks SET lease_until = least(lease_until, now())
             WHERE id = $1 AND state = 'working' AND claim_token = $2",
        )
        .await
        .map_err(in_transaction)?;
    client.execute(&statement, &[&task_id.0, &token.0]).await.map_err(committing)?;
    Ok(())
}

/// The rule of [`StuckTask::of`] as one query, each branch served by a partial index of
/// migration 0003: waiting tasks by the time they entered their state, working ones by the end of
/// their lease (or, with no claim, by the time they entered `working`).
pub(crate) async fn stuck_tasks(
    client: &Object,
    older_than: Duration,
    limit: usize,
) -> Result<Vec<StuckTask>> {
    let statement = client
        .prepare_cached(
            "(SELECT id, context_id, state, state_timestamp AS since, false AS expired FROM tasks
              WHERE state IN ('submitted', 'resumed') AND state_timestamp <= now() - make_interval(secs => $1)
              ORDER BY state_timestamp LIMIT $2)
             UNION ALL
             (SELECT id, context_id, state, coalesce(lease_until, state_timestamp) AS since, true AS expired
              FROM tasks
              WHERE state = 'working' AND coalesce(lease_until, state_timestamp) <= now() - make_interval(secs => $1)
              ORDER BY coalesce(lease_until, state_timestamp) LIMIT $2)
             ORDER BY since LIMIT $2",
        )
        .await
        .map_err(in_transaction)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client.query(&statement, &[&seconds(older_than), &limit]).await.map_err(committing)?;
    rows.iter()
        .map(|row| {
            let expired: bool = codec::get(row, "expired")?;
            Ok(StuckTask {
                task_id: TaskId(codec::get(row, "id")?),
                context_id: ContextId(codec::get(row, "context_id")?),
                state: codec::state(row)?,
                since: codec::get(row, "since")?,
                reason: if expired { StuckReason::LeaseExpired } else { StuckReason::Waiting },
            })
        })
        .collect()
}
