//! Ownership decisions: what a node does with a local agent after a registry merge says
//! another activation won, and which agents move to a node that joined (rebalancing).

use troupe_runtime::AgentId;

use crate::registry::{NodeName, Slot, SlotState};

/// What to do with a local agent the last merge made look lost, decided once its calls in
/// flight drained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AfterMerge {
    /// Ownership came back here meanwhile (a newer write, e.g. a migration to this node
    /// recorded after the merge): keep serving.
    Keep,
    /// Stop the local actor; held calls go to `winner` (or are routed again).
    Yield {
        /// The node the registry names as the agent's active home, if another one.
        winner: Option<NodeName>,
    },
}

/// Decides [`AfterMerge`] from the registry's winning `slot` for the agent.
pub(crate) fn after_merge(slot: Option<&Slot>, me: &NodeName) -> AfterMerge {
    if slot.is_some_and(|s| s.is_active_on(me)) {
        return AfterMerge::Keep;
    }
    AfterMerge::Yield {
        winner: slot
            .filter(|s| s.state == SlotState::Active && &s.node != me)
            .map(|s| s.node.clone()),
    }
}

/// A local agent as rebalancing sees it.
pub(crate) struct Resident<'a> {
    /// The agent.
    pub(crate) agent: &'a AgentId,
    /// Its kind.
    pub(crate) kind: &'a str,
    /// Whether placement may move it.
    pub(crate) movable: bool,
}

/// The movable local agents that placement (`place`) now gives to `peer`, which just linked.
pub(crate) fn movers<'a>(
    residents: impl IntoIterator<Item = Resident<'a>>,
    peer: &NodeName,
    place: impl Fn(&AgentId, &str) -> Option<NodeName>,
) -> Vec<AgentId> {
    residents
        .into_iter()
        .filter(|r| r.movable && place(r.agent, r.kind).as_ref() == Some(peer))
        .map(|r| r.agent.clone())
        .collect()
}
