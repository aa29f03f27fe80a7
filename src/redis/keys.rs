//! [`RedisKeys`]: the names of the keys one prefix owns.

use crate::model::OperationId;

/// The keys of one prefix. All share the hash tag `{prefix}`, so they live in one Redis Cluster
/// slot and the scripts that touch several of them stay valid there.
///
/// | key | type | holds |
/// |---|---|---|
/// | `{prefix}:ops` | stream | operations not yet acknowledged (queued or in flight), consumer group `group` |
/// | `{prefix}:dead` | stream | dead letters: the operation's fields plus `reason`, `deliveries`, `entry`, `consumer` |
/// | `{prefix}:op:<operation id>` | string, expires | the stream entry id an operation id was enqueued as (dedup) |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisKeys {
    /// The operation stream.
    pub stream: String,
    /// The dead-letter stream.
    pub dead: String,
    tag: String,
}

impl RedisKeys {
    /// The keys under `prefix`.
    pub fn new(prefix: &str) -> Self {
        let tag = format!("{{{prefix}}}");
        Self { stream: format!("{tag}:ops"), dead: format!("{tag}:dead"), tag }
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
        assert_eq!(keys.stream, "{agent-1}:ops");
        assert_eq!(keys.dead, "{agent-1}:dead");
        assert_eq!(keys.dedup(id), format!("{{agent-1}}:op:{id}"));
    }
}
