//! The IO-free CRDT agent registry: which agent lives where.
//!
//! Every node holds a [`Registry`], a last-writer-wins map `AgentId → Slot { node,
//! incarnation, version, state, stamp }`. Writes are stamped with hybrid-logical-clock
//! [`Timestamp`]s supplied by the caller (normally from the node's [`Clock`]); replicas
//! exchange [`Delta`]s by gossip and merge them with no coordinator. Merge is commutative,
//! associative and idempotent, so replicas that have seen the same writes are equal,
//! whatever the order or duplication of delivery.
//!
//! The write order is described on [`Slot`]; the partition-heal rule on [`Registry`].

mod clock;
mod map;
#[cfg(test)]
mod tests;

pub use clock::{Clock, ClockId, ExceedingDeltaError, Timestamp, NTP64};
pub use map::{Change, Delta, DeltaEntry, NodeName, Registry, Slot, SlotState, UnsupportedVersion};
