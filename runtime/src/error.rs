//! Typed errors of the agent layer. Workflow and file errors live with their modules.

use std::time::Duration;

use crate::ids::AgentId;

/// What an agent's handler returns when it cannot serve a request. The agent keeps running;
/// only a panic crashes it (and hands it to its supervisor).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum AgentError {
    /// A failure that may go away on a retry (a busy resource, a flaky dependency).
    #[error("{0}")]
    Transient(String),
    /// A failure a retry cannot fix (bad input, a refused operation).
    #[error("{0}")]
    Permanent(String),
}

impl AgentError {
    /// A failure worth retrying.
    pub fn transient(msg: impl Into<String>) -> Self {
        Self::Transient(msg.into())
    }

    /// A failure not worth retrying.
    pub fn permanent(msg: impl Into<String>) -> Self {
        Self::Permanent(msg.into())
    }

    /// Whether a retry might succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Transient(_))
    }

    /// The same kind of error with its message rewritten (to add context).
    pub fn map_message(self, f: impl FnOnce(String) -> String) -> Self {
        match self {
            Self::Transient(m) => Self::Transient(f(m)),
            Self::Permanent(m) => Self::Permanent(f(m)),
        }
    }
}

/// Why a call to an agent did not produce a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No reply within the deadline. The request may still be processed.
    #[error("agent {agent} did not reply within {after:?}")]
    Timeout {
        /// The agent called.
        agent: AgentId,
        /// The deadline that passed.
        after: Duration,
    },
    /// The agent crashed while handling the request (its supervisor restarts it per policy).
    #[error("agent {agent} failed while handling the request")]
    AgentFailed {
        /// The agent called.
        agent: AgentId,
    },
    /// The agent is not running (stopped, or between a crash and its restart).
    #[error("agent {agent} is not running")]
    AgentStopped {
        /// The agent called.
        agent: AgentId,
    },
    /// No agent with this id exists on this runtime.
    #[error("no agent {agent}")]
    NoSuchAgent {
        /// The id asked for.
        agent: AgentId,
    },
    /// The agent exists but is of another kind than the caller expects.
    #[error("agent {agent} is of kind {actual}, not {expected}")]
    WrongKind {
        /// The agent called.
        agent: AgentId,
        /// The kind the caller expected.
        expected: String,
        /// The agent's kind.
        actual: String,
    },
    /// The agent's handler answered with an error.
    #[error("agent {agent}: {error}")]
    Rejected {
        /// The agent called.
        agent: AgentId,
        /// What the handler said.
        error: AgentError,
    },
    /// A dynamic request could not be turned into the agent's request type, or its reply into a
    /// value.
    #[error("agent {agent}: bad request: {reason}")]
    BadRequest {
        /// The agent called.
        agent: AgentId,
        /// What did not fit.
        reason: String,
    },
    /// The circuit breaker of the agent's pool is open: calls fail fast until it half-opens.
    #[error("circuit of pool {pool} is open (retry in {retry_in:?})")]
    CircuitOpen {
        /// The pool.
        pool: String,
        /// Time until a trial call is allowed.
        retry_in: Duration,
    },
    /// The agent's mailbox is full (see [`crate::agent::DEFAULT_MAILBOX_CAPACITY`]): a
    /// [`tell`](crate::AgentRef::tell) that does not wait was refused. Nothing was queued.
    #[error("agent {agent}: mailbox full ({capacity} messages queued)")]
    MailboxFull {
        /// The agent called.
        agent: AgentId,
        /// Its mailbox capacity.
        capacity: usize,
    },
}

impl CallError {
    /// Whether a later retry of the same request might succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout { .. }
            | Self::AgentFailed { .. }
            | Self::AgentStopped { .. }
            | Self::CircuitOpen { .. }
            | Self::MailboxFull { .. } => true,
            Self::Rejected { error, .. } => error.is_retryable(),
            Self::NoSuchAgent { .. } | Self::WrongKind { .. } | Self::BadRequest { .. } => false,
        }
    }

    /// A short stable name for the error class, as used by retry policies (`retry_on`).
    pub fn class(&self) -> &'static str {
        match self {
            Self::Timeout { .. } => "timeout",
            Self::AgentFailed { .. } => "agent_failed",
            Self::AgentStopped { .. } => "agent_stopped",
            Self::NoSuchAgent { .. } => "no_such_agent",
            Self::WrongKind { .. } => "wrong_kind",
            Self::Rejected { error, .. } if error.is_retryable() => "transient",
            Self::Rejected { .. } => "permanent",
            Self::BadRequest { .. } => "bad_request",
            Self::CircuitOpen { .. } => "circuit_open",
            Self::MailboxFull { .. } => "mailbox_full",
        }
    }
}

/// Why an agent could not be spawned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// An agent with this id already runs on this runtime.
    #[error("agent {0} already exists")]
    AlreadyExists(AgentId),
    /// No agent kind of this name is registered.
    #[error("unknown agent kind {kind:?} (registered: {known})")]
    UnknownKind {
        /// The kind asked for.
        kind: String,
        /// The registered kinds, comma separated.
        known: String,
    },
    /// The kind's factory refused its configuration (the error names the kind, where in the
    /// config, and why).
    #[error("agent kind {}: bad config{}: {}", .0.kind, crate::config::at_path(&.0.path), .0.reason)]
    BadConfig(crate::config::ConfigError),
    /// The agent's `init` failed or panicked.
    #[error("agent {agent} failed to start: {reason}")]
    StartFailed {
        /// The agent.
        agent: AgentId,
        /// Why.
        reason: String,
    },
    /// The runtime (or the supervisor asked to host the agent) is shutting down.
    #[error("runtime is shutting down")]
    ShuttingDown,
}
