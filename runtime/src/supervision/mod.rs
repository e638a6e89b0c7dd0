//! Supervision trees. ractor itself only links actors (a supervisor hears of its children's
//! exits); the restart strategies, restart types, intensity and backoff of OTP are here: the
//! decisions in the pure [`SupervisorCore`], the IO in the supervisor actor.
//!
//! A supervisor's children are [`ChildSpec`]s: an id, a [`Restart`] type and a start function.
//! Agents, raw ractor actors and other supervisors (trees of any depth) are all children.
//! A supervisor that exceeds its restart intensity stops its children and fails to its parent;
//! the parent counts that as a child failure, and so on up to the runtime's root, whose own
//! failure is published as [`crate::EventKind::RootFailed`].

mod actor;
mod child;
mod policy;
mod table;

pub use actor::{ChildInfo, SupervisorRef};
pub(crate) use actor::{Supervisor, SupervisorArgs, SupervisorMsg};
pub use child::ChildSpec;
pub use policy::{
    Backoff, Directive, Exit, Intensity, Restart, Strategy, SupervisorConfig, SupervisorCore,
};

/// Why ractor could not start an actor, in words that do not call a refused start a panic
/// (ractor words every failed `pre_start` as "Actor panicked during startup").
pub(crate) fn startup_reason(e: ractor::SpawnErr) -> String {
    match e {
        ractor::SpawnErr::StartupFailed(inner) => inner.to_string(),
        other => other.to_string(),
    }
}

/// Why a child, a supervisor or an agent's team could not be started or linked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisionError {
    /// The supervisor asked is not running (stopped, or between its restarts).
    #[error("supervisor {supervisor} is not running")]
    NotRunning {
        /// The supervisor (its name, or `(unnamed)` when the handle never ran).
        supervisor: String,
    },
    /// A child of this id is already supervised there.
    #[error("child {child} already exists")]
    AlreadyExists {
        /// The child's id.
        child: String,
    },
    /// The child's start function failed (its actor's `pre_start` refused or panicked).
    #[error("child {child} failed to start: {reason}")]
    StartFailed {
        /// The child's id.
        child: String,
        /// Why.
        reason: String,
    },
    /// Only a running agent can do this (link an actor, start a team), or its runtime is gone.
    #[error("agent {agent}: {what} needs a running agent on a live runtime")]
    NotAnAgent {
        /// The agent.
        agent: String,
        /// What was asked (`link an actor`, `start a team`).
        what: &'static str,
    },
}

/// A team or link that could not be set up fails the request that needed it, permanently.
impl From<SupervisionError> for crate::AgentError {
    fn from(e: SupervisionError) -> Self {
        crate::AgentError::permanent(e.to_string())
    }
}
