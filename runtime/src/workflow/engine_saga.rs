//! The engine's saga hooks: starting a rollback when a failed run has compensations, and the
//! results of compensation attempts (see [`crate::workflow::saga`]).

use serde_json::Value;

use super::{Command, Engine, TaskError};

impl Engine {
    /// The rollback a failed run starts, when its saga pattern says so and a completed task
    /// has a compensation.
    pub(super) fn saga_rollback(&self) -> Option<crate::workflow::saga::Rollback> {
        let cause = self.failure.clone()?;
        let saga = self.plan.spec.fault_tolerance.saga?;
        if !saga.rolls_back() || self.cancelled {
            return None;
        }
        let steps: Vec<_> = self
            .completed
            .iter()
            .rev()
            .filter_map(|&t| {
                let spec = &self.plan.spec.tasks[t];
                let c = spec.compensate.as_ref()?;
                let output = self.outputs[t].clone().unwrap_or(Value::Null);
                let input = crate::workflow::saga::compensation_input(
                    c.input.as_ref(),
                    &self.input_of(t),
                    &output,
                );
                Some((t, spec.id.to_string(), input, c.retry.clone()))
            })
            .collect();
        (!steps.is_empty()).then(|| crate::workflow::saga::Rollback::new(cause, steps))
    }

    /// Marks the run finished if `out` ends it.
    pub(super) fn note_finish(&mut self, out: &[Command]) {
        if out.iter().any(|c| matches!(c, Command::Finish(_))) {
            self.finished = true;
        }
    }

    /// Attempt `attempt` of `task`'s compensation succeeded: the rollback goes on.
    pub fn compensated(&mut self, task: usize, attempt: u32) -> Vec<Command> {
        let mut out = Vec::new();
        if let (false, Some(r)) = (self.finished, self.rollback.as_mut()) {
            r.succeeded(task, attempt, &mut out);
        }
        self.note_finish(&out);
        out
    }

    /// Attempt `attempt` of `task`'s compensation failed: retried under its policy, or given
    /// up (the rollback goes on).
    pub fn compensation_failed(
        &mut self,
        task: usize,
        attempt: u32,
        error: TaskError,
    ) -> Vec<Command> {
        let mut out = Vec::new();
        if let (false, Some(r)) = (self.finished, self.rollback.as_mut()) {
            r.failed(task, attempt, error, &mut self.rng, &mut out);
        }
        self.note_finish(&out);
        out
    }

    /// The backoff of `task`'s compensation is over: its next attempt starts.
    pub fn compensation_retry_due(&mut self, task: usize) -> Vec<Command> {
        let mut out = Vec::new();
        if let (false, Some(r)) = (self.finished, self.rollback.as_mut()) {
            r.retry_due(task, &mut out);
        }
        out
    }

    /// Whether a saga rollback runs (or ran).
    pub fn is_rolling_back(&self) -> bool {
        self.rollback.is_some()
    }

    /// The compensation that runs or waits now: its task, attempts so far, status and input.
    pub fn active_compensation(
        &self,
    ) -> Option<(
        usize,
        u32,
        &crate::workflow::saga::CompensationStatus,
        &Value,
    )> {
        let s = self.rollback.as_ref()?.active()?;
        Some((s.task, s.attempts, &s.status, &s.input))
    }

    /// The resolved input of `task`'s compensation, once the rollback includes it.
    pub fn compensation_input(&self, task: usize) -> Option<&Value> {
        let r = self.rollback.as_ref()?;
        r.steps.iter().find(|s| s.task == task).map(|s| &s.input)
    }

    /// Every compensation of the rollback: task, attempts and how it stands, in rollback order.
    pub fn compensations(&self) -> Vec<(usize, u32, crate::workflow::saga::CompensationStatus)> {
        self.rollback
            .iter()
            .flat_map(|r| r.steps.iter())
            .map(|s| (s.task, s.attempts, s.status.clone()))
            .collect()
    }
}
