//! One receiver's stream of deliveries: new entries of its lanes' streams by `XREADGROUP` on a
//! dedicated connection (control first), idle ones taken over by a periodic claim sweep of each
//! stream, unreadable ones dead-lettered. Connection loss never ends the stream: the receiver
//! reconnects with capped, jittered backoff.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use deadpool_redis::redis::AsyncConnectionConfig;
use deadpool_redis::redis::aio::MultiplexedConnection;
use futures_util::stream;
use tokio::time::Instant;

use super::commands::{self, CURSOR_START};
use super::entry::Entry;
use super::receipt::RedisReceipt;
use super::settle::{Found, Holding};
use super::shared::Shared;
use super::sweep::{self, Claimed};
use crate::error::{Error, Result, Transience};
use crate::model::{Lane, Lanes};
use crate::redis::error::{connect_error, lost_group};
use crate::retry::Backoff;
use crate::scheduler::{BatchHint, Delivery, OperationStream};

/// The most entries one read takes per stream, whatever the hint.
const MAX_BATCH: usize = 64;

/// Opens a receiver of `lanes`: connects now, so that a bad URL or password fails the call
/// instead of the stream. Each receiver is its own consumer in the group.
pub(super) async fn open(
    shared: Arc<Shared>,
    lanes: Lanes,
    batch: Option<BatchHint>,
) -> Result<OperationStream> {
    shared.check_open()?;
    let consumer = format!("{}-{}", shared.options.consumer, uuid::Uuid::new_v4().simple());
    let now = Instant::now();
    let mut receiver = Receiver {
        lanes,
        backoff: Backoff::new(shared.options.reconnect_min_delay, shared.options.reconnect_max_delay),
        shared,
        consumer,
        con: None,
        batch,
        waiting: VecDeque::new(),
        sweep_lanes: lanes.lanes().collect(),
        sweep_at: 0,
        cursor: CURSOR_START.to_owned(),
        next_sweep: now,
        next_forget: now,
        failures: 0,
        ended: false,
    };
    receiver.connect().await?;
    // `unfold` keeps an unfinished `next` inside the stream, so a caller that stops waiting (a
    // timeout, a `select!`) loses nothing: the same read goes on at the next poll.
    Ok(Box::pin(stream::unfold(receiver, |mut receiver| async move {
        let item = receiver.next().await?;
        Some((item, receiver))
    })))
}

struct Receiver {
    shared: Arc<Shared>,
    lanes: Lanes,
    consumer: String,
    backoff: Backoff,
    /// Dedicated (not pooled): a blocking read holds it, and its response timeout is longer.
    con: Option<MultiplexedConnection>,
    /// How many entries a read may take per stream; one when there is no hint.
    batch: Option<BatchHint>,
    /// Entries read together (a control operation and a run, or a batch), handed out one by one
    /// after the first, in order.
    waiting: VecDeque<Waiting>,
    /// The lanes the claim sweep goes through, control first, and where it is.
    sweep_lanes: Vec<Lane>,
    sweep_at: usize,
    /// Where the claim sweep's scan of the current lane's pending entries goes on.
    cursor: String,
    next_sweep: Instant,
    next_forget: Instant,
    /// Failures in a row; sets the reconnect backoff, reset by any success.
    failures: u32,
    ended: bool,
}

struct Waiting {
    lane: Lane,
    entry: Entry,
    since: Instant,
}

