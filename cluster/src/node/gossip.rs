//! Registry gossip: every local write is pushed to all linked peers at once, and every
//! `gossip_every` the node exchanges its whole registry with one random peer (anti-entropy),
//! which repairs anything a push missed and merges the two sides of a healed partition.
//! After each merge, agents this node runs but no longer owns are stopped: one winner.

use std::sync::{Arc, Weak};

use troupe_runtime::AgentId;

use super::Inner;
use crate::registry::{Delta, DeltaEntry, NodeName};
use crate::wire::Msg;

impl Inner {
    /// Pushes this node's entry for `agent` to every linked peer.
    pub(crate) fn push_entry(&self, agent: &AgentId) {
        let Some(slot) = self.registry.lock().winner(agent).cloned() else {
            return;
        };
        let delta = Delta {
            entries: vec![DeltaEntry {
                id: agent.clone(),
                slot,
            }],
            ..Delta::default()
        };
        for peer in self.transport.peers() {
            let _ = self.transport.send(
                &peer,
                Msg::Registry {
                    delta: delta.clone(),
                    want_reply: false,
                },
            );
        }
    }
}

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

/// Merges a peer's entries and stops local agents that lost ownership.
pub(crate) fn on_delta(inner: &Arc<Inner>, from: &NodeName, delta: &Delta, want_reply: bool) {
    if let Some(stamp) = delta.max_stamp() {
        if let Err(e) = inner.clock.update(&stamp) {
            tracing::warn!(target: "troupe::cluster", node = %inner.name, peer = %from,
                "peer clock too far ahead, delta ignored: {e}");
            return;
        }
    }
    let losers = {
        let mut reg = inner.registry.lock();
        let changes = reg.merge(delta);
        if changes.iter().any(|c| c.stops_on(&inner.name)) || !changes.is_empty() {
            let local: Vec<AgentId> = inner.local.iter().map(|e| e.key().clone()).collect();
            reg.losers_on(&inner.name, local)
        } else {
            Vec::new()
        }
    };
    for agent in losers {
        let inner = inner.clone();
        tokio::spawn(async move { super::moves::yield_ownership(&inner, agent).await });
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
}

/// How long a session may stay up with a node membership does not list.
const STRANGER_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Periodic anti-entropy with one random linked peer, and pruning of sessions with nodes that
/// are not members.
pub(crate) async fn anti_entropy(inner: Weak<Inner>) {
    let every = match inner.upgrade() {
        Some(i) => i.config.gossip_every,
        None => return,
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut strangers: std::collections::HashMap<NodeName, tokio::time::Instant> =
        std::collections::HashMap::new();
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        if inner.stopping.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        // Sessions are made and dropped by membership: a session with a node membership does
        // not list (it left, or was never announced) is dropped after a grace period.
        let now = tokio::time::Instant::now();
        let peers = inner.transport.peers();
        strangers.retain(|p, _| peers.contains(p) && !inner.is_live(p));
        for p in peers.iter().filter(|p| !inner.is_live(p)) {
            let since = *strangers.entry(p.clone()).or_insert(now);
            if now.duration_since(since) > STRANGER_GRACE {
                tracing::debug!(target: "troupe::cluster", node = %inner.name, peer = %p,
                    "dropping a session with a node that is not a member");
                inner.transport.disconnect(p);
                strangers.remove(p);
            }
        }
        let peers: Vec<NodeName> = peers.into_iter().filter(|p| inner.is_live(p)).collect();
        if peers.is_empty() {
            continue;
        }
        let peer = &peers[fastrand::usize(..peers.len())];
        exchange_with(&inner, peer);
    }
}
