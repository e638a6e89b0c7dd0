//! Cluster membership and failure detection: SWIM (via `foca`) over UDP.
//!
//! Every node runs one membership on its own datagram socket, separate from the
//! `ractor_cluster` TCP transport (whose ping cannot notice a silent partition). It reports who
//! is in the cluster as [`MemberEvent`]s: `Up` when a node (or a new incarnation of it)
//! appears, `Down` when it leaves, is declared dead, or is replaced by a newer incarnation.
//! The node layer turns those into transport connections, placement changes and failover.
//!
//! Layout (IO-free core, thin shell — ARCHITECTURE.md invariant 3):
//!
//! * [`NodeIdentity`] / [`NodeMeta`] (`identity.rs`): who a member is. The node **name** is
//!   the stable identity; the incarnation grows each time a node rejoins, and the higher one
//!   wins.
//! * [`Membership`] (`machine.rs`): the state machine. Datagrams, fired timers and commands in;
//!   an [`Outbox`] of datagrams, timers and events out. No clock, socket or global state;
//!   randomness from a seed.
//! * `codec.rs`: the versioned wire format ([`WIRE_VERSION`]), explicit numeric tags;
//!   malformed input is a [`CodecError`], never a panic.
//! * [`MembershipConfig`] (`config.rs`): timing presets ([`MembershipConfig::lan`]).
//! * [`MembershipHandle`] (`udp.rs`): a tokio task driving a [`Membership`] over any
//!   [`DatagramSocket`] (tokio's `UdpSocket`, or a simulated one in tests).
//!
//! Behaviour worth knowing:
//!
//! * **Joining by address.** Seeds are plain socket addresses; an announce to an address whose
//!   node name is unknown is accepted by whichever node listens there.
//! * **Rejoin.** A node told it was declared down renews its identity (incarnation + 1) and
//!   rejoins at once. A node left with no live member (crash of all peers, or it was the one
//!   cut off by a partition) starts afresh under a renewed identity and keeps announcing to its
//!   seeds and to every address it has seen a member at, every `rejoin_period`, so start order
//!   does not matter and a partitioned node comes back by itself.
//! * **Restart.** A restarted node may reuse its name and incarnation: the cluster keeps the
//!   identity it knows on a tie and tells the newcomer it is down, so the newcomer renews past
//!   it; peers see `Down(old)` (if not already) then `Up(new)`.
//! * **Partitions between groups.** When both sides of a partition hold several nodes, healing
//!   makes some nodes renew their identity (foca's design); peers on the same side then see a
//!   `Down`/`Up` pair for them. That is safe (a spurious failover) but not free.
//!
//! ```
//! use troupe_cluster::membership::{Membership, MembershipConfig, NodeIdentity, Outbox};
//!
//! let addr = |port| format!("127.0.0.1:{port}").parse().unwrap();
//! let me = NodeIdentity::new("n1", addr(7001), addr(9001));
//! let mut membership = Membership::new(me, MembershipConfig::lan(), 42).unwrap();
//! let mut out = Outbox::default();
//! membership.join(&[addr(7000)], &mut out);
//! assert_eq!(out.sends[0].0, addr(7000)); // an announce to the seed
//! assert!(membership.members().is_empty());
//! ```

mod codec;
mod config;
mod error;
mod identity;
mod machine;
mod udp;

#[cfg(test)]
mod tests;

pub use codec::{check_datagram, CodecError, MAGIC, WIRE_VERSION};
pub use config::MembershipConfig;
pub use error::MembershipError;
pub use identity::{NodeIdentity, NodeMeta};
pub use machine::{Membership, MembershipTimer, Outbox};
pub use udp::{DatagramSocket, MembershipHandle};

/// A change in the live member set, as seen by one node.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemberEvent {
    /// This identity is now a live member (first join, or a new incarnation after a rejoin or
    /// restart). Never repeated for the same identity while it stays live.
    Up(NodeIdentity),
    /// This identity is no longer a member: it left, was declared down, or was replaced by a
    /// newer incarnation (whose `Up` follows).
    Down(NodeIdentity),
}

impl MemberEvent {
    /// The identity the event is about.
    pub fn identity(&self) -> &NodeIdentity {
        match self {
            Self::Up(id) | Self::Down(id) => id,
        }
    }
}
