//! Bringing data written by earlier releases to the current layout, once per prefix, on connect.
//!
//! Layout 1 (no `{p}:store:schema` key) had no claims and no due set. Its tasks need no rewrite —
//! a task without a claim key is simply unclaimed — but those that can get stuck (`submitted`,
//! `resumed`, `working`) must enter the due set, or [`stuck_tasks`](crate::Storage::stuck_tasks)
//! would never find them. Layouts 1 and 2 had no finished set: terminal tasks must enter it, or
//! [`prune_tasks`](crate::Storage::prune_tasks) would never delete them. Layouts 1 to 3 kept
//! each task as one JSON string with its history and artifacts: each is split into its head and
//! its conversation lists (see [`StorageKeys`](super::keys::StorageKeys)), in the same
//! transaction as its indexing. A task whose JSON holds no history and no artifacts is already
//! split (or has nothing to split), so a migration cut short is simply done again. One process does it,
//! under a lock key that expires if it dies; the others wait for the version key, which is
//! written last.

use std::sync::LazyLock;
use std::time::Duration;

use deadpool_redis::redis::{self, AsyncCommands, Pipeline, Script};
use tokio::time::Instant;

use super::RedisStorage;
use super::codec::{StoredTask, encode_head, millis};
use super::conversation::Extent;
use super::index::stuck_since;
use super::lists::readable;
use super::tx::{MAX_CONFLICTS, contention, exec, read_error, scan, watch, write_error};
use crate::error::{BackendError, Result, Transience};
use crate::redis::pool::PooledConnection;

/// The layout this release writes.
pub(super) const SCHEMA_VERSION: u64 = 4;

/// How long the lock lasts unless extended (after each batch).
const LOCK_TTL: Duration = Duration::from_secs(30);
/// How long a process waits for another one's migration before giving up (transient).
const WAIT_AT_MOST: Duration = Duration::from_secs(300);
/// Task keys per `SCAN` step and transaction.
const BATCH: usize = 200;

static LOCK: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/migration_lock.lua")));

fn unavailable(reason: String) -> crate::error::Error {
    BackendError::new("redis", Transience::Transient, reason).into()
}

