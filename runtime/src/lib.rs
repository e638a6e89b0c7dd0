//! # troupe-runtime
//!
//! The core of Troupe: agents, supervision trees, workflows and tasks, each a ractor actor, on
//! one embedded node ([`Runtime`]).
//!
//! | room | what is there |
//! |---|---|
//! | [`agent`] | the [`Agent`] trait, typed [`AgentRef`]s, the [`KindRegistry`], dynamic (JSON) agents |
//! | [`supervision`] | OTP-style strategies, restart types, intensity and backoff |
//! | [`workflow`] | workflow definitions, YAML files, DAG planning and execution; durable runs journaled to a store and resumed ([`workflow::durable`]); saga rollback ([`workflow::saga`]); pool resources and node capacity ([`workflow::resources`]); coordination topics ([`workflow::coordination`]) |
//! | [`config`] | the typed [`ConfigError`], the one config decoder and duration format |
//! | [`crash`] | crash reports of agent panics (a panic hook a binary may install) |
//! | [`policy`] | retry with backoff and jitter; circuit breaker |
//! | [`events`] | the typed event stream |
//! | [`metrics`] | Prometheus metrics of a runtime, its own recorder (no global state) |
//! | [`store`] | the durable store seam: runs, journals, agent snapshots, dead letters, leases; in memory, SQLite, PostgreSQL |
//!
//! The actor tree of a runtime:
//!
//! ```text
//! root (supervisor)
//! ├── agents (supervisor) ── one actor per agent
//! ├── workflows (supervisor) ── one actor per workflow run ── pools + one actor per running task
//! └── user supervisors (Runtime::start_supervisor) ── trees of any depth
//! ```
//!
//! Protocol logic is IO-free: [`SupervisorCore`], [`workflow::plan`], the workflow engine and
//! the policies are plain state machines; the actors are thin shells around them.
//!
//! See the [`agent`] module for a runnable example.
#![deny(missing_docs)]

pub mod agent;
pub mod config;
pub mod crash;
mod error;
pub mod events;
mod ids;
pub mod metrics;
pub mod policy;
mod runtime;
mod snapshot;
pub mod store;
pub mod supervision;
pub mod workflow;

pub use agent::DEFAULT_MAILBOX_CAPACITY;
pub use agent::{
    Agent, AgentContext, AgentKind, AgentRef, DynAgent, DynAgentExt, DynAgentRef, FnAgent,
    KindLookup, KindRegistry, NestedAgent, Persistence,
};
pub use config::ConfigError;
pub use error::{AgentError, CallError, SpawnError};
pub use events::{Event, EventBus, EventKind, EventStream};
pub use ids::{AgentId, RunId, TaskId};
pub use runtime::{Runtime, RuntimeConfig, SpawnOptions, StartError, WeakRuntime};
pub use snapshot::{Snapshot, SnapshotError};
pub use store::{Store, StoreError};
pub use supervision::{
    Backoff, ChildInfo, ChildSpec, Restart, Strategy, SupervisionError, SupervisorConfig,
    SupervisorCore, SupervisorRef,
};

pub use workflow::{
    load_workflow, parse_workflow, DispatchedCall, Outcome, PoolSpec, TaskDispatcher, TaskReport,
    TaskSpec, TaskStatus, WorkflowError, WorkflowHandle, WorkflowReport, WorkflowSpec,
};

/// A boxed, sendable future (the crate's only use of dynamic futures: type-erased agents and
/// child start functions).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// The ractor version this crate builds on, re-exported for users who mix raw actors in.
pub use ractor;
