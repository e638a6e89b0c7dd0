//! Decisions of the moves an agent makes (migration, stop, checkpoint, evacuation): which
//! node to ask when the agent does not run here, which nodes' checkpoints to drop after a
//! move or a new checkpoint, and where each agent goes when this node leaves.

use troupe_runtime::AgentId;

use crate::registry::{NodeName, Slot, SlotState};

/// An operation on an agent that runs on one node: the node that runs it must do it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// Move it to another node.
    Migrate,
    /// Stop it for good.
    Stop,
    /// Checkpoint it to its backups now.
    Checkpoint,
}

/// Who carries out an [`Op`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// The agent runs here: do it here.
    Here,
    /// Ask this node, which runs it.
    Ask(NodeName),
    /// ([`Op::Stop`] only) Nobody runs it (passivated here, or its node is gone): writing a
    /// tombstone is enough.
    Tombstone,
    /// No such agent (or, for a migration or checkpoint, none active anywhere reachable).
    Missing,
}

/// Who carries out `op` on an agent: here if it runs here (`local`), otherwise the node the
/// registry's winning `slot` names, if `is_live` says it is up.
pub(crate) fn owner_for(
    op: Op,
    local: bool,
    slot: Option<&Slot>,
    me: &NodeName,
    is_live: impl Fn(&NodeName) -> bool,
) -> Owner {
    if local {
        return Owner::Here;
    }
    let Some(slot) = slot else {
        return Owner::Missing;
    };
    let elsewhere = &slot.node != me;
    match op {
        Op::Migrate if slot.state == SlotState::Active && elsewhere && is_live(&slot.node) => {
            Owner::Ask(slot.node.clone())
        }
        // A checkpoint request is sent even to a node not (yet) seen live: it answers or the
        // request fails, and nothing is written meanwhile.
        Op::Checkpoint if slot.state == SlotState::Active && elsewhere => {
            Owner::Ask(slot.node.clone())
        }
        Op::Migrate | Op::Checkpoint => Owner::Missing,
        Op::Stop if slot.state == SlotState::Removed => Owner::Missing,
        Op::Stop if elsewhere && is_live(&slot.node) => Owner::Ask(slot.node.clone()),
        Op::Stop => Owner::Tombstone,
    }
}

/// After an agent migrated to `to`: the old backups whose checkpoints to drop (all but `to`,
/// which now runs it).
pub(crate) fn drop_after_migration(old: Vec<NodeName>, to: &NodeName) -> Vec<NodeName> {
    old.into_iter().filter(|b| b != to).collect()
}

/// After a checkpoint reached the backups in `sent`: the old backups whose copies to drop
/// (those no longer among the backups).
pub(crate) fn stale_backups<'a>(old: &'a [NodeName], sent: &'a [NodeName]) -> Vec<&'a NodeName> {
    old.iter().filter(|o| !sent.contains(o)).collect()
}

/// Where an agent goes when this node leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Evacuate {
    /// Migrate it to this node.
    To(NodeName),
    /// No other node hosts its kind: passivate it (its checkpoint stays with its backups).
    Passivate,
}

/// The evacuation plan for the local agents (`(agent, kind)`): each goes to the node
/// `place_elsewhere` picks among the others, or is passivated when there is none.
pub(crate) fn evacuation(
    agents: impl IntoIterator<Item = (AgentId, String)>,
    place_elsewhere: impl Fn(&AgentId, &str) -> Option<NodeName>,
) -> Vec<(AgentId, Evacuate)> {
    agents
        .into_iter()
        .map(|(agent, kind)| {
            let step = place_elsewhere(&agent, &kind).map_or(Evacuate::Passivate, Evacuate::To);
            (agent, step)
        })
        .collect()
}
