//! The queue's SQL: enqueue, claim with `FOR UPDATE SKIP LOCKED`, settle, prune.

use std::time::Duration;

use deadpool_postgres::GenericClient;
use tokio_postgres::types::Json;

use crate::error::{Error, Result};
use crate::model::TaskOperation;
use crate::postgres::error::{Phase, classify};

fn commit(err: tokio_postgres::Error) -> Error {
    classify(err, Phase::Commit)
}

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

/// The NOTIFY channel of a schema's queue.
pub(crate) fn channel(schema: &str) -> String {
    format!("bindu_operations_{schema}")
}

/// Inserts `operation` unless its id is known (queued, leased, done or dead), and wakes the
/// receivers. Runs on any client, so it can join the caller's transaction.
pub(crate) async fn enqueue<C: GenericClient>(
    client: &C,
    schema: &str,
    operation: &TaskOperation,
) -> Result<()> {
    let statement = client
        .prepare_cached(
            "WITH inserted AS (
                 INSERT INTO operations (id, task_id, payload) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO NOTHING RETURNING id
             )
             SELECT pg_notify($4, '') FROM inserted",
        )
        .await
        .map_err(commit)?;
    let id = operation.id.as_uuid();
    let task_id = operation.action.task_id();
    client
        .execute(&statement, &[id, &task_id.0, &Json(operation), &channel(schema)])
        .await
        .map_err(commit)?;
    Ok(())
}

/// What a claim found.
pub(crate) enum Claimed {
    /// An operation to deliver, with its delivery count.
    Delivery(Box<TaskOperation>, u32),
    /// An operation that could not be delivered (undecodable, or over the delivery limit): it
    /// was dead-lettered.
    Poison,
    /// Nothing to do now.
    Empty,
}

/// Leases the oldest claimable operation to `consumer`: a ready one, or one whose lease
/// expired. Concurrent claims skip each other's rows. One over the delivery limit is
/// dead-lettered instead.
pub(crate) async fn claim<C: GenericClient>(
    client: &C,
    consumer: &str,
    lease: Duration,
    max_deliveries: u32,
) -> Result<Claimed> {
    let statement = client
        .prepare_cached(
            "WITH next AS (
                 SELECT id FROM operations
                 WHERE state = 'ready' OR (state = 'leased' AND lease_until < now())
                 ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED
             )
             UPDATE operations o
             SET state = CASE WHEN o.deliveries >= $3 THEN 'dead' ELSE 'leased' END,
                 deliveries = CASE WHEN o.deliveries >= $3 THEN o.deliveries ELSE o.deliveries + 1 END,
                 last_error = CASE WHEN o.deliveries >= $3
                                   THEN 'not acknowledged after ' || o.deliveries || ' deliveries'
                                   ELSE o.last_error END,
                 leased_by = $1,
                 lease_until = now() + make_interval(secs => $2::float8),
                 updated_at = now()
             FROM next WHERE o.id = next.id
             RETURNING o.id, o.state, o.payload, o.deliveries",
        )
        .await
        .map_err(commit)?;
    let limit = i32::try_from(max_deliveries).unwrap_or(i32::MAX);
    let Some(row) =
        client.query_opt(&statement, &[&consumer, &seconds(lease), &limit]).await.map_err(commit)?
    else {
        return Ok(Claimed::Empty);
    };
    let state: String = row.get("state");
    if state == "dead" {
        return Ok(Claimed::Poison);
    }
    let id: uuid::Uuid = row.get("id");
    let deliveries: i32 = row.get("deliveries");
    match row.try_get::<_, Json<TaskOperation>>("payload") {
        Ok(Json(operation)) => Ok(Claimed::Delivery(Box::new(operation), deliveries.max(1) as u32)),
        Err(err) => {
            dead_letter(client, id, &format!("undecodable operation: {err}")).await?;
            Ok(Claimed::Poison)
        }
    }
}

pub(crate) async fn ack<C: GenericClient>(client: &C, id: uuid::Uuid) -> Result<()> {
    client
        .execute(
            "UPDATE operations SET state = 'done', lease_until = NULL, updated_at = now()
             WHERE id = $1 AND state <> 'dead'",
            &[&id],
        )
        .await
        .map_err(commit)?;
    Ok(())
}

pub(crate) async fn dead_letter<C: GenericClient>(client: &C, id: uuid::Uuid, reason: &str) -> Result<()> {
    client
        .execute(
            "UPDATE operations SET state = 'dead', last_error = $2, lease_until = NULL, updated_at = now()
             WHERE id = $1 AND state <> 'done'",
            &[&id, &reason],
        )
        .await
        .map_err(commit)?;
    Ok(())
}

pub(crate) async fn extend<C: GenericClient>(
    client: &C,
    id: uuid::Uuid,
    consumer: &str,
    lease: Duration,
) -> Result<()> {
    client
        .execute(
            "UPDATE operations SET lease_until = now() + make_interval(secs => $3::float8), updated_at = now()
             WHERE id = $1 AND leased_by = $2 AND state = 'leased'",
            &[&id, &consumer, &seconds(lease)],
        )
        .await
        .map_err(commit)?;
    Ok(())
}

/// Deletes finished operations older than `retention`.
pub(crate) async fn prune<C: GenericClient>(client: &C, retention: Duration) -> Result<u64> {
    client
        .execute(
            "DELETE FROM operations WHERE state = 'done' AND updated_at < now() - make_interval(secs => $1::float8)",
            &[&seconds(retention)],
        )
        .await
        .map_err(commit)
}

/// One dead-lettered operation.
#[derive(Clone, Debug, PartialEq)]
pub struct DeadOperation {
    /// The operation's id.
    pub id: uuid::Uuid,
    /// The operation, if it could be decoded.
    pub operation: Option<TaskOperation>,
    /// How many times it was delivered.
    pub deliveries: u32,
    /// Why it was dead-lettered.
    pub reason: String,
}

pub(crate) async fn dead<C: GenericClient>(client: &C) -> Result<Vec<DeadOperation>> {
    let rows = client
        .query(
            "SELECT id, payload, deliveries, last_error FROM operations WHERE state = 'dead' ORDER BY seq",
            &[],
        )
        .await
        .map_err(commit)?;
    Ok(rows
        .iter()
        .map(|row| DeadOperation {
            id: row.get("id"),
            operation: row.try_get::<_, Json<TaskOperation>>("payload").ok().map(|Json(op)| op),
            deliveries: row.get::<_, i32>("deliveries").max(0) as u32,
            reason: row.get::<_, Option<String>>("last_error").unwrap_or_default(),
        })
        .collect())
}
