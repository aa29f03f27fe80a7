//! [`RedisScheduler`] (feature `redis`): acknowledged, at-least-once delivery of task operations
//! on a Redis stream with a consumer group.
//!
//! **Guarantee.** Every operation whose enqueue returned `Ok` is delivered until a receiver
//! acknowledges or dead-letters it — across receiver crashes, reconnections and restarts of a
//! Redis that persists its writes (AOF with `appendfsync always`) — and an operation id enqueued
//! again within the dedup window is not delivered again. (A `max_stream_len` cap, off by
//! default, trades the first half for bounded memory.)
//!
//! Needs Redis 6.2 or newer (`XAUTOCLAIM`); tested on 7.0. How it works (the keys are listed on
//! [`RedisKeys`]):
//!
//! - **Enqueue** is one Lua script: if the operation id's dedup key is absent, `XADD` the entry
//!   and set the key (with a ttl). A replay after an uncertain failure is a no-op, so
//!   [`Retrying`](crate::Retrying) may repeat it.
//! - **Receive**: each stream is a consumer of its own in the group, reading new entries with
//!   `XREADGROUP … COUNT 1 BLOCK` on a dedicated connection (one at a time, so that nothing waits
//!   in a local buffer while its idle clock runs). Every `claim_interval` it sweeps the pending
//!   entries with `XAUTOCLAIM`: an entry idle for `min_idle` (its receiver died, or dropped it)
//!   is taken over and delivered again, with the delivery count Redis keeps. Past
//!   `max_deliveries` it goes to the dead-letter stream instead.
//! - **Acknowledge** is `XACK` + `XDEL` in one transaction: the stream holds only unfinished
//!   work, so it needs no trimming to stay small. **Keep-alive** resets the idle time with
//!   `XCLAIM … JUSTID` while the receiver still holds the entry. **Dead-letter** copies the
//!   entry with the reason and delivery count to `{prefix}:dead`, then acknowledges and deletes
//!   it, atomically. A delivery dropped without any of these is delivered again after `min_idle`.
//! - **Malformed entries** (not JSON, unknown operation or payload version) are dead-lettered
//!   with the decode error when read; they never stop the receiver or block the stream.
//! - **Connection loss** never ends a stream: the receiver reconnects with capped, jittered
//!   backoff, logging at WARN with the URL's password hidden, and recreates the consumer group
//!   if Redis lost it.
//!
//! ```no_run
//! # async fn run() -> bindu::Result<()> {
//! use bindu::redis::{RedisOptions, RedisScheduler};
//! use bindu::{Retrying, Scheduler};
//! use futures_util::StreamExt;
//!
//! let options = RedisOptions::from_url("redis://localhost:6379/0")?.with_prefix("agent-1");
//! let scheduler = Retrying::new(RedisScheduler::connect_with(options).await?);
//! let mut operations = scheduler.receive_task_operations().await?;
//! while let Some(delivery) = operations.next().await {
//!     let delivery = delivery?;
//!     // … handle delivery.operation(), store its effect, then:
//!     delivery.ack().await?;
//! }
//! # Ok(()) }
//! ```

mod entry;
mod error;
mod keys;
mod lane;
mod options;
mod pool;
mod receipt;
mod receiver;
mod scheduler;
mod scripts;
mod storage;

pub use entry::RedisDeadLetter;
pub use keys::RedisKeys;
pub use options::RedisOptions;
pub use scheduler::RedisScheduler;
pub use storage::RedisStorage;
