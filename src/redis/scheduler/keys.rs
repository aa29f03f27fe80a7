//! [`RedisKeys`]: the names of the keys one prefix's scheduler owns.

use crate::model::{Lane, OperationId};

/// The scheduler's keys of one prefix. All share the hash tag `{prefix}`, so they live in one
/// Redis Cluster slot and the scripts that touch several of them stay valid there.
///
/// | key | type | holds |
/// |---|---|---|
/// | `{prefix}:ops` | stream | runs not yet settled (queued or in flight), consumer group `group`; before lanes, every operation |
/// | `{prefix}:control` | stream | cancels, pauses and resumes not yet settled, same consumer group |
/// | `{prefix}:dead` | stream | dead letters: the operation's fields plus `reason`, `deliveries`, `entry`, `consumer` |
/// | `{prefix}:op:<operation id>` | string, expires | the stream entry id an operation id was enqueued as (dedup) |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisKeys {
    /// The runs stream (it keeps the name of the single stream of earlier releases, so that what
    /// they enqueued is still delivered).
    pub runs: String,
    /// The control stream: cancel, pause, resume.
    pub control: String,
    /// The dead-letter stream.
    pub dead: String,
    tag: String,
}

impl RedisKeys {
    /// The keys under `prefix`.
    pub fn new(prefix: &str) -> Self {
        let tag = format!("{{{prefix}}}");
        Self {
            runs: format!("{tag}:ops"),
            control: format!("{tag}:control"),
            dead: format!("{tag}:dead"),
            tag,
        }
    }

    /// The stream of `lane`.
    pub fn stream(&self, lane: Lane) -> &str {
        match lane {
            Lane::Runs => &self.runs,
            Lane::Control => &self.control,
        }
    }

    /// The dedup key of operation `id`.
    pub fn dedup(&self, id: OperationId) -> String {
        format!("{}:op:{id}", self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_one_hash_tag() {
        let keys = RedisKeys::new("agent-1");
        let id = OperationId::new();
        assert_eq!(keys.stream(Lane::Runs), "{agent-1}:ops");
        assert_eq!(keys.stream(Lane::Control), "{agent-1}:control");
        assert_eq!(keys.dead, "{agent-1}:dead");
        assert_eq!(keys.dedup(id), format!("{{agent-1}}:op:{id}"));
    }
}
