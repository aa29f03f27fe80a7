//! Task states and the rule that terminal states are absorbing.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Every state a Bindu task can be in: the eight A2A states and Bindu's nine extras.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskState {
    /// Accepted and waiting for a worker.
    Submitted,
    /// A worker is running the agent.
    Working,
    /// The agent needs more input from the user.
    InputRequired,
    /// Finished successfully (terminal).
    Completed,
    /// Canceled on request (terminal).
    Canceled,
    /// Failed (terminal).
    Failed,
    /// Refused by the agent (terminal).
    Rejected,
    /// The agent needs the user to authenticate.
    AuthRequired,
    /// Payment is needed before the agent runs.
    PaymentRequired,
    /// The state is not known.
    Unknown,
    /// Trust must be verified before the agent runs.
    TrustVerificationRequired,
    /// Waiting for something outside the agent.
    Pending,
    /// Paused; progress is kept and a resume continues it.
    Suspended,
    /// Resumed after a pause, waiting for a worker.
    Resumed,
    /// Negotiation: a bid was submitted.
    NegotiationBidSubmitted,
    /// Negotiation: the bid was lost.
    NegotiationBidLost,
    /// Negotiation: the bid was won.
    NegotiationBidWon,
}

impl TaskState {
    /// All seventeen states.
    pub const ALL: [TaskState; 17] = [
        Self::Submitted,
        Self::Working,
        Self::InputRequired,
        Self::Completed,
        Self::Canceled,
        Self::Failed,
        Self::Rejected,
        Self::AuthRequired,
        Self::PaymentRequired,
        Self::Unknown,
        Self::TrustVerificationRequired,
        Self::Pending,
        Self::Suspended,
        Self::Resumed,
        Self::NegotiationBidSubmitted,
        Self::NegotiationBidLost,
        Self::NegotiationBidWon,
    ];

    /// Completed, failed, canceled and rejected are terminal: a task in one of them never changes
    /// again.
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Canceled | Self::Rejected)
    }

    /// The wire name, e.g. `input-required`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::Working => "working",
            Self::InputRequired => "input-required",
            Self::Completed => "completed",
            Self::Canceled => "canceled",
            Self::Failed => "failed",
            Self::Rejected => "rejected",
            Self::AuthRequired => "auth-required",
            Self::PaymentRequired => "payment-required",
            Self::Unknown => "unknown",
            Self::TrustVerificationRequired => "trust-verification-required",
            Self::Pending => "pending",
            Self::Suspended => "suspended",
            Self::Resumed => "resumed",
            Self::NegotiationBidSubmitted => "negotiation-bid-submitted",
            Self::NegotiationBidLost => "negotiation-bid-lost",
            Self::NegotiationBidWon => "negotiation-bid-won",
        }
    }

    /// Parses a wire name; `None` for anything else.
    pub fn from_wire(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == name)
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde() {
        for state in TaskState::ALL {
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.as_str()));
            assert_eq!(TaskState::from_wire(state.as_str()), Some(state));
        }
        assert_eq!(TaskState::from_wire("done"), None);
    }

    #[test]
    fn exactly_four_terminal_states() {
        let terminal: Vec<_> = TaskState::ALL.into_iter().filter(|s| s.is_terminal()).collect();
        assert_eq!(
            terminal,
            [TaskState::Completed, TaskState::Canceled, TaskState::Failed, TaskState::Rejected]
        );
    }
}
