//! What a finished run tells: per-task status, attempts, durations and outputs, the critical
//! path, and the outcome.

use std::time::Duration;

use serde_json::Value;

use super::engine::{Outcome, TaskStatus};
use super::plan::CriticalPath;
use crate::ids::{RunId, TaskId};

/// The result of one workflow run.
#[derive(Debug, Clone)]
pub struct WorkflowReport {
    /// The run's id.
    pub run_id: RunId,
    /// The workflow's name.
    pub name: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Every task, in definition order.
    pub tasks: Vec<TaskReport>,
    /// The chain of tasks whose measured durations sum highest: what bounded the run's length.
    pub critical_path: CriticalPath,
    /// Wall time of the run.
    pub duration: Duration,
    /// Remarks from reading the definition.
    pub warnings: Vec<String>,
    /// The saga rollback's compensations, in the order they ran (empty when none ran).
    pub compensations: Vec<CompensationReport>,
}

/// One compensation of a saga rollback.
#[derive(Debug, Clone)]
pub struct CompensationReport {
    /// The task it compensated.
    pub task: TaskId,
    /// Attempts made.
    pub attempts: u32,
    /// How it ended (or stood when the run stopped).
    pub status: super::saga::CompensationStatus,
}

/// One task of a finished run.
#[derive(Debug, Clone)]
pub struct TaskReport {
    /// The task's id.
    pub id: TaskId,
    /// Where it ended.
    pub status: TaskStatus,
    /// Attempts made.
    pub attempts: u32,
    /// From its first start to its end, retries and backoff included.
    pub duration: Duration,
    /// Its output, when it succeeded.
    pub output: Option<Value>,
    /// The last error (failed) or the reason it did not run (skipped).
    pub error: Option<String>,
}

impl WorkflowReport {
    /// Whether the run succeeded.
    pub fn succeeded(&self) -> bool {
        self.outcome == Outcome::Succeeded
    }

    /// The report of task `id`.
    pub fn task(&self, id: &str) -> Option<&TaskReport> {
        self.tasks.iter().find(|t| t.id.as_str() == id)
    }

    /// The output of task `id`, when it succeeded.
    pub fn output(&self, id: &str) -> Option<&Value> {
        self.task(id).and_then(|t| t.output.as_ref())
    }
}
