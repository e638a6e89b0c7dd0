//! The last-writer-wins map `AgentId → Slot` and its gossip deltas.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use troupe_runtime::AgentId;

use super::clock::{wire, Timestamp};

/// The name of a cluster node, as membership knows it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeName(String);

impl NodeName {
    /// A node name from any string.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl From<&str> for NodeName {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for NodeName {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

/// What the registry says about an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SlotState {
    /// Running on the slot's node.
    #[serde(rename = "active")]
    Active,
    /// Snapshotted and stopped; re-activated on demand (the slot's node holds the snapshot).
    #[serde(rename = "passivated")]
    Passivated,
    /// Removed from the cluster. Kept as a tombstone so an older write cannot resurrect it.
    #[serde(rename = "removed")]
    Removed,
}

impl SlotState {
    /// Rank used only to break ties between writes with equal stamp, node, incarnation and
    /// version: `Removed > Passivated > Active` (stopping wins a tie; it is the safe side).
    fn rank(self) -> u8 {
        match self {
            SlotState::Active => 0,
            SlotState::Passivated => 1,
            SlotState::Removed => 2,
        }
    }
}

/// One registry entry: where an agent lives and the write that said so.
///
/// # Ordering (the LWW rule)
/// Slots are totally ordered by, in this sequence:
/// 1. `stamp` (HLC time, then the issuing clock's id; unique per write when clock ids are
///    unique, so in a healthy cluster this alone decides),
/// 2. `node` name (lexicographic bytes),
/// 3. `incarnation`,
/// 4. `version`,
/// 5. `state` (`Removed > Passivated > Active`).
///
/// Steps 2–5 only matter for writes carrying the same stamp (a duplicated clock id or a
/// hand-made stamp). Because every field takes part, two slots compare `Equal` iff they are
/// equal, so "keep the greater slot" is a join on a total order: merge is commutative,
/// associative and idempotent whatever the input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// The node that runs (or holds the snapshot of) the agent.
    #[serde(rename = "node")]
    pub node: NodeName,
    /// That node's incarnation (membership identity) when the write was made.
    #[serde(rename = "incarnation")]
    pub incarnation: u64,
    /// Version of the agent's state (snapshot) at the time of the write.
    #[serde(rename = "version")]
    pub version: u64,
    /// Active, passivated or removed.
    #[serde(rename = "state")]
    pub state: SlotState,
    /// The HLC timestamp of the write.
    #[serde(rename = "stamp", with = "wire")]
    pub stamp: Timestamp,
}

impl Slot {
    /// Whether the registry says the agent runs on `node`.
    pub fn is_active_on(&self, node: &NodeName) -> bool {
        self.state == SlotState::Active && &self.node == node
    }
}

impl Ord for Slot {
    fn cmp(&self, other: &Self) -> Ordering {
        self.stamp
            .cmp(&other.stamp)
            .then_with(|| self.node.cmp(&other.node))
            .then_with(|| self.incarnation.cmp(&other.incarnation))
            .then_with(|| self.version.cmp(&other.version))
            .then_with(|| self.state.rank().cmp(&other.state.rank()))
    }
}

impl PartialOrd for Slot {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A local change caused by a write or a merge, so the node can react (start or stop agents).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The agent whose entry changed.
    pub id: AgentId,
    /// The entry before, if there was one.
    pub previous: Option<Slot>,
    /// The entry now.
    pub current: Slot,
}

impl Change {
    /// Whether `node` must start the agent: it is now active there and was not before.
    pub fn starts_on(&self, node: &NodeName) -> bool {
        self.current.is_active_on(node)
            && !self.previous.as_ref().is_some_and(|p| p.is_active_on(node))
    }

    /// Whether `node` must stop (passivate) the agent: it was active there and no longer is.
    pub fn stops_on(&self, node: &NodeName) -> bool {
        self.previous.as_ref().is_some_and(|p| p.is_active_on(node))
            && !self.current.is_active_on(node)
    }
}

/// One entry of a [`Delta`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaEntry {
    /// The agent.
    #[serde(rename = "id")]
    pub id: AgentId,
    /// Its entry on the sender.
    #[serde(rename = "slot")]
    pub slot: Slot,
}

