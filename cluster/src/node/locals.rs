//! The agents this node runs ([`Locals`]): each with its record, admission gate, checkpoint
//! bookkeeping and when it was last used; and one activation lock per agent, so concurrent
//! activations of one agent start it once. The shell's other files reach them only through
//! these methods.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use dashmap::DashMap;
use parking_lot::Mutex;
use troupe_runtime::{AgentId, DynAgentRef};

use super::core::upkeep;
use super::gate::Gate;
use crate::registry::NodeName;
use crate::wire::AgentRecord;

/// An agent this node runs.
pub(crate) struct LocalAgent {
    pub(crate) agent: DynAgentRef,
    pub(crate) record: Mutex<AgentRecord>,
    pub(crate) gate: Gate,
    /// Handled a request since its last checkpoint.
    dirty: AtomicBool,
    last_used: Mutex<Instant>,
    /// The nodes holding its checkpoint.
    pub(crate) backups: Mutex<Vec<NodeName>>,
}

impl LocalAgent {
    /// A freshly started agent (due for a first checkpoint).
    pub(crate) fn new(agent: DynAgentRef, record: AgentRecord) -> Self {
        Self {
            agent,
            record: Mutex::new(record),
            gate: Gate::new(),
            dirty: AtomicBool::new(true),
            last_used: Mutex::new(Instant::now()),
            backups: Mutex::new(Vec::new()),
        }
    }

    /// Marks a request handled now (for checkpoints and idle passivation).
    pub(crate) fn touched(&self) {
        self.dirty.store(true, Ordering::Relaxed);
        *self.last_used.lock() = Instant::now();
    }

    /// Marks it due for a checkpoint again (the last one could not be sent).
    pub(crate) fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Relaxed);
    }
}

/// The agents this node runs, by id.
#[derive(Default)]
pub(crate) struct Locals {
    agents: DashMap<AgentId, Arc<LocalAgent>>,
    activating: DashMap<AgentId, Arc<tokio::sync::Mutex<()>>>,
}

impl Locals {
    /// The agent, if it runs here.
    pub(crate) fn get(&self, agent: &AgentId) -> Option<Arc<LocalAgent>> {
        self.agents.get(agent).map(|e| e.value().clone())
    }

    /// Whether the agent runs here.
    pub(crate) fn contains(&self, agent: &AgentId) -> bool {
        self.agents.contains_key(agent)
    }

    /// Records an agent started here.
    pub(crate) fn insert(&self, agent: AgentId, local: Arc<LocalAgent>) {
        self.agents.insert(agent, local);
    }

    /// Forgets an agent that stopped or moved.
    pub(crate) fn remove(&self, agent: &AgentId) {
        self.agents.remove(agent);
    }

    /// The lock that serialises activations of `agent`.
    pub(crate) fn activation_lock(&self, agent: &AgentId) -> Arc<tokio::sync::Mutex<()>> {
        self.activating.entry(agent.clone()).or_default().clone()
    }

    /// The ids of the agents running here, sorted.
    pub(crate) fn ids(&self) -> Vec<AgentId> {
        let mut v: Vec<AgentId> = self.agents.iter().map(|e| e.key().clone()).collect();
        v.sort();
        v
    }

    /// Each agent with its kind and whether placement may move it.
    pub(crate) fn residents(&self) -> Vec<(AgentId, String, bool)> {
        self.agents
            .iter()
            .map(|e| {
                let r = e.record.lock();
                (r.agent.clone(), r.kind.clone(), r.movable)
            })
            .collect()
    }

    /// Marks every agent due for a checkpoint (membership changed: backups may have moved).
    pub(crate) fn mark_all_dirty(&self) {
        for e in self.agents.iter() {
            e.mark_dirty();
        }
    }

    /// The agents due for a checkpoint, no longer marked so.
    pub(crate) fn take_dirty(&self) -> Vec<Arc<LocalAgent>> {
        self.agents
            .iter()
            .filter(|e| e.dirty.swap(false, Ordering::Relaxed))
            .map(|e| e.value().clone())
            .collect()
    }

    /// The agents unused for longer than `after` at `now` ([`upkeep::is_idle`]).
    pub(crate) fn idle(&self, after: Duration, now: std::time::Instant) -> Vec<AgentId> {
        self.agents
            .iter()
            .filter(|e| upkeep::is_idle(e.last_used.lock().into_std(), after, now))
            .map(|e| e.key().clone())
            .collect()
    }
}
