//! Why a network request failed.

use troupe_runtime::AgentError;

use crate::handoff::MemberError;

/// Why a request to a network pattern got no answer. With a fan-out, a failing branch only ends
/// itself; the request fails with the first branch error once every branch has ended without
/// a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// A path used up the hop budget: the message would have travelled once more.
    #[error("hop budget of {budget} spent: {path} (refused: {from} -> {to})")]
    HopBudgetSpent {
        /// The configured budget.
        budget: u32,
        /// The path taken, `a -> b -> ...`.
        path: String,
        /// The member that tried to send on.
        from: String,
        /// The member it tried to reach.
        to: String,
    },
    /// The request's deliveries (all branches together) used up the message budget.
    #[error("message budget of {budget} spent: {path} (refused: {from} -> {to})")]
    MessageBudgetSpent {
        /// The configured budget.
        budget: u32,
        /// The path of the branch that hit it.
        path: String,
        /// The member that tried to send.
        from: String,
        /// The member it tried to reach.
        to: String,
    },
    /// A member sent to a name that is not a member.
    #[error("member {from} sent to unknown member {to:?} (members: {known})")]
    UnknownTarget {
        /// The sender.
        from: String,
        /// The name it used.
        to: String,
        /// The members, comma separated.
        known: String,
    },
    /// A member's answer is not a valid step.
    #[error("member {agent} broke the network protocol: {reason}")]
    Protocol {
        /// The member.
        agent: String,
        /// What is wrong.
        reason: String,
    },
    /// A call to a member failed.
    #[error("member {agent}: {error}")]
    Member {
        /// The member.
        agent: String,
        /// Why.
        error: MemberError,
    },
    /// The peer actor of a member was not running (being restarted): the message was lost.
    #[error("the peer of member {agent} is not running; the message to it was lost")]
    PeerDown {
        /// The member.
        agent: String,
    },
    /// Every branch ended (`{"send": []}`) without a reply.
    #[error("every branch ended without a reply")]
    NoReply,
}

impl From<NetworkError> for AgentError {
    fn from(e: NetworkError) -> Self {
        let retryable = match &e {
            NetworkError::Member { error, .. } => error.is_retryable(),
            NetworkError::PeerDown { .. } => true,
            _ => false,
        };
        if retryable {
            AgentError::transient(e.to_string())
        } else {
            AgentError::permanent(e.to_string())
        }
    }
}
