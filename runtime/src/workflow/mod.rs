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

mod actor;
mod dispatch;
pub mod engine;
pub mod file;
pub mod plan;
mod pool;
mod report;
mod run;
pub mod spec;
mod task;

pub use dispatch::{DispatchedCall, TaskDispatcher};
pub use engine::{Outcome, TaskError, TaskStatus};
pub use file::{load_workflow, parse_workflow, FileError};
pub use plan::{critical_path, CriticalPath, Plan, PlanError, PlanErrors};
pub use report::{TaskReport, WorkflowReport};
pub use run::{Canceller, WorkflowError, WorkflowHandle};
pub use spec::{PoolSpec, SourcePos, TaskSpec, WorkflowBuilder, WorkflowSpec};
