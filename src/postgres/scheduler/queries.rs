//! The queue's SQL: enqueue, claim with `FOR UPDATE SKIP LOCKED`, settle, release (what an
//! operator does is in `admin.rs`).
//!
//! Every statement names the schema's table (`"schema".operations`), so that a caller's
//! connection with another `search_path` ([`PostgresScheduler::enqueue_in`](super::PostgresScheduler::enqueue_in))
//! cannot send an operation elsewhere. A delivery's receipt acts only while the row is still
//! leased to that very delivery (`leased_by`, unique per delivery), so a receiver whose lease ran
//! out and was taken over cannot settle the operation from under its new holder.

use std::time::Duration;

use deadpool_postgres::GenericClient;
use tokio_postgres::types::Json;

use crate::error::Result;
use crate::model::{Lane, Lanes, TaskOperation};
use crate::postgres::error::{committing, in_transaction};
use crate::postgres::seconds;

/// Lease bookkeeping — a claim, an acknowledgement, a release, a lease extension, a dead letter —
/// commits without waiting for its WAL flush (`synchronous_commit = off` for that transaction
/// only): a server crash may forget the last fraction of a second of it, which returns those
/// operations to the state before (claimable, or leased until their lease runs out), so they are
/// delivered again — the at-least-once contract already allows that, and the storage's durable
/// claim decides whether a delivery runs anything. Enqueues stay durable: an accepted operation
/// is never lost. Joined into the statement, so it costs no round trip.
const ASYNC_COMMIT: &str = "(SELECT set_config('synchronous_commit', 'off', true)) AS lease_bookkeeping";
/// [`ASYNC_COMMIT`] as a `WITH` item.
const ASYNC_COMMIT_CTE: &str = "lease_bookkeeping AS (SELECT set_config('synchronous_commit', 'off', true))";

/// The longest identifier PostgreSQL keeps (NAMEDATALEN − 1 bytes); NOTIFY refuses longer
/// channel names.
const MAX_IDENTIFIER: usize = 63;

/// Names long-schema channels (see [`Queue::new`]); fixed forever, or processes would not meet.
const CHANNEL_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x0b5e_7a1c_93d2_4f60_8e4b_c1a7_29f3_d6e8);

/// Where a schema's queue lives: its table and its NOTIFY channel.
#[derive(Clone, Debug)]
pub(crate) struct Queue {
    pub(super) table: String,
    channel: String,
}

impl Queue {
    /// The queue of `schema` (a checked identifier). The channel is `bindu_operations_<schema>`
    /// when that fits in an identifier, else a name derived from a hash of the schema.
    pub(crate) fn new(schema: &str) -> Self {
        let plain = format!("bindu_operations_{schema}");
        let channel = if plain.len() <= MAX_IDENTIFIER {
            plain
        } else {
            format!("bindu_operations_{}", uuid::Uuid::new_v5(&CHANNEL_NAMESPACE, schema.as_bytes()).simple())
        };
        Self { table: format!("\"{schema}\".operations"), channel }
    }

    /// The NOTIFY channel receivers LISTEN on.
    pub(crate) fn channel(&self) -> &str {
        &self.channel
    }

