//! What is stored per task, per context and per claim, and how it is encoded.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{Claim, Message, Metadata, Task};

/// A task with what storage keeps beside it. (The claim has a key of its own: see
/// [`StorageKeys`](super::keys::StorageKeys).)
#[derive(Serialize, Deserialize)]
pub(super) struct StoredTask {
    pub(super) task: Task,
    pub(super) owner: Option<String>,
    pub(super) seq: u64,
}

/// What `{p}:store:task:<id>` holds: a [`StoredTask`] whose task has no history and no
/// artifacts (those have keys of their own), encoded without copying them.
#[derive(Serialize)]
struct StoredHead<'t> {
    task: &'t Task,
    owner: Option<&'t str>,
    seq: u64,
}

/// `stored` as its head: everything but the conversation.
pub(super) fn encode_head(stored: &StoredTask) -> Result<String> {
    let task = &stored.task;
    // A struct literal, not `..`: a field added to `Task` must be placed here on purpose.
    let head = Task {
        id: task.id,
        context_id: task.context_id,
        status: task.status.clone(),
        artifacts: Vec::new(),
        history: Vec::new(),
        metadata: task.metadata.clone(),
    };
    encode(&StoredHead { task: &head, owner: stored.owner.as_deref(), seq: stored.seq })
}

/// A context.
#[derive(Serialize, Deserialize)]
pub(super) struct StoredContext {
    pub(super) owner: Option<String>,
    pub(super) seq: u64,
    #[serde(default)]
    pub(super) data: Metadata,
    #[serde(default)]
    pub(super) messages: Vec<Message>,
}

pub(super) fn encode<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|err| Error::Invalid { what: "value to store", reason: err.to_string() })
}

pub(super) fn decode<T: for<'de> Deserialize<'de>>(what: &'static str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|err| Error::Decode { what, reason: err.to_string() })
}

/// The claim hash's fields.
pub(super) const TOKEN: &str = "token";
pub(super) const RUN: &str = "run";
pub(super) const LEASE_UNTIL: &str = "lease_until";

/// The fields of `claim`'s hash.
pub(super) fn claim_fields(claim: &Claim) -> [(&'static str, String); 3] {
    [
        (TOKEN, claim.token.to_string()),
        (RUN, claim.run.to_string()),
        (LEASE_UNTIL, millis(claim.lease_until).to_string()),
    ]
}

/// The claim in a hash read with `HGETALL`: `None` when there is none (an empty hash).
pub(super) fn claim_from(fields: &HashMap<String, String>) -> Result<Option<Claim>> {
    if fields.is_empty() {
        return Ok(None);
    }
    let field = |name: &str| {
        fields.get(name).ok_or_else(|| Error::Decode { what: "claim", reason: format!("no {name:?}") })
    };
    let lease_until =
        field(LEASE_UNTIL)?.parse::<i64>().ok().and_then(DateTime::from_timestamp_millis).ok_or_else(
            || Error::Decode { what: "claim", reason: "lease_until is not a time in ms".into() },
        )?;
    Ok(Some(Claim { token: field(TOKEN)?.parse()?, run: field(RUN)?.parse()?, lease_until }))
}

/// `at` in whole milliseconds since the epoch: how times are kept in Redis (a sorted set's
/// scores, a claim's lease), so that scripts compare them with `TIME`.
pub(super) fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::{ClaimRequest, OperationId};

    #[test]
    fn claims_round_trip_to_the_millisecond() {
        let now = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        let claim = ClaimRequest::new(OperationId::new(), Duration::from_secs(30)).claim_at(now);
        let fields: HashMap<String, String> =
            claim_fields(&claim).into_iter().map(|(name, value)| (name.to_owned(), value)).collect();
        assert_eq!(claim_from(&fields).unwrap(), Some(claim));
        assert_eq!(claim_from(&HashMap::new()).unwrap(), None);
        let broken = HashMap::from([(TOKEN.to_owned(), "nope".to_owned())]);
        assert!(matches!(claim_from(&broken), Err(Error::Decode { .. })));
        let huge = ClaimRequest::new(OperationId::new(), Duration::MAX).claim_at(now);
        let fields: HashMap<String, String> =
            claim_fields(&huge).into_iter().map(|(name, value)| (name.to_owned(), value)).collect();
        assert_eq!(
            claim_from(&fields).unwrap().unwrap().lease_until.timestamp_millis(),
            millis(huge.lease_until)
        );
    }
}
