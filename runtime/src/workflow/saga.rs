//! Saga compensation: when a run fails for good, the compensations of its completed tasks run
//! in reverse order of completion, one at a time, each with its own retry policy.
//!
//! ```yaml
//! tasks:
//!   - id: book
//!     agent: booker
//!     compensate:                      # what undoes `book`
//!       agent: canceller               # a pool or a registered kind
//!       input: { args: ["${output.stdout}"] }   # default: the task's output
//!       retry_policy: exponential_backoff      # default: none
//!       timeout: 30s                   # default: none
//! fault_tolerance:
//!   saga_pattern: { compensation_enabled: true, rollback_on_failure: true }
//! ```
//!
//! **Input.** A compensation's `input` is a template over the task's own input and output: a
//! string that is exactly `$output` or `$input`, optionally followed by a path (`$output.a.b`,
//! `$output.items.0`), is replaced by that value (`null` where the path leads nowhere);
//! `${output.a}` inside a longer string is replaced by the value's text. Other strings, numbers
//! and the structure are kept. Without `input`, the compensation gets the task's output.
//!
//! **When.** Only with `compensation_enabled` and `rollback_on_failure` both true, and only when
//! the run *fails* (a required task failed for good, after independent branches ran to their
//! end). A cancelled or aborted run (its pools gave up, its journal could not be written) is not
//! rolled back. A compensation that fails for good is reported and the rollback goes on with
//! the next one; the run's cause then says which compensations failed.
//!
//! **Durable runs.** Each compensation attempt is journaled (`compensation_started`), and so
//! is its end (`compensation_finished`, with the error and retry time of a failed attempt)
//! before the next one starts. A crash during the rollback is resumed by `troupe resume`:
//! finished compensations are not run again, the one in flight runs again (at most twice in
//! all), as the same attempt with the same idempotency key `run/task/compensate/attempt`.
//!
//! The rollback is part of the pure [`Engine`](crate::workflow::engine::Engine): it emits
//! [`Command::Compensate`], [`Command::CompensationRetry`], [`Command::Compensated`] and
//! [`Command::CompensationFailed`], and the workflow actor carries them out.

use std::time::Duration;

use serde_json::Value;

use super::engine::{Command, Outcome, TaskError};
use super::spec::SourcePos;
use crate::policy::RetryPolicy;

/// What undoes a task's effect.
#[derive(Debug, Clone, PartialEq)]
pub struct Compensation {
    /// The pool (or registered kind) that runs it.
    pub agent: String,
    /// Its input template (see the module docs); `None`: the task's output.
    pub input: Option<Value>,
    /// How its failed attempts are retried.
    pub retry: RetryPolicy,
    /// Deadline of one attempt.
    pub timeout: Option<Duration>,
    /// Where it was defined.
    pub pos: SourcePos,
}

impl Compensation {
    /// A compensation on `agent` with the task's output as input, no retries, no timeout.
    pub fn new(agent: impl Into<String>) -> Self {
        Self {
            agent: agent.into(),
            input: None,
            retry: RetryPolicy::none(),
            timeout: None,
            pos: SourcePos::default(),
        }
    }

    /// Sets the input template.
    pub fn input(mut self, input: Value) -> Self {
        self.input = Some(input);
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
}

/// The `fault_tolerance.saga_pattern` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SagaPattern {
    /// Whether tasks' `compensate` blocks are used at all.
    pub compensation_enabled: bool,
    /// Whether a failed run rolls back by running them.
    pub rollback_on_failure: bool,
}

impl SagaPattern {
    /// Both on: a failed run rolls back.
    pub fn rollback() -> Self {
        Self {
            compensation_enabled: true,
            rollback_on_failure: true,
        }
    }

    /// Whether a failed run rolls back.
    pub fn rolls_back(&self) -> bool {
        self.compensation_enabled && self.rollback_on_failure
    }
}

/// The input of a compensation: `template` (or the output) with `$input`/`$output` replaced.
pub fn compensation_input(template: Option<&Value>, input: &Value, output: &Value) -> Value {
    match template {
        None => output.clone(),
        Some(t) => fill(t, input, output),
    }
}

