//! The checkpoints this node holds ([`Checkpoints`]): as a backup of another node's agent, or
//! of its own passivated agents. The newest version of each is kept.

use dashmap::DashMap;
use troupe_runtime::AgentId;

use crate::wire::AgentRecord;

/// Checkpoints held here, by agent.
#[derive(Default)]
pub(crate) struct Checkpoints {
    held: DashMap<AgentId, AgentRecord>,
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
        self.held.insert(record.agent.clone(), record);
    }

    /// Keeps `record` unless a newer version is held; returns whether it was kept.
    pub(crate) fn put_if_newer(&self, record: AgentRecord) -> bool {
        let newer = self
            .held
            .get(&record.agent)
            .is_none_or(|r| r.version <= record.version);
        if newer {
            self.held.insert(record.agent.clone(), record);
        }
        newer
    }

    /// Drops the checkpoint of `agent`.
    pub(crate) fn remove(&self, agent: &AgentId) {
        self.held.remove(agent);
    }

    /// Drops the checkpoint of `agent` if it is at most `version` and `keep` is false;
    /// returns whether it was dropped.
    pub(crate) fn drop_up_to(
        &self,
        agent: &AgentId,
        version: u64,
        keep: impl Fn() -> bool,
    ) -> bool {
        self.held
            .remove_if(agent, |_, r| r.version <= version && !keep())
            .is_some()
    }
}
