//! What a receiver does with one delivery — acknowledge, dead-letter, release, keep alive — each
//! a script that first checks, atomically, that the delivery is still the receiver's.

use std::sync::LazyLock;
use std::time::Duration;

use deadpool_redis::redis::{Script, ScriptInvocation, aio::ConnectionLike};

use super::RedisSchedulerOptions;
use super::commands::millis;
use crate::error::Result;
use crate::redis::error::command_error;

macro_rules! holder_script {
    ($($file:literal),+) => {
        LazyLock::new(|| Script::new(concat!(include_str!("lua/holder.lua"), $(include_str!($file)),+)))
    };
}

static ACK: LazyLock<Script> = holder_script!("lua/ack.lua");
static DEAD_LETTER: LazyLock<Script> =
    holder_script!("lua/append.lua", "lua/bury.lua", "lua/dead_letter.lua");
static RELEASE: LazyLock<Script> = holder_script!("lua/release.lua");
static KEEP_ALIVE: LazyLock<Script> = holder_script!("lua/keep_alive.lua");

/// One delivery as its receiver got it: the entry, in which stream, for which consumer, with
/// which delivery count.
#[derive(Clone, Copy, Debug)]
pub(super) struct Holding<'a> {
    pub(super) stream: &'a str,
    pub(super) group: &'a str,
    pub(super) consumer: &'a str,
    pub(super) entry_id: &'a str,
    pub(super) deliveries: u32,
}

/// What a script found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Found {
    /// The delivery was still the receiver's: the script did its work.
    Held,
    /// The entry was settled already.
    Settled,
    /// Another delivery holds the entry now: another receiver took it over, or this one got it
    /// again.
    TakenOver,
}

impl Holding<'_> {
    fn invocation<'s>(&self, script: &'s Script) -> ScriptInvocation<'s> {
        let mut invocation = script.key(self.stream);
        invocation.arg(self.group).arg(self.consumer).arg(self.entry_id).arg(self.deliveries);
        invocation
    }

    /// Acknowledges and deletes the entry.
    pub(super) async fn ack(&self, con: &mut impl ConnectionLike) -> Result<Found> {
        run(con, "acknowledge", self.invocation(&ACK)).await
    }

    /// Moves the entry to the dead-letter stream with `reason`.
    pub(super) async fn dead_letter(
        &self,
        con: &mut impl ConnectionLike,
        dead: &str,
        options: &RedisSchedulerOptions,
        reason: &str,
    ) -> Result<Found> {
        let mut invocation = self.invocation(&DEAD_LETTER);
        invocation.key(dead).arg(reason).arg(options.max_dead_letters.unwrap_or(0));
        run(con, "dead-letter", invocation).await
    }

    /// Makes the entry claimable again after `delay` (at most `min_idle`), without counting a
    /// delivery.
    pub(super) async fn release(
        &self,
        con: &mut impl ConnectionLike,
        delay: Duration,
        min_idle: Duration,
    ) -> Result<Found> {
        let mut invocation = self.invocation(&RELEASE);
        invocation.arg(millis(min_idle.saturating_sub(delay)));
        run(con, "release", invocation).await
    }

    /// Resets the entry's idle time.
    pub(super) async fn keep_alive(&self, con: &mut impl ConnectionLike) -> Result<Found> {
        run(con, "keep alive", self.invocation(&KEEP_ALIVE)).await
    }
}

async fn run(con: &mut impl ConnectionLike, what: &str, invocation: ScriptInvocation<'_>) -> Result<Found> {
    let found: i64 = invocation.invoke_async(con).await.map_err(|err| command_error(what, err))?;
    Ok(match found {
        1 => Found::Held,
        0 => Found::Settled,
        _ => Found::TakenOver,
    })
}
