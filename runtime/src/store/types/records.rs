//! Agent snapshots, dead letters and leases.

use std::time::Duration;

use super::Timestamp;
use crate::ids::{AgentId, RunId, TaskId};

/// An agent's persisted state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentSnapshot {
    /// The agent.
    pub agent: AgentId,
    /// The state's version: each put must be newer than the stored one.
    pub version: u64,
    /// When it was taken.
    pub at: Timestamp,
    /// The encoded state.
    pub data: Vec<u8>,
}

/// Work that could not be done, kept for a person to replay or drop.
#[derive(Clone, Debug, PartialEq)]
pub struct NewDeadLetter {
    /// The run it belonged to (none for an undeliverable one-way message).
    pub run: Option<RunId>,
    /// The task (or the message's target) it was for.
    pub task: Option<TaskId>,
    /// Its input.
    pub input: serde_json::Value,
    /// The error chain of its last attempt, outermost first.
    pub errors: Vec<String>,
    /// How many attempts were made.
    pub attempts: u32,
    /// When it was given up.
    pub at: Timestamp,
}

/// A stored dead letter.
#[derive(Clone, Debug, PartialEq)]
pub struct DeadLetter {
    /// Its store-assigned id (increasing).
    pub id: u64,
    /// What was given up.
    pub letter: NewDeadLetter,
}

/// Which dead letters [`Store::list_dead_letters`](crate::store::Store::list_dead_letters) returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetterFilter {
    /// Only those of this run.
    pub run: Option<RunId>,
    /// Only those with an id greater than this.
    pub after: Option<u64>,
    /// At most this many (at least 1 is used).
    pub limit: usize,
}

impl Default for DeadLetterFilter {
    fn default() -> Self {
        Self {
            run: None,
            after: None,
            limit: 100,
        }
    }
}

/// A request to acquire a run's lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRequest {
    /// The run.
    pub run: RunId,
    /// Who asks (a node or process name).
    pub owner: String,
    /// How long the lease lasts unless renewed.
    pub ttl: Duration,
    /// The caller's current time.
    pub now: Timestamp,
}

/// A held lease on a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The run.
    pub run: RunId,
    /// The holder.
    pub owner: String,
    /// The fencing token: greater on every acquire of this run's lease. Writes carrying an
    /// older token are refused with [`StoreError::LeaseLost`](crate::store::StoreError::LeaseLost).
    pub token: u64,
    /// When it expires unless renewed.
    pub until: Timestamp,
}
