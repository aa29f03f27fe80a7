//! One receiver's stream of deliveries: new entries by `XREADGROUP` on a dedicated connection,
//! idle ones taken over by a periodic claim sweep, unreadable ones dead-lettered. Connection
//! loss never ends the stream: the receiver reconnects with capped, jittered backoff.

use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::redis::AsyncConnectionConfig;
use deadpool_redis::redis::aio::MultiplexedConnection;
use futures_util::stream;
use tokio::time::Instant;

use super::RedisOptions;
use super::entry::Entry;
use super::error::{connect_error, lost_group};
use super::receipt::RedisReceipt;
use super::scheduler::Shared;
use super::scripts::{self, CURSOR_START, Claimed};
use crate::error::{Error, Result, Transience};
use crate::scheduler::{Delivery, OperationStream};

/// Opens a receiver: connects now, so that a bad URL or password fails the call instead of the
/// stream. Each receiver is its own consumer in the group.
pub(super) async fn open(shared: Arc<Shared>) -> Result<OperationStream> {
    if shared.closed.is_cancelled() {
        return Err(Error::Closed("redis scheduler"));
    }
    let consumer = format!("{}-{}", shared.options.consumer, uuid::Uuid::new_v4().simple());
    let now = Instant::now();
    let mut receiver = Receiver {
        shared,
        consumer,
        con: None,
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
    consumer: String,
    /// Dedicated (not pooled): a blocking read holds it, and its response timeout is longer.
    con: Option<MultiplexedConnection>,
    /// Where the claim sweep's scan of pending entries goes on.
    cursor: String,
    next_sweep: Instant,
    next_forget: Instant,
    /// Failures in a row; sets the reconnect backoff, reset by any success.
    failures: u32,
    ended: bool,
}

impl Receiver {
    async fn connect(&mut self) -> Result<()> {
        let options = &self.shared.options;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            // The redis crate's default (500 ms) would cut every blocking read short.
            .set_response_timeout(Some(options.block_time + options.response_timeout));
        let mut con = self
            .shared
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|err| connect_error("connect the receiver", err))?;
        scripts::ensure_group(&mut con, &self.shared.keys, &options.group).await?;
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
        // Wait for new entries, but not past the next sweep.
        let block = self.next_sweep.saturating_duration_since(now).min(self.shared.options.block_time);
        let Self { shared, con, consumer, .. } = self;
        let con = con.as_mut().expect("connected above");
        let entry = scripts::read(con, &shared.keys, &shared.options.group, consumer, block).await?;
        self.failures = 0;
        match entry {
            None => Ok(None),
            Some(entry) => self.deliver(entry, 1).await,
        }
    }

    /// Takes over one idle entry. `Some` when the sweep settled this step (a delivery, or a
    /// dead-lettered entry); `None` to go on and read new entries.
    async fn sweep(&mut self, now: Instant) -> Result<Option<Option<Delivery>>> {
        let Self { shared, con, consumer, cursor, .. } = self;
        let con = con.as_mut().expect("connected");
        let claimed = scripts::claim(con, &shared.keys, &shared.options, consumer, cursor).await?;
        self.failures = 0;
        match claimed {
            // The next step sweeps again (continuing the scan) until nothing idle is left.
            Claimed::Entry { entry, deliveries } => self.deliver(entry, deliveries).await.map(Some),
            Claimed::Buried { id, deliveries } => {
                tracing::warn!(entry = %id, deliveries, "operation dead-lettered: delivered too often without acknowledgement");
                Ok(Some(None))
            }
            Claimed::Nothing => {
                if self.cursor == CURSOR_START {
                    self.next_sweep = now + self.shared.options.claim_interval;
                    if now >= self.next_forget {
                        self.forget_idle_consumers(now).await;
                    }
                }
                Ok(None)
            }
        }
    }

    /// The delivery of `entry`, or `None` after dead-lettering an entry that cannot be read.
    async fn deliver(&mut self, entry: Entry, deliveries: u32) -> Result<Option<Delivery>> {
        match entry.operation() {
            Ok(operation) => {
                let receipt = RedisReceipt {
                    shared: Arc::clone(&self.shared),
                    entry_id: entry.id,
                    consumer: self.consumer.clone(),
                    operation: operation.id,
                };
                Ok(Some(Delivery::new(operation, deliveries, Box::new(receipt))))
            }
            Err(problem) => {
                let reason = format!("malformed operation entry: {problem}");
                tracing::warn!(entry = %entry.id, reason, "dead-lettering an operation that cannot be read");
                let Self { shared, con, .. } = self;
                let con = con.as_mut().expect("connected");
                // On failure the entry stays pending here and is retried after the idle time.
                scripts::dead_letter(con, &shared.keys, &shared.options, &entry.id, &reason).await?;
                Ok(None)
            }
        }
    }

    /// Each receiver is a consumer of its own, so the group collects the names of receivers
    /// long gone; those holding nothing are removed now and then.
    async fn forget_idle_consumers(&mut self, now: Instant) {
        let options = &self.shared.options;
        self.next_forget = now + (options.forget_consumers_after / 2).max(options.claim_interval);
        let Some(con) = self.con.as_mut() else { return };
        match scripts::forget_consumers(
            con,
            &self.shared.keys,
            &options.group,
            options.forget_consumers_after,
        )
        .await
        {
            Ok(0) => {}
            Ok(removed) => tracing::debug!(removed, "removed idle consumers holding nothing"),
            // Harmless: the next read reports a broken connection.
            Err(err) => tracing::debug!(error = %err, "could not remove idle consumers"),
        }
    }

    /// Handles a failed step: recreates a lost consumer group, or drops the connection and waits
    /// before the next step reconnects. Returns the error when the consumer should see it
    /// (a permanent one); the stream goes on either way.
    async fn recover(&mut self, mut err: Error) -> Option<Error> {
        if lost_group(&err)
            && let Some(con) = self.con.as_mut()
        {
            tracing::warn!(url = %self.shared.shown_url, stream = %self.shared.keys.stream, "the consumer group is gone (did Redis lose its data?); recreating it");
            match scripts::ensure_group(con, &self.shared.keys, &self.shared.options.group).await {
                Ok(()) => {
                    self.cursor = CURSOR_START.to_owned();
                    return None;
                }
                Err(again) => err = again,
            }
        }
        self.con = None;
        self.failures = self.failures.saturating_add(1);
        let delay = reconnect_delay(&self.shared.options, self.failures);
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

/// The wait before reconnection attempt `failures` (from 1): drawn uniformly from
/// `[min, min × 2^(failures−1)]`, capped at the max, so receivers that lost the same server do
/// not come back in lockstep.
fn reconnect_delay(options: &RedisOptions, failures: u32) -> Duration {
    let min = options.reconnect_min_delay;
    let doubled = min.saturating_mul(1 << failures.saturating_sub(1).min(20));
    let cap = doubled.min(options.reconnect_max_delay).max(min);
    min + (cap - min).mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_delays_grow_with_jitter_up_to_the_cap() {
        let options = RedisOptions::from_url("redis://127.0.0.1/").unwrap();
        let (min, max) = (options.reconnect_min_delay, options.reconnect_max_delay);
        assert_eq!(reconnect_delay(&options, 1), min);
        for failures in 1..40 {
            for _ in 0..100 {
                let delay = reconnect_delay(&options, failures);
                let bound = min.saturating_mul(1 << (failures - 1).min(20)).min(max);
                assert!(delay >= min && delay <= bound, "{failures}: {delay:?}");
            }
        }
        let late: Vec<Duration> = (0..100).map(|_| reconnect_delay(&options, 30)).collect();
        assert!(late.iter().any(|delay| *delay > max / 2), "jitter reaches up to the cap");
        assert!(late.iter().collect::<std::collections::HashSet<_>>().len() > 50, "jittered");
    }
}
