//! Supervision trees. ractor itself only links actors (a supervisor hears of its children's
//! exits); the restart strategies, restart types, intensity and backoff of OTP are here: the
//! decisions in the pure [`SupervisorCore`], the IO in the supervisor actor.
//!
//! A supervisor's children are [`ChildSpec`]s: an id, a [`Restart`] type and a start function.
//! Agents, raw ractor actors and other supervisors (trees of any depth) are all children.
//! A supervisor that exceeds its restart intensity stops its children and fails to its parent;
//! the parent counts that as a child failure, and so on up to the runtime's root, whose own
//! failure is published as [`crate::EventKind::RootFailed`].

mod actor;
mod child;
mod policy;
mod table;

pub use actor::{ChildInfo, SupervisorRef};
pub(crate) use actor::{Supervisor, SupervisorArgs, SupervisorMsg};
pub use child::ChildSpec;
pub use policy::{
    Backoff, Directive, Exit, Intensity, Restart, Strategy, SupervisorConfig, SupervisorCore,
};
