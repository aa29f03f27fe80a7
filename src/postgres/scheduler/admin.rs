//! The queue's SQL for operators: list, replay and discard dead letters, count, prune.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::types::Json;

use super::queries::Queue;
use crate::error::{Error, Result};
use crate::model::{DeadLetter, DeadLetterId, Page, QueueStats, TaskId, TaskOperation};
use crate::postgres::error::committing;
use crate::postgres::seconds;

/// A dead letter's handle is its operation id; anything else names no dead letter.
fn row_id(id: &DeadLetterId) -> Option<uuid::Uuid> {
    id.as_str().parse().ok()
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl Queue {
    /// The dead letters in the order they died.
    pub(crate) async fn dead_letters<C: GenericClient>(
        &self,
        client: &C,
        page: Page,
    ) -> Result<Vec<DeadLetter>> {
        let sql = format!(
            "SELECT id, task_id, payload, deliveries, last_error, updated_at FROM {}
             WHERE state = 'dead' ORDER BY updated_at, seq OFFSET $1 LIMIT $2",
            self.table
        );
        let offset = i64::try_from(page.offset).unwrap_or(i64::MAX);
        // LIMIT NULL is no limit.
        let limit = page.limit.map(|limit| i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = client.query(&sql, &[&offset, &limit]).await.map_err(committing)?;
        Ok(rows
            .iter()
            .map(|row| DeadLetter {
                id: DeadLetterId(row.get::<_, uuid::Uuid>("id").to_string()),
                operation: row.try_get::<_, Json<TaskOperation>>("payload").ok().map(|Json(op)| op),
                task_id: Some(TaskId(row.get("task_id"))),
                deliveries: row.get::<_, i32>("deliveries").max(0) as u32,
                last_error: row.get::<_, Option<String>>("last_error").unwrap_or_default(),
                dead_at: row.get::<_, DateTime<Utc>>("updated_at"),
            })
            .collect())
    }

    /// Makes dead letter `id` ready again with no deliveries counted, and wakes its lane's
    /// receivers. The row keeps its id, so the enqueue dedup still knows it; the `state = 'dead'`
    /// condition gives concurrent replays one winner.
    pub(crate) async fn replay<C: GenericClient>(&self, client: &C, id: &DeadLetterId) -> Result<bool> {
        let Some(id) = row_id(id) else { return Ok(false) };
        let sql = format!("SELECT payload FROM {} WHERE id = $1 AND state = 'dead'", self.table);
        let Some(row) = client.query_opt(&sql, &[&id]).await.map_err(committing)? else {
            return Ok(false);
        };
        if let Err(err) = row.try_get::<_, Json<TaskOperation>>("payload") {
            return Err(Error::Invalid {
                what: "dead letter",
                reason: format!("its operation cannot be read, so it cannot be replayed: {err}"),
            });
        }
        let sql = format!(
            "WITH replayed AS (
                 UPDATE {} SET state = 'ready', deliveries = 0, leased_by = NULL, lease_until = NULL,
                               updated_at = now()
                 WHERE id = $1 AND state = 'dead' RETURNING lane
             )
             SELECT pg_notify($2, lane) FROM replayed",
            self.table
        );
        let replayed = client.query(&sql, &[&id, &self.channel()]).await.map_err(committing)?;
        Ok(!replayed.is_empty())
    }

    /// Marks dead letter `id` done: settled, so the dedup keeps knowing its id until it is pruned.
    pub(crate) async fn discard<C: GenericClient>(&self, client: &C, id: &DeadLetterId) -> Result<bool> {
        let Some(id) = row_id(id) else { return Ok(false) };
        let sql = format!(
            "UPDATE {} SET state = 'done', updated_at = now() WHERE id = $1 AND state = 'dead'",
            self.table
        );
        Ok(client.execute(&sql, &[&id]).await.map_err(committing)? == 1)
    }

    /// One scan of the unfinished rows. Waiting: ready, released (leased to nobody until their
    /// delay is over) or leased past their lease (the receiver died); deliverable now, for the
    /// age: ready or past their lease.
    pub(crate) async fn stats<C: GenericClient>(&self, client: &C) -> Result<QueueStats> {
        let sql = format!(
            "SELECT count(*) FILTER (WHERE waiting AND lane = 'runs') AS waiting_runs,
                    count(*) FILTER (WHERE waiting AND lane = 'control') AS waiting_control,
                    count(*) FILTER (WHERE state = 'leased' AND NOT waiting) AS in_flight,
                    count(*) FILTER (WHERE state = 'dead') AS dead,
                    extract(epoch FROM now() - min(due_since))::float8 AS oldest
             FROM (SELECT lane, state,
                          state = 'ready' OR (state = 'leased' AND (leased_by IS NULL OR lease_until <= now())) AS waiting,
                          CASE WHEN state = 'ready' THEN updated_at
                               WHEN state = 'leased' AND lease_until <= now() THEN lease_until END AS due_since
                   FROM {} WHERE state IN ('ready', 'leased', 'dead')) unfinished",
            self.table
        );
        let row = client.query_one(&sql, &[]).await.map_err(committing)?;
        let oldest: Option<f64> = row.get("oldest");
        Ok(QueueStats {
            waiting_runs: count(row.get("waiting_runs")),
            waiting_control: count(row.get("waiting_control")),
            in_flight: count(row.get("in_flight")),
            oldest_waiting_age: oldest
                .map(|secs| Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or_default()),
            dead_letters: count(row.get("dead")),
        })
    }

    /// Deletes at most `limit` operations acknowledged more than `older_than` ago, oldest first.
    pub(crate) async fn prune<C: GenericClient>(
        &self,
        client: &C,
        older_than: Duration,
        limit: usize,
    ) -> Result<u64> {
        let sql = format!(
            "DELETE FROM {table} WHERE id IN (
                 SELECT id FROM {table} WHERE state = 'done' AND updated_at < now() - make_interval(secs => $1)
                 ORDER BY updated_at LIMIT $2
             )",
            table = self.table
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        client.execute(&sql, &[&seconds(older_than), &limit]).await.map_err(committing)
    }
}