fn fill(t: &Value, input: &Value, output: &Value) -> Value {
    match t {
        Value::String(s) => {
            if let Some(v) = reference(s, input, output) {
                return v;
            }
            if s.contains("${") {
                return Value::String(interpolate(s, input, output));
            }
            t.clone()
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| fill(i, input, output)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), fill(v, input, output)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `$output`, `$output.a.0`, `$input...`: the value referred to (`null` if the path leads
/// nowhere); `None` when `s` is not a reference.
fn reference(s: &str, input: &Value, output: &Value) -> Option<Value> {
    let (root, rest) = if let Some(r) = s.strip_prefix("$output") {
        (output, r)
    } else if let Some(r) = s.strip_prefix("$input") {
        (input, r)
    } else {
        return None;
    };
    if !(rest.is_empty() || rest.starts_with('.')) {
        return None;
    }
    let mut at = root;
    for part in rest.split('.').filter(|p| !p.is_empty()) {
        let next = match at {
            Value::Object(m) => m.get(part),
            Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
        match next {
            Some(v) => at = v,
            None => return Some(Value::Null),
        }
    }
    Some(at.clone())
}

fn interpolate(s: &str, input: &Value, output: &Value) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let inner = &rest[start + 2..start + len];
        match reference(&format!("${inner}"), input, output) {
            Some(v) => {
                out.push_str(&rest[..start]);
                match v {
                    Value::String(text) => out.push_str(&text),
                    Value::Null => {}
                    other => out.push_str(&other.to_string()),
                }
            }
            None => out.push_str(&rest[..start + len + 1]),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

/// How one compensation of a rollback ended (or stands).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompensationStatus {
    /// Not started yet.
    Pending,
    /// An attempt runs.
    Running,
    /// Failed; waiting for the backoff before the next attempt.
    WaitingRetry,
    /// Done.
    Compensated,
    /// Failed for good.
    Failed(TaskError),
}

/// One compensation of a rollback.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) task: usize,
    pub(crate) id: String,
    pub(crate) input: Value,
    pub(crate) retry: RetryPolicy,
    pub(crate) attempts: u32,
    pub(crate) status: CompensationStatus,
}

/// A rollback in progress: its steps in the order they run (reverse completion), one at a time.
#[derive(Debug, Clone)]
pub(crate) struct Rollback {
    cause: String,
    pub(crate) steps: Vec<Step>,
    next: usize,
}

impl Rollback {
    /// A rollback of the run that failed with `cause`, compensating `steps` (task, its id,
    /// resolved input, retry policy) in this order.
    pub(crate) fn new(cause: String, steps: Vec<(usize, String, Value, RetryPolicy)>) -> Self {
        let steps = steps
            .into_iter()
            .map(|(task, id, input, retry)| Step {
                task,
                id,
                input,
                retry,
                attempts: 0,
                status: CompensationStatus::Pending,
            })
            .collect();
        Self {
            cause,
            steps,
            next: 0,
        }
    }

    /// Starts the next compensation, or finishes the run when none is left.
    pub(crate) fn advance(&mut self, out: &mut Vec<Command>) {
        match self.steps.get_mut(self.next) {
            Some(step) => launch(step, out),
            None => out.push(Command::Finish(Outcome::Failed {
                cause: self.final_cause(),
            })),
        }
    }

    fn current(&mut self, task: usize, attempt: u32, status: CompensationStatus) -> Option<usize> {
        let step = self.steps.get(self.next)?;
        (step.task == task && step.attempts == attempt && step.status == status)
            .then_some(self.next)
    }

    /// Attempt `attempt` of `task`'s compensation succeeded.
    pub(crate) fn succeeded(&mut self, task: usize, attempt: u32, out: &mut Vec<Command>) {
        let Some(i) = self.current(task, attempt, CompensationStatus::Running) else {
            return;
        };
        self.steps[i].status = CompensationStatus::Compensated;
        out.push(Command::Compensated { task, attempt });
        self.next += 1;
        self.advance(out);
    }

    /// Attempt `attempt` of `task`'s compensation failed.
    pub(crate) fn failed(
        &mut self,
        task: usize,
        attempt: u32,
        error: TaskError,
        rng: &mut fastrand::Rng,
        out: &mut Vec<Command>,
    ) {
        let Some(i) = self.current(task, attempt, CompensationStatus::Running) else {
            return;
        };
        let step = &mut self.steps[i];
        if step
            .retry
            .should_retry(attempt, &error.class, error.retryable)
        {
            let delay = step.retry.delay(attempt, rng);
            step.status = CompensationStatus::WaitingRetry;
            out.push(Command::CompensationRetry {
                task,
                attempt,
                error,
                delay,
            });
            return;
        }
        step.status = CompensationStatus::Failed(error.clone());
        out.push(Command::CompensationFailed {
            task,
            attempt,
            error,
        });
        self.next += 1;
        self.advance(out);
    }

    /// The backoff of `task`'s compensation is over: its next attempt starts.
    pub(crate) fn retry_due(&mut self, task: usize, out: &mut Vec<Command>) {
        let Some(step) = self.steps.get_mut(self.next) else {
            return;
        };
        if step.task == task && step.status == CompensationStatus::WaitingRetry {
            launch(step, out);
        }
    }

    /// The step that runs or waits now.
    pub(crate) fn active(&self) -> Option<&Step> {
        self.steps.get(self.next)
    }

    fn final_cause(&self) -> String {
        let failed: Vec<String> = self
            .steps
            .iter()
            .filter_map(|s| match &s.status {
                CompensationStatus::Failed(e) => Some(format!("{}: {e}", s.id)),
                _ => None,
            })
            .collect();
        let done = self
            .steps
            .iter()
            .filter(|s| s.status == CompensationStatus::Compensated)
            .count();
        let mut cause = format!("{}; rolled back: {done} compensated", self.cause);
        if !failed.is_empty() {
            cause.push_str(&format!(
                ", {} compensation(s) failed ({})",
                failed.len(),
                failed.join("; ")
            ));
        }
        cause
    }
}

fn launch(step: &mut Step, out: &mut Vec<Command>) {
    step.attempts += 1;
    step.status = CompensationStatus::Running;
    out.push(Command::Compensate {
        task: step.task,
        attempt: step.attempts,
        input: step.input.clone(),
    });
}

#[cfg(test)]
#[path = "saga_tests.rs"]
mod tests;
