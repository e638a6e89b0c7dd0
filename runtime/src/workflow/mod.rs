//! Workflows: definitions ([`spec`]), YAML files ([`mod@file`]), validation and planning
//! ([`plan`]), and execution: a workflow actor per run supervising a task actor per running
//! task, driven by the pure [`engine`].
//!
//! A task's input is its static `input` (no dependencies), its one dependency's output, or an
//! object of its dependencies' outputs keyed by task id. A `parallel` task fans its array input
//! out over its pool, one call per item, and gathers the results in order. When a task finally
//! fails, its dependents are skipped, independent branches run to their end, and the run fails
//! with the first failure as its cause — unless the task is `optional`: then its dependents see
//! `null` and the run goes on.
//!
//! A task may wait instead of calling an agent: for a named signal (`await_signal`, delivered
//! with [`WorkflowHandle::signal`] or [`durable::signal`]; its value is the output) or on a
//! durable timer (`sleep`). A run can be paused and resumed ([`RunControl`]): paused, no new
//! attempt starts and running ones finish.
//!
//! A run whose `fault_tolerance.saga_pattern` rolls back compensates its completed tasks when it
//! fails ([`saga`]); pools may declare `resources`, checked against the runtime's capacity
//! ([`resources`]); `coordination` says which event topics a run publishes ([`coordination`]).
//!
//! A run submitted with a store ([`Runtime::submit_durable`](crate::Runtime::submit_durable))
//! is journaled ([`journal`]) and can be resumed after a crash ([`durable`]).

mod actor;
pub mod coordination;
mod dispatch;
pub mod durable;
pub mod engine;
pub mod fair;
pub mod file;
pub mod journal;
mod pattern;
pub mod plan;
mod pool;
mod pool_gate;
mod report;
pub mod resources;
mod run;
pub mod saga;
pub mod spec;
mod task;

pub use dispatch::{DispatchedCall, TaskDispatcher};
pub use engine::{Outcome, TaskError, TaskStatus};
pub use file::{load_workflow, parse_workflow, FileError};
pub use pattern::PatternAdapter;
pub use plan::{critical_path, CriticalPath, Plan, PlanError, PlanErrors};
pub use report::{CompensationReport, TaskReport, WorkflowReport};
pub use run::{Canceller, RunControl, RunGone, WorkflowError, WorkflowHandle};
pub use spec::{PoolSpec, SourcePos, TaskSpec, TaskWait, WorkflowBuilder, WorkflowSpec};
pub use spec::{DEFAULT_PRIORITY, MAX_PRIORITY};
