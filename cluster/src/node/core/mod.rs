//! The node's IO-free core: every decision a node takes, as plain state machines and
//! functions. Inputs come in (membership and link events, timers that fired, the facts a call
//! needs), commands come out (dial, disconnect, fail over, forward, activate, schedule a
//! timer). Time enters only as an input (`now`); nothing here reads a clock, spawns, sleeps or
//! touches a socket, so every decision is unit-tested by asserting what it returns.
//!
//! * [`members`]: live members, when each went down, which dials are current; membership and
//!   link events → [`Command`]s, and the timers that decide a failover.
//! * [`route`]: where a call goes (serve, forward, activate, wait for a failover, missing), and
//!   how the resolver of held one-way messages proceeds.
//! * [`failover`]: which checkpoints to re-activate after a node went down, and when.
//! * [`moves`]: whom to ask to migrate, stop or checkpoint an agent; which checkpoints to
//!   drop; where agents go when this node leaves.
//! * [`ownership`]: what to do with a local agent after a registry merge; rebalancing movers.
//! * [`tasks`]: the task queue, steal batch sizes, the steal order, the work-hint limiter, and
//!   the ledger of lent and stolen tasks (re-queue on a down, first result per key).
//! * [`admission`]: the admission gate of a local agent (calls in flight, moves).
//! * [`upkeep`]: idle agents to passivate, sessions with non-members to drop.
//! * [`runs`]: which nodes a workflow run goes to, and in which order a run is looked for.
//! * [`restore`]: what a node started again on its store does with the checkpoints it reads.
//!
//! The shell (the rest of `node/`) keeps the state that the hot paths read concurrently (the
//! registry, the local agents) in its maps, hands the core the facts a decision needs through
//! small views ([`route::RouteView`]), and executes the commands.

pub(crate) mod admission;
pub(crate) mod failover;
pub(crate) mod members;
pub(crate) mod moves;
pub(crate) mod ownership;
pub(crate) mod restore;
pub(crate) mod route;
pub(crate) mod runs;
pub(crate) mod tasks;
pub(crate) mod upkeep;

#[cfg(test)]
mod admission_tests;
#[cfg(test)]
mod failover_tests;
#[cfg(test)]
mod members_tests;
#[cfg(test)]
mod moves_tests;
#[cfg(test)]
mod ownership_tests;
#[cfg(test)]
mod restore_tests;
#[cfg(test)]
mod route_tests;
#[cfg(test)]
mod runs_tests;
#[cfg(test)]
mod scenario_tests;
#[cfg(test)]
mod tasks_tests;
#[cfg(test)]
mod upkeep_tests;

pub(crate) use members::{Command, Input};