impl RedisStorage {
    /// Returns once the data is in the current layout, migrating it if no other process does.
    pub(super) async fn migrate(&self) -> Result<()> {
        let mut conn = self.connection().await?;
        let started = Instant::now();
        loop {
            let version: Option<u64> =
                conn.get(self.keys.schema()).await.map_err(|e| read_error("read the layout version", e))?;
            match version {
                Some(version) if version == SCHEMA_VERSION => return Ok(()),
                Some(version) if version > SCHEMA_VERSION => {
                    return Err(BackendError::new(
                        "redis",
                        Transience::Permanent,
                        format!(
                            "the data is in layout {version}, newer than layout {SCHEMA_VERSION}, the one \
                             this release reads and writes: run a release that knows layout {version}"
                        ),
                    )
                    .into());
                }
                _ => {}
            }
            let token = uuid::Uuid::new_v4().to_string();
            let locked: Option<String> = redis::cmd("SET")
                .arg(self.keys.migration())
                .arg(&token)
                .arg("NX")
                .arg("PX")
                .arg(LOCK_TTL.as_millis() as u64)
                .query_async(&mut conn)
                .await
                .map_err(|e| write_error("lock the migration", e))?;
            if locked.is_some() {
                let migrated = self.migrate_from(&mut conn, &token, version).await;
                if migrated.is_ok() {
                    redis::cmd("SET")
                        .arg(self.keys.schema())
                        .arg(SCHEMA_VERSION)
                        .query_async::<()>(&mut conn)
                        .await
                        .map_err(|e| write_error("write the layout version", e))?;
                }
                self.lock(&mut conn, &token, Duration::ZERO).await?;
                return migrated;
            }
            if started.elapsed() > WAIT_AT_MOST {
                return Err(unavailable(format!(
                    "another process has been migrating the data for {WAIT_AT_MOST:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Extends (or with a zero `ttl` releases) the lock; `false` if it is not ours any more.
    async fn lock(&self, conn: &mut PooledConnection, token: &str, ttl: Duration) -> Result<bool> {
        let held: i64 = LOCK
            .key(self.keys.migration())
            .arg(token)
            .arg(ttl.as_millis() as u64)
            .invoke_async(conn)
            .await
            .map_err(|e| write_error("hold the migration lock", e))?;
        Ok(held == 1)
    }

    /// Puts the tasks into the sets layout `from` (`None`: the first) lacks and splits them, a
    /// batch of task keys at a time.
    async fn migrate_from(&self, conn: &mut PooledConnection, token: &str, from: Option<u64>) -> Result<()> {
        let (pattern, mut cursor, mut indexed) = (self.keys.task_pattern(), 0u64, 0usize);
        loop {
            let (next, keys) = scan(conn, cursor, &pattern, BATCH, "migrate: list the tasks").await?;
            indexed += self.migrate_batch(conn, &keys, from).await?;
            if !self.lock(conn, token, LOCK_TTL).await? {
                return Err(unavailable("migrate: the lock expired before the migration finished".into()));
            }
            if next == 0 {
                tracing::info!(changed = indexed, from = ?from, "migrated the tasks written by an earlier layout");
                return Ok(());
            }
            cursor = next;
        }
    }

    /// Indexes the tasks of `keys` that can get stuck (coming from layout 1) or are finished
    /// (coming from layouts 1 and 2), and splits those not split yet, atomically with reading them
    /// (a process of the earlier release may still be writing); how many index entries and splits
    /// were queued.
    async fn migrate_batch(
        &self,
        conn: &mut PooledConnection,
        keys: &[String],
        from: Option<u64>,
    ) -> Result<usize> {
        let ids: Vec<String> =
            keys.iter().filter_map(|key| self.keys.task_id_of(key)).map(str::to_owned).collect();
        if ids.is_empty() {
            return Ok(0);
        }
        let watched: Vec<&str> = keys.iter().map(String::as_str).collect();
        for _ in 0..MAX_CONFLICTS {
            watch(conn, &watched).await?;
            // In the earlier layouts a head is the whole task.
            let tasks = self.read_heads(conn, &ids).await?;
            let mut pipe = redis::pipe();
            let mut indexed = 0;
            for (id, read) in tasks {
                let Some(stored) = readable(id, read) else { continue };
                if self.queue_split(&mut pipe, &stored)? {
                    indexed += 1;
                }
                let task = &stored.task;
                if from.is_some_and(|from| from >= 3) {
                    continue;
                }
                // Layout 2 keeps the due set itself (with the claims' leases, which layout 1
                // did not have: a claim key cannot exist there yet).
                if let Some(since) = stuck_since(task, None).filter(|_| from.is_none()) {
                    pipe.zadd(self.keys.due(), id, millis(since)).ignore();
                    indexed += 1;
                }
                if task.status.state.is_terminal() {
                    pipe.zadd(self.keys.finished(), id, millis(task.status.timestamp)).ignore();
                    indexed += 1;
                }
            }
            if exec(conn, &mut pipe, "migrate").await? {
                return Ok(indexed);
            }
        }
        Err(contention("migrate"))
    }
}

impl RedisStorage {
    /// Queues the split of a task written as one JSON string: its head, then its history and
    /// artifacts as lists (any stale list is replaced: the JSON is the record). `false` when it
    /// holds no conversation, i.e. is split already.
    fn queue_split(&self, pipe: &mut Pipeline, stored: &StoredTask) -> Result<bool> {
        let task = &stored.task;
        if task.history.is_empty() && task.artifacts.is_empty() {
            return Ok(false);
        }
        let id = task.id.to_string();
        self.queue_remove_conversation(pipe, &id);
        pipe.set(self.keys.task(&id), encode_head(stored)?).ignore();
        self.queue_append(pipe, task, Extent::default())?;
        Ok(true)
    }
}
