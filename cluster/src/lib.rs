//! Troupe's cluster: nodes that link into one system of agents.
//!
//! The protocol logic is IO-free (ARCHITECTURE.md, invariant 3): plain state machines that
//! take inputs (including clock readings) and return what changed, tested without sockets.
//! Thin shells drive them over the network.
//!
//! * [`registry`]: the replicated `AgentId → (node, incarnation, state version)` map, a
//!   last-writer-wins CRDT ordered by hybrid logical clocks, merged by gossip deltas.
//! * [`placement`]: weighted rendezvous hashing over live members.
//! * [`packing`]: placement by resources (what nodes offer, what pools need).
//! * [`wire`]: the versioned frames nodes exchange.
//! * [`membership`]: SWIM (foca) membership and failure detection over UDP.
//! * [`transport`]: ractor_cluster sessions, the gateway actor and batched frames.
//! * [`stealing`]: which queued tasks a busy node gives an idle one.
//! * [`node`]: [`node::ClusterNode`]: the node's IO-free core (routing, failover, ownership,
//!   rebalancing, tasks and stealing, admission) and the shell that executes its commands.
//! * [`replica`]: a run's replicated state (a CRDT) and the fencing rule between its owners.
//! * [`ConfigError`]: what every `validate` of the crate returns.
#![deny(missing_docs)]

mod error;
pub mod membership;
pub mod metrics;
pub mod node;
pub mod packing;
pub mod placement;
pub mod registry;
pub mod replica;
pub mod runs;
pub mod stealing;
pub mod transport;
pub mod wire;

pub use error::ConfigError;
