//! Why a handoff request failed.

use troupe_runtime::AgentError;

use super::crash::MemberError;
use super::turn::Merge;

/// Why a request to a handoff pattern failed. A failed turn leaves its conversation as it was
/// before the turn (active member, context, stack and history unchanged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandoffError {
    /// The request is not a handoff request.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A query or end named a conversation that does not exist.
    #[error("no conversation {0:?}")]
    UnknownConversation(String),
    /// A new conversation would exceed `max_conversations`.
    #[error("conversation limit of {limit} reached: end one before starting {conversation:?}")]
    TooManyConversations {
        /// The configured limit.
        limit: usize,
        /// The conversation refused.
        conversation: String,
    },
    /// A member passed control to a name that is not a member.
    #[error("member {from} passed control to unknown member {to:?} (members: {known})")]
    UnknownMember {
        /// The member that did it.
        from: String,
        /// The name it used.
        to: String,
        /// The members, comma separated.
        known: String,
    },
    /// A member handed back, but no agent handed off to it.
    #[error("member {agent} handed back, but the hand-back stack is empty")]
    NothingToHandBack {
        /// The member.
        agent: String,
    },
    /// More transfers in one turn than `max_handoffs`: a handoff loop.
    #[error("handoff limit of {limit} reached in one turn: {}", path.join(" -> "))]
    LimitReached {
        /// The configured limit.
        limit: u32,
        /// The members that had control, in order, ending with the refused transfer's target.
        path: Vec<String>,
    },
    /// A member's answer is not a valid turn.
    #[error("member {agent} broke the turn protocol: {reason}")]
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
    /// A fork's branches could not be joined by its merge rule.
    #[error("fork from {from} to [{}] (merge {}) failed: {reason}", to.join(", "), merge.name())]
    Fork {
        /// The forking member.
        from: String,
        /// The branches.
        to: Vec<String>,
        /// The merge rule.
        merge: Merge,
        /// Why the rule failed (naming the failed branches).
        reason: String,
    },
}

impl From<HandoffError> for AgentError {
    fn from(e: HandoffError) -> Self {
        let retryable = match &e {
            HandoffError::Member { error, .. } => error.is_retryable(),
            _ => false,
        };
        if retryable {
            AgentError::transient(e.to_string())
        } else {
            AgentError::permanent(e.to_string())
        }
    }
}