impl Receiver {
    async fn connect(&mut self) -> Result<()> {
        let options = &self.shared.options;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(options.redis.connect_timeout))
            // The redis crate's default (500 ms) would cut every blocking read short.
            .set_response_timeout(Some(options.block_time + options.redis.response_timeout));
        let mut con = self
            .shared
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|err| connect_error("connect the receiver", err))?;
        commands::ensure_groups(&mut con, &self.shared.keys, &options.group).await?;
        self.con = Some(con);
        Ok(())
    }

    async fn next(&mut self) -> Option<Result<Delivery>> {
        loop {
            if self.ended {
                return None;
            }
            let closed = self.shared.closed.clone();
            let step = tokio::select! {
                biased;
                () = closed.cancelled() => None,
                step = self.step() => Some(step),
            };
            let Some(step) = step else {
                self.ended = true;
                return Some(Err(Error::Closed("redis scheduler")));
            };
            match step {
                Ok(Some(delivery)) => return Some(Ok(delivery)),
                Ok(None) => {}
                Err(err) => {
                    if let Some(err) = self.recover(err).await {
                        return Some(Err(err));
                    }
                }
            }
        }
    }

    fn con(&mut self) -> &mut MultiplexedConnection {
        self.con.as_mut().expect("connected")
    }

    /// One command's worth of work: `Ok(None)` when there is nothing to hand out yet.
    async fn step(&mut self) -> Result<Option<Delivery>> {
        if self.con.is_none() {
            self.connect().await?;
            tracing::info!(url = %self.shared.shown_url, consumer = %self.consumer, failures = self.failures, "reconnected to Redis");
        }
        let now = Instant::now();
        if now >= self.next_sweep {
            match self.sweep(now).await {
                Ok(Some(found)) => return Ok(found),
                Ok(None) => {}
                Err(err) => {
                    // A sweep that keeps failing (say, the dead-letter key was overwritten with
                    // another type) must not stop new entries from being read in between.
                    self.next_sweep = now + self.shared.options.claim_interval;
                    return Err(err);
                }
            }
        }
        if let Some(waiting) = self.waiting.pop_front() {
            return self.deliver_waiting(waiting).await;
        }
        // Wait for new entries, but not past the next sweep.
        let block = self.next_sweep.saturating_duration_since(now).min(self.shared.options.block_time);
        let count = self.batch.as_ref().map_or(1, BatchHint::get).min(MAX_BATCH);
        let Self { shared, con, consumer, lanes, .. } = self;
        let con = con.as_mut().expect("connected");
        let entries =
            commands::read(con, &shared.keys, &shared.options.group, consumer, *lanes, count, Some(block))
                .await?;
        self.failures = 0;
        let mut entries = entries.into_iter();
        let Some((lane, entry)) = entries.next() else { return Ok(None) };
        let since = Instant::now();
        self.waiting.extend(entries.map(|(lane, entry)| Waiting { lane, entry, since }));
        self.deliver(lane, entry, 1).await
    }

    /// Hands out the run read together with a control operation — unless another control
    /// operation came meanwhile (control first), or the run went idle long enough to be taken
    /// over while it waited.
    async fn deliver_waiting(&mut self, waiting: Waiting) -> Result<Option<Delivery>> {
        let shared = Arc::clone(&self.shared);
        let (group, consumer) = (&shared.options.group, self.consumer.clone());
        if waiting.lane != Lane::Control && self.lanes.includes(Lane::Control) {
            let control =
                commands::read(self.con(), &shared.keys, group, &consumer, Lanes::Control, 1, None).await;
            match control {
                Ok(entries) => {
                    if let Some((lane, entry)) = entries.into_iter().next() {
                        self.waiting.push_front(waiting);
                        return self.deliver(lane, entry, 1).await;
                    }
                }
                Err(err) => {
                    self.waiting.push_front(waiting);
                    return Err(err);
                }
            }
        }
        if waiting.since.elapsed() >= shared.options.min_idle / 2 {
            let holding = Holding {
                stream: shared.keys.stream(waiting.lane),
                group,
                consumer: &consumer,
                entry_id: &waiting.entry.id,
                deliveries: 1,
            };
            // Not ours any more (or unknown): a sweep delivers it again in any case.
            if !matches!(holding.keep_alive(self.con()).await, Ok(Found::Held)) {
                return Ok(None);
            }
        }
        self.deliver(waiting.lane, waiting.entry, 1).await
    }

    /// Takes over one idle entry, lane by lane. `Some` when the sweep settled this step (a
    /// delivery, or a dead-lettered entry); `None` to go on and read new entries.
    async fn sweep(&mut self, now: Instant) -> Result<Option<Option<Delivery>>> {
        let shared = Arc::clone(&self.shared);
        loop {
            let lane = self.sweep_lanes[self.sweep_at];
            let Self { con, consumer, cursor, .. } = self;
            let con = con.as_mut().expect("connected");
            let stream = shared.keys.stream(lane);
            let claimed =
                sweep::claim(con, stream, &shared.keys.dead, &shared.options, consumer, cursor).await?;
            self.failures = 0;
            match claimed {
                // The next step sweeps again (continuing the scan) until nothing idle is left.
                Claimed::Entry { entry, deliveries } => {
                    return self.deliver(lane, entry, deliveries).await.map(Some);
                }
                Claimed::Buried { id, deliveries } => {
                    tracing::warn!(entry = %id, stream, deliveries, "operation dead-lettered: delivered too often without being settled");
                    return Ok(Some(None));
                }
                // The scan of this lane stopped half-way: it goes on at the next step.
                Claimed::Nothing if self.cursor != CURSOR_START => return Ok(None),
                Claimed::Nothing => {
                    self.sweep_at += 1;
                    if self.sweep_at < self.sweep_lanes.len() {
                        continue;
                    }
                    self.sweep_at = 0;
                    self.next_sweep = now + shared.options.claim_interval;
                    if now >= self.next_forget {
                        self.forget_idle_consumers(now).await;
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// The delivery of `entry`, or `None` after dead-lettering an entry that cannot be read.
    async fn deliver(&mut self, lane: Lane, entry: Entry, deliveries: u32) -> Result<Option<Delivery>> {
        let shared = Arc::clone(&self.shared);
        match entry.operation() {
            Ok(operation) => {
                let receipt = RedisReceipt {
                    shared,
                    lane,
                    entry_id: entry.id,
                    consumer: self.consumer.clone(),
                    deliveries,
                    operation: operation.id,
                    done: AtomicBool::new(false),
                };
                let over_limit = deliveries > self.shared.options.max_deliveries;
                Ok(Some(Delivery::new(operation, deliveries, Box::new(receipt)).past_limit(over_limit)))
            }
            Err(problem) => {
                let reason = format!("malformed operation entry: {problem}");
                tracing::warn!(entry = %entry.id, reason, "dead-lettering an operation that cannot be read");
                let consumer = self.consumer.clone();
                let holding = Holding {
                    stream: shared.keys.stream(lane),
                    group: &shared.options.group,
                    consumer: &consumer,
                    entry_id: &entry.id,
                    deliveries,
                };
                // On failure the entry stays pending here and is retried after the idle time.
                holding.dead_letter(self.con(), &shared.keys.dead, &shared.options, &reason).await?;
                Ok(None)
            }
        }
    }

    /// Each receiver is a consumer of its own, so the groups collect the names of receivers
    /// long gone; those holding nothing are removed now and then.
    async fn forget_idle_consumers(&mut self, now: Instant) {
        let shared = Arc::clone(&self.shared);
        let options = &shared.options;
        self.next_forget = now + (options.forget_consumers_after / 2).max(options.claim_interval);
        let Some(con) = self.con.as_mut() else { return };
        for lane in &self.sweep_lanes {
            let stream = shared.keys.stream(*lane);
            match sweep::forget_consumers(con, stream, &options.group, options.forget_consumers_after).await {
                Ok(0) => {}
                Ok(removed) => tracing::debug!(removed, stream, "removed idle consumers holding nothing"),
                // Harmless: the next read reports a broken connection.
                Err(err) => tracing::debug!(error = %err, stream, "could not remove idle consumers"),
            }
        }
    }

    /// Handles a failed step: recreates a lost consumer group, or drops the connection and waits
    /// before the next step reconnects. Returns the error when the consumer should see it
    /// (a permanent one); the stream goes on either way.
    async fn recover(&mut self, mut err: Error) -> Option<Error> {
        if lost_group(&err)
            && let Some(con) = self.con.as_mut()
        {
            tracing::warn!(url = %self.shared.shown_url, stream = %self.shared.keys.runs, "the consumer group is gone (did Redis lose its data?); recreating it");
            match commands::ensure_groups(con, &self.shared.keys, &self.shared.options.group).await {
                Ok(()) => {
                    self.cursor = CURSOR_START.to_owned();
                    self.sweep_at = 0;
                    self.waiting.clear();
                    return None;
                }
                Err(again) => err = again,
            }
        }
        self.con = None;
        self.failures = self.failures.saturating_add(1);
        let delay = self.backoff.wait(self.failures);
        let retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        let permanent = err.transience() == Transience::Permanent;
        let (url, consumer, failures) = (&self.shared.shown_url, &self.consumer, self.failures);
        if permanent {
            tracing::error!(%url, %consumer, failures, retry_in_ms, error = %err, "Redis refused the receiver; retrying");
        } else {
            tracing::warn!(%url, %consumer, failures, retry_in_ms, error = %err, "lost the Redis connection; reconnecting");
        }
        let closed = self.shared.closed.clone();
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = closed.cancelled() => {}
        }
        permanent.then_some(err)
    }
}
