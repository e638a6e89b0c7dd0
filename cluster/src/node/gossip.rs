//! Registry gossip: every local write is pushed to all linked peers at once, and every
//! `gossip_every` the node exchanges its whole registry with one random peer (anti-entropy),
//! which repairs anything a push missed and merges the two sides of a healed partition.
//! After each merge, the agents this node runs but no longer owns are returned to the caller,
//! which stops them (one winner). Pushes of single entries are [`Inner::push_entry`].

use std::sync::{Arc, Weak};

use troupe_runtime::AgentId;

use super::core::upkeep::Strangers;
use super::state::{self, Inner};
use crate::registry::{Delta, NodeName};
use crate::wire::Msg;

/// Sends our whole registry to `peer` and asks for theirs.
pub(crate) fn exchange_with(inner: &Arc<Inner>, peer: &NodeName) {
    let delta = inner.registry.lock().full_delta();
    let _ = inner.transport.send(
        peer,
        Msg::Registry {
            delta,
            want_reply: true,
        },
    );
}

/// Merges a peer's entries; returns the local agents that lost ownership (to be stopped).
#[must_use]
pub(crate) fn on_delta(
    inner: &Arc<Inner>,
    from: &NodeName,
    delta: &Delta,
    want_reply: bool,
) -> Vec<AgentId> {
    if let Some(stamp) = delta.max_stamp() {
        if let Err(e) = inner.clock.update(&stamp) {
            tracing::warn!(target: "troupe::cluster", node = %inner.name, peer = %from,
                "peer clock too far ahead, delta ignored: {e}");
            return Vec::new();
        }
    }
    let (losers, changed) = {
        let mut reg = inner.registry.lock();
        let changes = reg.merge(delta);
        if changes.is_empty() {
            (Vec::new(), false)
        } else {
            (reg.losers_on(&inner.name, inner.locals.ids()), true)
        }
    };
    if changed {
        inner.registry_changed();
    }
    if want_reply {
        let delta = inner.registry.lock().full_delta();
        let _ = inner.transport.send(
            from,
            Msg::Registry {
                delta,
                want_reply: false,
            },
        );
    }
    losers
}

/// Periodic anti-entropy with one random linked peer, and pruning of sessions with nodes that
/// are not members ([`Strangers`]).
pub(crate) async fn anti_entropy(inner: Weak<Inner>) {
    let every = match inner.upgrade() {
        Some(i) => i.config.gossip_every,
        None => return,
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut strangers = Strangers::default();
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        if inner.stopping.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let peers = inner.transport.peers();
        for p in strangers.tick(&peers, |p| inner.is_live(p), state::now()) {
            tracing::debug!(target: "troupe::cluster", node = %inner.name, peer = %p,
                "dropping a session with a node that is not a member");
            inner.transport.disconnect(&p);
        }
        let peers: Vec<NodeName> = peers.into_iter().filter(|p| inner.is_live(p)).collect();
        if peers.is_empty() {
            continue;
        }
        let peer = &peers[fastrand::usize(..peers.len())];
        exchange_with(&inner, peer);
    }
}
