//! Where a call or a one-way message goes when the agent is not served here at once: from
//! the registry's winner, the checkpoint this node holds, membership and placement, read
//! through a [`RouteView`] (the shell's maps in production, a plain struct in tests).

use std::time::{Duration, Instant};

use serde_json::Value;
use troupe_runtime::AgentId;

use super::failover;
use crate::registry::{NodeName, Slot, SlotState};
use crate::wire::AgentRecord;

/// A call is forwarded at most this many times (an agent moving faster than calls chase it).
pub(crate) const MAX_HOPS: u8 = 8;

/// The facts a routing decision reads. Each is looked up only when the decision needs it,
/// so the common case (the agent is on a live peer) costs one registry read and one
/// membership read.
pub(crate) trait RouteView {
    /// This node.
    fn me(&self) -> &NodeName;
    /// The registry's winning entry for the agent.
    fn winner(&self, agent: &AgentId) -> Option<Slot>;
    /// The checkpoint of the agent this node holds.
    fn replica(&self, agent: &AgentId) -> Option<AgentRecord>;
    /// Whether `node` is a live member.
    fn is_live(&self, node: &NodeName) -> bool;
    /// When `node` was declared down, if it is down.
    fn down_since(&self, node: &NodeName) -> Option<Instant>;
    /// This node's failover turn for the agent ([`failover::turn`]).
    fn failover_turn(&self, agent: &AgentId, kind: &str) -> Duration;
    /// The node placement picks for a new agent of `kind`.
    fn place(&self, agent: &AgentId, kind: &str) -> Option<NodeName>;
}

/// What to do with a call that is not served locally.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Next {
    /// Send it to this node.
    Forward(NodeName),
    /// Start the agent here from this record, then serve it.
    Activate(AgentRecord),
    /// The agent's node is gone and its backup has not taken over yet: decide again when the
    /// registry or membership changes, or at `until` (when the decision may change by itself).
    Wait {
        /// The time at which waiting may end without any news.
        until: Option<Instant>,
    },
    /// No such agent (and no kind to activate it fresh).
    Missing,
}

/// Decides where a call to `agent` (of `kind`, when the caller names it) goes at `now`.
pub(crate) fn next_step(
    view: &impl RouteView,
    agent: &AgentId,
    kind: Option<&str>,
    now: Instant,
) -> Next {
    decide(view, agent, view.winner(agent), kind, now)
}

fn decide(
    view: &impl RouteView,
    agent: &AgentId,
    slot: Option<Slot>,
    kind: Option<&str>,
    now: Instant,
) -> Next {
    let me = view.me();
    match slot {
        Some(s) if s.state != SlotState::Removed && &s.node != me && view.is_live(&s.node) => {
            Next::Forward(s.node)
        }
        Some(s) if s.state != SlotState::Removed && &s.node == me => match view.replica(agent) {
            // Passivated here, or failed over to here: resume from the checkpoint.
            Some(r) => Next::Activate(r),
            None => fresh(view, agent, kind),
        },
        Some(s) if s.state != SlotState::Removed => {
            // Its node is down. A backup re-activates it from its checkpoint; if that is us
            // and it is our turn, do it now; otherwise wait for the registry to say where it
            // went.
            let down_since = view.down_since(&s.node);
            match view.replica(agent) {
                Some(r) => {
                    let turn = view.failover_turn(agent, &r.kind);
                    if failover::turn_came(turn, down_since, now) {
                        Next::Activate(r)
                    } else {
                        Next::Wait {
                            until: failover::turn_at(turn, down_since),
                        }
                    }
                }
                None if failover::recently_down(down_since, now) => Next::Wait {
                    until: down_since.map(|at| at + failover::FAILOVER_GRACE),
                },
                None => fresh(view, agent, kind),
            }
        }
        _ => match view.replica(agent) {
            Some(r) => Next::Activate(r),
            None => fresh(view, agent, kind),
        },
    }
}

/// A first activation of a virtual agent of `kind`, on the node placement picks.
fn fresh(view: &impl RouteView, agent: &AgentId, kind: Option<&str>) -> Next {
    let Some(kind) = kind else {
        return Next::Missing;
    };
    match view.place(agent, kind) {
        Some(node) if &node == view.me() => Next::Activate(AgentRecord {
            agent: agent.clone(),
            kind: kind.into(),
            config: Value::Null,
            snapshot: None,
            version: 0,
            movable: true,
        }),
        Some(node) => Next::Forward(node),
        None => Next::Missing,
    }
}

/// What to do with a one-way message that cannot be delivered to a local agent at once.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum TellStep {
    /// Send it to this node with the hop count bumped.
    Forward(NodeName),
    /// Hold it here, in order, until the agent can be reached.
    Hold,
    /// Drop it with this error.
    Refuse(TellRefusal),
}

/// Why a one-way message is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TellRefusal {
    /// It was forwarded [`MAX_HOPS`] times already.
    TooManyHops,
    /// No such agent.
    Missing,
}

/// Decides where a one-way message with `hops` forwards so far goes (see [`next_step`]); a
/// message to an agent the registry has not heard of (yet) is held until it is located.
pub(crate) fn tell_step(
    view: &impl RouteView,
    agent: &AgentId,
    hops: u8,
    now: Instant,
) -> TellStep {
    let Some(slot) = view.winner(agent) else {
        return TellStep::Hold;
    };
    match decide(view, agent, Some(slot), None, now) {
        Next::Forward(_) if hops >= MAX_HOPS => TellStep::Refuse(TellRefusal::TooManyHops),
        Next::Forward(node) => TellStep::Forward(node),
        Next::Activate(_) | Next::Wait { .. } => TellStep::Hold,
        Next::Missing => TellStep::Refuse(TellRefusal::Missing),
    }
}

/// What the resolver of one-way messages held for an agent (not served here) does next.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum HeldStep {
    /// The agent can be reached (on a live peer): hand the held messages on.
    Deliver,
    /// The registry has not heard of the agent: ask the peers where it is.
    Locate,
    /// Start it here from this record, then decide again.
    Activate(AgentRecord),
    /// Its node is gone and a backup has not taken over yet: wait as for [`Next::Wait`].
    Wait {
        /// The time at which waiting may end without any news.
        until: Option<Instant>,
    },
    /// It cannot be reached (unknown to the peers too, or missing): drop what is held.
    GiveUp,
}

/// Decides the next step of the resolver for `agent`, which is not served here; `located`
/// says whether the peers were already asked. One-way messages name no kind, so a virtual
/// agent is not activated for them.
pub(crate) fn held_step(
    view: &impl RouteView,
    agent: &AgentId,
    located: bool,
    now: Instant,
) -> HeldStep {
    let Some(slot) = view.winner(agent) else {
        return if located {
            HeldStep::GiveUp
        } else {
            HeldStep::Locate
        };
    };
    match decide(view, agent, Some(slot), None, now) {
        Next::Forward(_) => HeldStep::Deliver,
        Next::Activate(record) => HeldStep::Activate(record),
        Next::Wait { until } => HeldStep::Wait { until },
        Next::Missing => HeldStep::GiveUp,
    }
}

/// Puts messages back in front of what is held for an agent, when delivery stopped at `back`
/// (the agent became unreachable again): `back`, then the `rest` of the batch being
/// delivered, then what arrived meanwhile, so the agent still sees them in sending order.
pub(crate) fn put_back<T>(held: &mut Vec<T>, back: T, rest: impl IntoIterator<Item = T>) {
    let later = std::mem::take(held);
    held.push(back);
    held.extend(rest);
    held.extend(later);
}