/// A set of registry entries to gossip to peers; what crosses nodes.
///
/// Wire format (serde, explicit names; encode with `rmp_serde::to_vec_named` to keep them):
/// `{ "version": u8, "entries": [{ "id": str, "slot": { "node", "incarnation", "version",
/// "state": "active"|"passivated"|"removed", "stamp": { "time": u64, "clock": [u8; 16] } } }] }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// Wire format version; [`Delta::VERSION`] for deltas built by this code.
    #[serde(rename = "version")]
    pub version: u8,
    /// The entries, in `AgentId` order when built by [`Registry::delta_since`].
    #[serde(rename = "entries")]
    pub entries: Vec<DeltaEntry>,
}

impl Default for Delta {
    fn default() -> Self {
        Self {
            version: Self::VERSION,
            entries: Vec::new(),
        }
    }
}

/// A decoded [`Delta`] this node cannot apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsupportedVersion(pub u8);

impl fmt::Display for UnsupportedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "registry delta version {} is not supported (this node speaks version {})",
            self.0,
            Delta::VERSION
        )
    }
}

impl std::error::Error for UnsupportedVersion {}

impl Delta {
    /// The wire format version this code writes and reads.
    pub const VERSION: u8 = 1;

    /// Checks a decoded delta before merging it.
    ///
    /// # Errors
    /// [`UnsupportedVersion`] if it was written by an incompatible version.
    pub fn validate(&self) -> Result<(), UnsupportedVersion> {
        if self.version == Self::VERSION {
            Ok(())
        } else {
            Err(UnsupportedVersion(self.version))
        }
    }

    /// The greatest stamp in the delta, if any (what a receiver may feed to its clock).
    pub fn max_stamp(&self) -> Option<Timestamp> {
        self.entries.iter().map(|e| e.slot.stamp).max()
    }

