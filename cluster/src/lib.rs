//! Cluster protocol logic for Troupe.
//!
//! Everything in this crate is IO-free (ARCHITECTURE.md, invariant 3): plain state machines
//! that take inputs (including clock readings) as arguments and return what changed, so they
//! can be tested deterministically without sockets or tokio. The actors that gossip, connect
//! and spawn live elsewhere and drive these types.
//!
//! * [`registry`]: the replicated `AgentId → (node, incarnation, state version)` map, a
//!   last-writer-wins CRDT ordered by hybrid logical clocks, merged by gossip deltas.
#![deny(missing_docs)]

pub mod registry;
