//! The checkpoints this node holds ([`Checkpoints`]): as a backup of another node's agent, or
//! of its own passivated agents. The newest version of each is kept. With a store
//! ([`Checkpoints::persist_to`]) they are written there too, with the checkpoints of the
//! agents this node runs, so a node started again on that store has them back.

use std::sync::OnceLock;

use dashmap::DashMap;
use troupe_runtime::AgentId;

use super::persisted::{Persister, Stored};
use crate::wire::AgentRecord;

/// Checkpoints held here, by agent.
#[derive(Default)]
pub(crate) struct Checkpoints {
    held: DashMap<AgentId, AgentRecord>,
    /// Where they are persisted, once the node has a store.
    persisted: OnceLock<Persister>,
}

impl Checkpoints {
    /// The checkpoint of `agent`, if held here.
    pub(crate) fn get(&self, agent: &AgentId) -> Option<AgentRecord> {
        self.held.get(agent).map(|r| r.value().clone())
    }

    /// The version of the checkpoint of `agent` held here.
    pub(crate) fn version(&self, agent: &str) -> Option<u64> {
        self.held.get(agent).map(|r| r.version)
    }

    /// The snapshot bytes in the checkpoint of `agent` held here.
    pub(crate) fn snapshot(&self, agent: &str) -> Option<Vec<u8>> {
        self.held.get(agent).and_then(|r| r.snapshot.clone())
    }

    /// Keeps `record` (this node's own, newest by construction).
    pub(crate) fn put(&self, record: AgentRecord) {
        self.persist_own(&record);
        self.held.insert(record.agent.clone(), record);
    }

    /// Keeps `record` unless a newer version is held; returns whether it was kept.
    pub(crate) fn put_if_newer(&self, record: AgentRecord) -> bool {
        let newer = self
            .held
            .get(&record.agent)
            .is_none_or(|r| r.version <= record.version);
        if newer {
            if let Some(p) = self.persisted.get() {
                p.put(false, &record);
            }
            self.held.insert(record.agent.clone(), record);
        }
        newer
    }

    /// Drops the checkpoint of `agent`.
    pub(crate) fn remove(&self, agent: &AgentId) {
        self.held.remove(agent);
        if let Some(p) = self.persisted.get() {
            p.delete(agent);
        }
    }

    /// Drops the checkpoint of `agent` if it is at most `version` and `keep` is false;
    /// returns whether it was dropped.
    pub(crate) fn drop_up_to(
        &self,
        agent: &AgentId,
        version: u64,
        keep: impl Fn() -> bool,
    ) -> bool {
        let dropped = self
            .held
            .remove_if(agent, |_, r| r.version <= version && !keep())
            .is_some();
        if dropped {
            if let Some(p) = self.persisted.get() {
                p.delete(agent);
            }
        }
        dropped
    }

    /// Persists from now on to `persister`, and holds what it read back (the newest version
    /// of each); returns those checkpoints. `None` if a store was set already.
    pub(crate) fn persist_to(
        &self,
        persister: Persister,
        found: Vec<Stored>,
    ) -> Option<Vec<Stored>> {
        self.persisted.set(persister).ok()?;
        for stored in &found {
            let record = &stored.record;
            let newer = self
                .held
                .get(&record.agent)
                .is_none_or(|r| r.version <= record.version);
            if newer {
                self.held.insert(record.agent.clone(), record.clone());
            }
        }
        Some(found)
    }

    /// Whether checkpoints are persisted (the node has a store).
    pub(crate) fn persists(&self) -> bool {
        self.persisted.get().is_some()
    }

    /// Persists the checkpoint of an agent this node runs (not held here: the agent is
    /// live), so that this node re-activates it when started again on its store.
    pub(crate) fn persist_own(&self, record: &AgentRecord) {
        if let Some(p) = self.persisted.get() {
            p.put(true, record);
        }
    }

    /// The agent no longer runs here (it moved, or another activation won): its persisted
    /// own checkpoint goes; a checkpoint of it held here stays, persisted as a backup's.
    pub(crate) fn forget_own(&self, agent: &AgentId) {
        if let Some(p) = self.persisted.get() {
            match self.held.get(agent) {
                Some(held) => p.put(false, &held),
                None => p.delete(agent),
            }
        }
    }

    /// Waits until the checkpoints persisted so far are in the store (at once without one).
    pub(crate) async fn flush(&self) {
        if let Some(p) = self.persisted.get() {
            p.flush().await;
        }
    }
}