    /// Whether the delta carries no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The replicated agent registry: an LWW map `AgentId → Slot`.
///
/// Pure data: no clock reading, no IO. Every write takes its [`Timestamp`]; a write for an
/// agent takes effect iff its slot is greater than the current one (see [`Slot`]'s ordering),
/// and returns the resulting [`Change`] if it did.
///
/// # Partitions
/// Both sides of a partition keep writing. On heal, merging makes every replica agree on one
/// [winner](Registry::winner) per agent: the greatest write. If an agent was activated on both
/// sides, the winner's node keeps it and every other node finds it among its
/// [`losers_on`](Registry::losers_on) and passivates its copy: **one winner, the others
/// passivated.**
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registry {
    entries: BTreeMap<AgentId, Slot>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries, tombstones included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries (not even tombstones).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All entries in `AgentId` order, tombstones included.
    pub fn iter(&self) -> impl Iterator<Item = (&AgentId, &Slot)> {
        self.entries.iter()
    }

    /// The last-writer-wins entry for an agent, tombstones included (check
    /// [`Slot::state`]).
    pub fn winner(&self, id: &AgentId) -> Option<&Slot> {
        self.entries.get(id)
    }

    /// The node the agent is active on, if the registry says it is active.
    pub fn active_node(&self, id: &AgentId) -> Option<&NodeName> {
        self.entries
            .get(id)
            .filter(|s| s.state == SlotState::Active)
            .map(|s| &s.node)
    }

    /// The greatest stamp of any entry (a watermark for [`Registry::delta_since`]).
    pub fn max_stamp(&self) -> Option<Timestamp> {
        self.entries.values().map(|s| s.stamp).max()
    }

    /// Applies one write: keeps `slot` iff it is greater than the current entry.
    /// Returns the change if the entry changed, `None` if the write lost or was a duplicate.
    pub fn apply(&mut self, id: AgentId, slot: Slot) -> Option<Change> {
        match self.entries.get_mut(&id) {
            Some(current) if *current >= slot => None,
            Some(current) => {
                let previous = std::mem::replace(current, slot.clone());
                Some(Change {
                    id,
                    previous: Some(previous),
                    current: slot,
                })
            }
            None => {
                self.entries.insert(id.clone(), slot.clone());
                Some(Change {
                    id,
                    previous: None,
                    current: slot,
                })
            }
        }
    }

    /// Records that `id` is active on `node` (at `incarnation`, with state `version`).
    pub fn activate(
        &mut self,
        id: AgentId,
        node: NodeName,
        incarnation: u64,
        version: u64,
        stamp: Timestamp,
    ) -> Option<Change> {
        let slot = Slot {
            node,
            incarnation,
            version,
            state: SlotState::Active,
            stamp,
        };
        self.apply(id, slot)
    }

    /// Records that `id` is passivated, its snapshot (state `version`) held by `node`.
    pub fn passivate(
        &mut self,
        id: AgentId,
        node: NodeName,
        incarnation: u64,
        version: u64,
        stamp: Timestamp,
    ) -> Option<Change> {
        let slot = Slot {
            node,
            incarnation,
            version,
            state: SlotState::Passivated,
            stamp,
        };
        self.apply(id, slot)
    }

    /// Removes `id`, leaving a tombstone written by `node` (at `incarnation`). The tombstone
    /// keeps the state version of the current entry (0 if none).
    pub fn remove(
        &mut self,
        id: AgentId,
        node: NodeName,
        incarnation: u64,
        stamp: Timestamp,
    ) -> Option<Change> {
        let version = self.entries.get(&id).map_or(0, |s| s.version);
        let slot = Slot {
            node,
            incarnation,
            version,
            state: SlotState::Removed,
            stamp,
        };
        self.apply(id, slot)
    }

    /// Entries whose stamp is strictly greater than `since`.
    ///
    /// Caveat for gossip: an entry merged from a third node keeps its (possibly old) stamp, so
    /// a peer that tracks only "stamps seen from me" can miss it; run periodic anti-entropy
    /// with [`Registry::full_delta`] (or [`Registry::merge_state`]).
    pub fn delta_since(&self, since: &Timestamp) -> Delta {
        self.collect(|s| s.stamp > *since)
    }

    /// Every entry, tombstones included.
    pub fn full_delta(&self) -> Delta {
        self.collect(|_| true)
    }

    fn collect(&self, keep: impl Fn(&Slot) -> bool) -> Delta {
        let entries = self
            .entries
            .iter()
            .filter(|(_, s)| keep(s))
            .map(|(id, slot)| DeltaEntry {
                id: id.clone(),
                slot: slot.clone(),
            })
            .collect();
        Delta {
            version: Delta::VERSION,
            entries,
        }
    }

    /// Merges a delta (entries in any order, duplicates allowed). Returns the entries that
    /// changed locally, at most one per agent, in `AgentId` order.
    ///
    /// Does not look at [`Delta::version`]: call [`Delta::validate`] on decoded input first.
    pub fn merge(&mut self, delta: &Delta) -> Vec<Change> {
        self.merge_entries(delta.entries.iter().map(|e| (&e.id, &e.slot)))
    }

    /// Merges another replica's full state. Returns the entries that changed locally.
    pub fn merge_state(&mut self, other: &Registry) -> Vec<Change> {
        self.merge_entries(other.entries.iter())
    }

    fn merge_entries<'a>(
        &mut self,
        entries: impl Iterator<Item = (&'a AgentId, &'a Slot)>,
    ) -> Vec<Change> {
        // Coalesce per agent so a delta that updates the same agent twice reports one change
        // (from the pre-merge entry to the final one).
        let mut changes: BTreeMap<AgentId, Change> = BTreeMap::new();
        for (id, slot) in entries {
            if let Some(change) = self.apply(id.clone(), slot.clone()) {
                match changes.get_mut(id) {
                    Some(existing) => existing.current = change.current,
                    None => {
                        changes.insert(id.clone(), change);
                    }
                }
            }
        }
        changes.into_values().collect()
    }

    /// Drops tombstones whose stamp is strictly older than `older_than`; returns how many.
    ///
    /// **Only safe once every peer has seen those tombstones** (e.g. `older_than` is below the
    /// minimum stamp all live members have acknowledged). Pruning earlier lets a peer's older
    /// write for the agent resurrect it, and makes replicas diverge.
    pub fn prune_tombstones(&mut self, older_than: &Timestamp) -> usize {
        let before = self.entries.len();
        self.entries
            .retain(|_, s| !(s.state == SlotState::Removed && s.stamp < *older_than));
        before - self.entries.len()
    }

    /// Agents that `node` runs locally (`local_active`) but that the registry says must not run
    /// there: their winner is active on another node, passivated or removed. After a partition
    /// heals and registries merge, the node passivates these: one winner, the others
    /// passivated. Agents the registry does not know are not reported (the node should
    /// register them). Sorted, without duplicates.
    pub fn losers_on(
        &self,
        node: &NodeName,
        local_active: impl IntoIterator<Item = AgentId>,
    ) -> Vec<AgentId> {
        let mut losers: Vec<AgentId> = local_active
            .into_iter()
            .filter(|id| {
                self.entries
                    .get(id)
                    .is_some_and(|slot| !slot.is_active_on(node))
            })
            .collect();
        losers.sort();
        losers.dedup();
        losers
    }
}
