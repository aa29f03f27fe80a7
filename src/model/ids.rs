//! Typed identifiers. Each wraps a UUID and is a plain UUID string on the wire.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::Error;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random (v4) id.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self, Error> {
                Uuid::parse_str(s).map(Self).map_err(|_| Error::Invalid {
                    what: $what,
                    reason: format!("{s:?} is not a UUID"),
                })
            }
        }
    };
}

uuid_id!(
    /// Identifies a task. Chosen by the client (it is the `taskId` of the message that creates it).
    TaskId,
    "task id"
);
uuid_id!(
    /// Identifies a context: a conversation that groups tasks.
    ContextId,
    "context id"
);
uuid_id!(
    /// Identifies a message. A message resent with the same id is recognised and not applied twice.
    MessageId,
    "message id"
);
uuid_id!(
    /// Identifies an artifact. An artifact written twice with the same id is stored once.
    ArtifactId,
    "artifact id"
);
uuid_id!(
    /// Identifies one scheduled operation. It is the enqueue's idempotency key: a scheduler
    /// delivers an operation id at most once per enqueue, however often the enqueue is replayed.
    OperationId,
    "operation id"
);

uuid_id!(
    /// Identifies one claim of a task by a run: the fencing token of its writes. Fresh for every
    /// claim and takeover, so two deliveries of the same operation never share it.
    ClaimToken,
    "claim token"
);

/// Namespace for the deterministic run-operation ids of [`OperationId::for_message`].
const RUN_NAMESPACE: Uuid = Uuid::from_u128(0x6b1d_0f3e_52a4_4c1e_9d7b_2f80_b3c1_a9e5);
/// Namespace for the deterministic rescue-operation ids of [`OperationId::for_rescue`].
const RESCUE_NAMESPACE: Uuid = Uuid::from_u128(0x2c4e_81a0_7f3b_4d52_a6c9_0e17_5b8d_f342);

impl OperationId {
    /// The run operation that a message causes: the same task and message always give the same
    /// id, so a resent message can be scheduled again without a second run.
    pub fn for_message(task_id: TaskId, message_id: MessageId) -> Self {
        let mut name = [0u8; 32];
        name[..16].copy_from_slice(task_id.0.as_bytes());
        name[16..].copy_from_slice(message_id.0.as_bytes());
        Self(Uuid::new_v5(&RUN_NAMESPACE, &name))
    }

    /// The run operation that rescues task `task_id`, stuck since `since`: the same stuck task
    /// always gives the same id.
    pub fn for_rescue(task_id: TaskId, since: chrono::DateTime<chrono::Utc>) -> Self {
        let mut name = [0u8; 24];
        name[..16].copy_from_slice(task_id.0.as_bytes());
        name[16..].copy_from_slice(&since.timestamp_micros().to_be_bytes());
        Self(Uuid::new_v5(&RESCUE_NAMESPACE, &name))
    }

    /// An operation that this one causes, e.g. the run a resume schedules: the same operation
    /// and label always give the same id, so a redelivered operation schedules nothing twice.
    pub fn derived(&self, label: &str) -> Self {
        Self(Uuid::new_v5(&self.0, label.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names_what_was_wrong() {
        let err = "nope".parse::<TaskId>().unwrap_err();
        assert_eq!(err.to_string(), "invalid task id: \"nope\" is not a UUID");
        let id = TaskId::new();
        assert_eq!(id.to_string().parse::<TaskId>().unwrap(), id);
    }

    #[test]
    fn run_ids_are_deterministic_per_message() {
        let (task, m1, m2) = (TaskId::new(), MessageId::new(), MessageId::new());
        assert_eq!(OperationId::for_message(task, m1), OperationId::for_message(task, m1));
        assert_ne!(OperationId::for_message(task, m1), OperationId::for_message(task, m2));
        assert_ne!(OperationId::for_message(task, m1), OperationId::for_message(TaskId::new(), m1));
    }
}
