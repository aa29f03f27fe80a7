//! Claims and the stuck-task listing: claim (a `WATCH` transaction deciding with
//! [`ClaimRequest::decide`]), renew and release (compare-and-set scripts on the claim's own key,
//! never touching the task), and the due set's range query.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_redis::redis::{self, Script};

use super::RedisStorage;
use super::codec::{StoredTask, claim_from, decode, millis};
use super::conversation::Window;
use super::tasks::Current;
use super::tx::{MAX_CONFLICTS, abandon, contention, exec, read_error, server_now, write_error};
use crate::error::Result;
use crate::model::{ClaimDecision, ClaimOutcome, ClaimRequest, ClaimToken, Renewal, StuckTask, TaskId};

static RENEW: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/renew_claim.lua")));
static RELEASE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/release_claim.lua")));

fn lease_millis(lease: Duration) -> u64 {
    u64::try_from(lease.as_millis()).unwrap_or(u64::MAX)
}

impl RedisStorage {
    pub(super) async fn claim_task(&self, task_id: TaskId, request: &ClaimRequest) -> Result<ClaimOutcome> {
        let mut conn = self.connection().await?;
        for _ in 0..MAX_CONFLICTS {
            // The whole history: a claimed task goes to the agent, which needs the conversation.
            let conversation = Some((Window::All, &[][..]));
            let Current { stored, claim, now, extent } =
                self.watch_current(&mut conn, task_id, conversation).await?;
            let Some(mut stored) = stored else {
                return abandon(&mut conn, Ok(ClaimOutcome::Missing)).await;
            };
            let outcome = match request.decide(&stored.task, claim.as_ref(), now) {
                ClaimDecision::Take { takeover } => takeover,
                ClaimDecision::Replay => {
                    let task = Box::new(stored.task);
                    return abandon(&mut conn, Ok(ClaimOutcome::Claimed { task, takeover: false })).await;
                }
                ClaimDecision::Held(claim) => {
                    let held = ClaimOutcome::Held { run: claim.run, until: claim.lease_until };
                    return abandon(&mut conn, Ok(held)).await;
                }
                ClaimDecision::Unclaimable(state) => {
                    return abandon(&mut conn, Ok(ClaimOutcome::Unclaimable(state))).await;
                }
            };
            let before = stored.task.status.state;
            request.apply(&mut stored.task, now);
            let mut pipe = redis::pipe();
            self.queue_task(&mut pipe, &stored, extent, Some(before), Some(&request.claim_at(now)))?;
            if exec(&mut conn, &mut pipe, "claim_task").await? {
                return Ok(ClaimOutcome::Claimed { task: Box::new(stored.task), takeover: outcome });
            }
        }
        Err(contention("claim_task"))
    }

    pub(super) async fn renew_claim(
        &self,
        task_id: TaskId,
        token: ClaimToken,
        lease: Duration,
    ) -> Result<Renewal> {
        let mut conn = self.connection().await?;
        let until: i64 = RENEW
            .key(self.keys.claim(task_id))
            .key(self.keys.due())
            .arg(token.to_string())
            .arg(lease_millis(lease))
            .arg(task_id.to_string())
            .arg(millis(DateTime::<Utc>::MAX_UTC))
            .invoke_async(&mut conn)
            .await
            .map_err(|e| write_error("renew_claim", e))?;
        Ok(match DateTime::from_timestamp_millis(until) {
            Some(until) if until >= DateTime::UNIX_EPOCH => Renewal::Held { until },
            _ => Renewal::Lost,
        })
    }

    pub(super) async fn release_claim(&self, task_id: TaskId, token: ClaimToken) -> Result<()> {
        let mut conn = self.connection().await?;
        let _released: i64 = RELEASE
            .key(self.keys.claim(task_id))
            .key(self.keys.due())
            .arg(token.to_string())
            .arg(task_id.to_string())
            .invoke_async(&mut conn)
            .await
            .map_err(|e| write_error("release_claim", e))?;
        Ok(())
    }

    /// The due set holds every task that can get stuck, scored by when it is stuck from: the
    /// range up to the cutoff is the answer, checked again against [`StuckTask::of`] (a score is
    /// in whole milliseconds).
    pub(super) async fn stuck_tasks(&self, older_than: Duration, limit: usize) -> Result<Vec<StuckTask>> {
        let mut conn = self.connection().await?;
        let cutoff = StuckTask::cutoff(server_now(&mut conn).await?, older_than);
        let limit = isize::try_from(limit).unwrap_or(isize::MAX);
        let ids: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.keys.due())
            .arg("-inf")
            .arg(millis(cutoff))
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut conn)
            .await
            .map_err(|e| read_error("stuck_tasks", e))?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<Option<String>> = redis::cmd("MGET")
            .arg(ids.iter().map(|id| self.keys.task(id)).collect::<Vec<_>>())
            .query_async(&mut conn)
            .await
            .map_err(|e| read_error("stuck_tasks", e))?;
        let mut claims = redis::pipe();
        for id in &ids {
            claims.hgetall(self.keys.claim(id));
        }
        let claims: Vec<HashMap<String, String>> =
            claims.query_async(&mut conn).await.map_err(|e| read_error("stuck_tasks", e))?;
        let mut stuck: Vec<StuckTask> = ids
            .iter()
            .zip(texts.into_iter().zip(claims))
            .filter_map(|(id, (text, fields))| {
                let read = text
                    .map(|text| decode::<StoredTask>("stored task", &text))
                    .transpose()
                    .and_then(|stored| Ok((stored, claim_from(&fields)?)));
                match read {
                    Ok((Some(stored), claim)) => StuckTask::of(&stored.task, claim.as_ref(), cutoff),
                    Ok((None, _)) => None,
                    Err(err) => {
                        tracing::warn!(task = %id, error = %err, "skipping a task that cannot be read");
                        None
                    }
                }
            })
            .collect();
        stuck.sort_by_key(|task| task.since);
        Ok(stuck)
    }
}