    /// Inserts `operation` in its lane unless its id is known (queued, leased, done or dead),
    /// and wakes the receivers of that lane (the notification's payload). Runs on any client, so it can join the caller's transaction.
    pub(crate) async fn enqueue<C: GenericClient>(
        &self,
        client: &C,
        operation: &TaskOperation,
    ) -> Result<()> {
        let statement = client
            .prepare_cached(&format!(
                "WITH inserted AS (
                     INSERT INTO {} (id, task_id, lane, payload) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (id) DO NOTHING RETURNING id
                 )
                 SELECT pg_notify($5, $3) FROM inserted",
                self.table
            ))
            .await
            .map_err(committing)?;
        let task_id = operation.action.task_id();
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
            [operation.id.as_uuid(), &task_id.0, &operation.lane().as_str(), &Json(operation), &self.channel];
        client.execute(&statement, &params).await.map_err(committing)?;
        Ok(())
    }

    /// Leases up to `batch` claimable operations of `lanes` to `holder`, in order: lane by lane
    /// (control first), those whose lease ran out (their receiver died, or they were released and
    /// their delay is over), then the oldest ready ones. Concurrent claims skip each other's rows.
    /// One already delivered more than once past `max_deliveries` is dead-lettered instead. One
    /// round trip, whatever the batch; nothing claimable is an empty list.
    pub(crate) async fn claim<C: GenericClient>(
        &self,
        client: &C,
        lanes: Lanes,
        holder: &str,
        lease: Duration,
        max_deliveries: u32,
        batch: usize,
    ) -> Result<Vec<Claimed>> {
        // Each candidate is an ordered scan of one partial index that stops at its first
        // unlocked rows; each takes only what the ones before it left of the batch, so no row is
        // locked that is not claimed. (`FOR UPDATE` is not allowed under `UNION`, hence the
        // chain of `WITH` items.)
        let table = &self.table;
        let candidates: Vec<String> = lanes
            .lanes()
            .map(Lane::as_str)
            .flat_map(|lane| {
                [
                    format!(
                        "state = 'leased' AND lease_until <= now() AND lane = '{lane}' ORDER BY lease_until"
                    ),
                    format!("state = 'ready' AND lane = '{lane}' ORDER BY seq"),
                ]
            })
            .collect();
        let mut with = Vec::new();
        for (k, candidate) in candidates.iter().enumerate() {
            let taken: Vec<String> = (0..k).map(|j| format!("(SELECT count(*) FROM c{j})")).collect();
            let left = if taken.is_empty() {
                "$4".to_owned()
            } else {
                format!("greatest($4 - {}, 0)", taken.join(" - "))
            };
            with.push(format!(
                "c{k} AS (SELECT id FROM {table} WHERE {candidate} LIMIT {left} FOR UPDATE SKIP LOCKED)"
            ));
        }
        let next = (0..candidates.len())
            .map(|k| format!("SELECT id FROM c{k}"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let statement = client
            .prepare_cached(&format!(
                "WITH {}, next AS ({next}), {ASYNC_COMMIT_CTE},
                 claimed AS (
                     UPDATE {table} o
                     SET state = CASE WHEN o.deliveries > $3 THEN 'dead' ELSE 'leased' END,
                         deliveries = CASE WHEN o.deliveries > $3 THEN o.deliveries ELSE o.deliveries + 1 END,
                         last_error = CASE WHEN o.deliveries > $3
                                           THEN 'not settled after ' || o.deliveries || ' deliveries'
                                           ELSE o.last_error END,
                         leased_by = CASE WHEN o.deliveries > $3 THEN NULL ELSE $1 END,
                         lease_until = CASE WHEN o.deliveries > $3 THEN NULL
                                            ELSE now() + make_interval(secs => $2) END,
                         updated_at = now()
                     FROM next, lease_bookkeeping WHERE o.id = next.id
                     RETURNING o.id, o.state, o.payload, o.deliveries, o.lane, o.seq
                 )
                 SELECT id, state, payload, deliveries FROM claimed
                 ORDER BY lane = 'runs', seq",
                with.join(",\n")
            ))
            .await
            .map_err(committing)?;
        let limit = i32::try_from(max_deliveries).unwrap_or(i32::MAX);
        let batch = i64::try_from(batch.max(1)).unwrap_or(i64::MAX);
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
            [&holder, &seconds(lease), &limit, &batch];
        let rows = client.query(&statement, &params).await.map_err(committing)?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let id: uuid::Uuid = row.get("id");
            let state: String = row.get("state");
            if state == "dead" {
                claimed.push(Claimed::Buried("delivered too often without being settled".into()));
                continue;
            }
            let deliveries: i32 = row.get("deliveries");
            claimed.push(match row.try_get::<_, Json<TaskOperation>>("payload") {
                Ok(Json(operation)) => Claimed::Delivery {
                    id,
                    operation: Box::new(operation),
                    deliveries: deliveries.max(1) as u32,
                },
                Err(err) => {
                    let reason = format!("undecodable operation: {err}");
                    self.dead_letter(client, id, holder, &reason).await?;
                    Claimed::Buried(reason)
                }
            });
        }
        Ok(claimed)
    }

    /// Marks the delivery handled, if `holder` still holds it.
    pub(crate) async fn ack<C: GenericClient>(&self, client: &C, id: uuid::Uuid, holder: &str) -> Result<()> {
        let sql = format!(
            "UPDATE {} SET state = 'done', leased_by = NULL, lease_until = NULL, updated_at = now()
             FROM {ASYNC_COMMIT} WHERE id = $1 AND state = 'leased' AND leased_by = $2",
            self.table
        );
        let statement = client.prepare_cached(&sql).await.map_err(committing)?;
        client.execute(&statement, &[&id, &holder]).await.map_err(committing)?;
        Ok(())
    }

    /// [`Queue::ack`] with the transaction's own durability: for an acknowledgement inside the
    /// transaction that stores the operation's effect, which must not be committed
    /// asynchronously.
    pub(crate) async fn ack_durably<C: GenericClient>(
        &self,
        client: &C,
        id: uuid::Uuid,
        holder: &str,
    ) -> Result<()> {
        let sql = format!(
            "UPDATE {} SET state = 'done', leased_by = NULL, lease_until = NULL, updated_at = now()
             WHERE id = $1 AND state = 'leased' AND leased_by = $2",
            self.table
        );
        let statement = client.prepare_cached(&sql).await.map_err(in_transaction)?;
        client.execute(&statement, &[&id, &holder]).await.map_err(in_transaction)?;
        Ok(())
    }

    /// [`Queue::ack`] for several deliveries in one statement: each `ids[i]` if `holders[i]`
    /// still holds it.
    pub(crate) async fn ack_all<C: GenericClient>(
        &self,
        client: &C,
        ids: &[uuid::Uuid],
        holders: &[&str],
    ) -> Result<()> {
        let sql = format!(
            "UPDATE {} o SET state = 'done', leased_by = NULL, lease_until = NULL, updated_at = now()
             FROM {ASYNC_COMMIT}, unnest($1::uuid[], $2::text[]) AS acked (id, holder)
             WHERE o.id = acked.id AND o.state = 'leased' AND o.leased_by = acked.holder",
            self.table
        );
        let statement = client.prepare_cached(&sql).await.map_err(committing)?;
        client.execute(&statement, &[&ids, &holders]).await.map_err(committing)?;
        Ok(())
    }

    /// Moves the delivery to the dead letters with `reason`, if `holder` still holds it.
    pub(crate) async fn dead_letter<C: GenericClient>(
        &self,
        client: &C,
        id: uuid::Uuid,
        holder: &str,
        reason: &str,
    ) -> Result<()> {
        let sql = format!(
            "UPDATE {} SET state = 'dead', last_error = $3, leased_by = NULL, lease_until = NULL, updated_at = now()
             FROM {ASYNC_COMMIT} WHERE id = $1 AND state = 'leased' AND leased_by = $2",
            self.table
        );
        let statement = client.prepare_cached(&sql).await.map_err(committing)?;
        client.execute(&statement, &[&id, &holder, &reason]).await.map_err(committing)?;
        Ok(())
    }

    /// Hands the delivery back, if `holder` still holds it: leased to nobody until `delay` from
    /// now, when it is claimable like an expired lease, with this delivery uncounted.
    pub(crate) async fn release<C: GenericClient>(
        &self,
        client: &C,
        id: uuid::Uuid,
        holder: &str,
        delay: Duration,
    ) -> Result<()> {
        let sql = format!(
            "UPDATE {} SET deliveries = greatest(deliveries - 1, 0), leased_by = NULL,
                          lease_until = now() + make_interval(secs => $3), updated_at = now()
             FROM {ASYNC_COMMIT} WHERE id = $1 AND state = 'leased' AND leased_by = $2",
            self.table
        );
        let statement = client.prepare_cached(&sql).await.map_err(committing)?;
        client.execute(&statement, &[&id, &holder, &seconds(delay)]).await.map_err(committing)?;
        Ok(())
    }

    /// Extends the lease of `holder`'s delivery; `false` when it no longer holds it.
    pub(crate) async fn keep_alive<C: GenericClient>(
        &self,
        client: &C,
        id: uuid::Uuid,
        holder: &str,
        lease: Duration,
    ) -> Result<bool> {
        let sql = format!(
            "UPDATE {} SET lease_until = now() + make_interval(secs => $3), updated_at = now()
             FROM {ASYNC_COMMIT} WHERE id = $1 AND state = 'leased' AND leased_by = $2",
            self.table
        );
        let statement = client.prepare_cached(&sql).await.map_err(committing)?;
        let extended =
            client.execute(&statement, &[&id, &holder, &seconds(lease)]).await.map_err(committing)?;
        Ok(extended == 1)
    }
}

/// What a claim found.
pub(crate) enum Claimed {
    /// An operation to deliver: its row, the operation, and its delivery count.
    Delivery { id: uuid::Uuid, operation: Box<TaskOperation>, deliveries: u32 },
    /// An operation that could not be delivered (undecodable, or past the delivery limit): it was
    /// dead-lettered, for this reason.
    Buried(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_fit_in_an_identifier_and_tell_schemas_apart() {
        assert_eq!(Queue::new("agent_7").channel(), "bindu_operations_agent_7");
        let long = "a".repeat(63);
        let other = format!("{}b", "a".repeat(62));
        let (a, b) = (Queue::new(&long), Queue::new(&other));
        assert!(a.channel().len() <= MAX_IDENTIFIER && b.channel().len() <= MAX_IDENTIFIER);
        assert_ne!(a.channel(), b.channel());
        assert_eq!(a.channel(), Queue::new(&long).channel(), "stable");
        assert_eq!(Queue::new(&"c".repeat(46)).channel().len(), MAX_IDENTIFIER, "the longest plain name");
        assert_eq!(a.table, format!("\"{long}\".operations"));
    }
}
