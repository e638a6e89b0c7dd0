//! # troupe-patterns
//!
//! Multi-agent patterns as actor topologies. Every pattern is itself an agent (so it is
//! supervised, addressed by id, and composes: a member of a pattern can be another pattern),
//! and every pattern is a registered kind (`pattern.supervisor`, `pattern.swarm`, ...) whose
//! config is plain data, so workflow files can use them.
//!
//! | pattern | module | semantics |
//! |---|---|---|
//! | supervisor | [`supervisor`] | a coordinator routes units of work to its worker team |
//! | hierarchical | [`hierarchical`] | supervisors of supervisors, to any depth |
//! | handoff | [`handoff`] | control of a job passes between agents, with its context |
//! | swarm | [`swarm`] | peers share a pool of work with no coordinator |
//! | network | [`network`] | agents message each other by id, under a hop budget |
//! | custom | [`custom`] | user-defined topologies of agents and sub-patterns |
#![deny(missing_docs)]

pub mod custom;
pub mod handoff;
pub mod hierarchical;
pub mod member;
pub mod network;
pub mod supervisor;
pub mod swarm;

use troupe_runtime::KindRegistry;

/// A request or a member's reply that does not follow a pattern's protocol (the reason names
/// the field or the shape that was wrong).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
#[non_exhaustive]
pub struct ProtocolError {
    /// What is wrong.
    pub reason: String,
}

impl From<String> for ProtocolError {
    fn from(reason: String) -> Self {
        Self { reason }
    }
}

impl From<&str> for ProtocolError {
    fn from(reason: &str) -> Self {
        Self {
            reason: reason.to_string(),
        }
    }
}

/// Registers every pattern kind on `registry`.
pub fn register_all(registry: &KindRegistry) {
    supervisor::register(registry);
    hierarchical::register(registry);
    handoff::register(registry);
    swarm::register(registry);
    network::register(registry);
    custom::register(registry);
}
