//! The workflow engine as a pure state machine: task results in, commands out. It decides what
//! starts, what is retried after which wait, what is skipped and how the run ends; the workflow
//! actor carries the commands out. No tokio in here.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::plan::Plan;

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    /// Waiting for its dependencies.
    Pending,
    /// An attempt runs.
    Running,
    /// Failed; waiting for the backoff before the next attempt.
    WaitingRetry,
    /// Done, with an output.
    Succeeded,
    /// Finally failed.
    Failed,
    /// Not run: a dependency failed, or the run was cancelled first.
    Skipped,
    /// Was running or waiting when the run was cancelled.
    Cancelled,
}

impl TaskStatus {
    /// Whether the task will not change any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Skipped | Self::Cancelled
        )
    }
}

/// Why a task attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    /// Error class, as matched by `retry_on` (see [`crate::CallError::class`]; also `bad_input`,
    /// `task_crashed`).
    pub class: String,
    /// What happened.
    pub message: String,
    /// Whether a retry might succeed.
    pub retryable: bool,
}

impl std::fmt::Display for TaskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<crate::CallError> for TaskError {
    fn from(e: crate::CallError) -> Self {
        Self {
            class: e.class().to_string(),
            retryable: e.is_retryable(),
            message: e.to_string(),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every non-optional task succeeded.
    Succeeded,
    /// A non-optional task finally failed (independent branches still ran to the end).
    Failed {
        /// The first final failure, naming the task.
        cause: String,
    },
    /// The run was cancelled.
    Cancelled,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Start attempt `attempt` of `task` with `input`.
    Start {
        /// Task index.
        task: usize,
        /// 1-based attempt.
        attempt: u32,
        /// The assembled input.
        input: Value,
    },
    /// Attempt `attempt` failed; call [`Engine::retry_due`] after `delay`.
    Retry {
        /// Task index.
        task: usize,
        /// The failed attempt.
        attempt: u32,
        /// Why it failed.
        error: TaskError,
        /// Backoff before the next attempt.
        delay: Duration,
    },
    /// The task finally failed.
    Failed {
        /// Task index.
        task: usize,
        /// The last attempt.
        attempt: u32,
        /// Why.
        error: TaskError,
    },
    /// The task will not run.
    Skip {
        /// Task index.
        task: usize,
        /// Why.
        reason: String,
    },
    /// The run is over.
    Finish(Outcome),
    /// Attempt `attempt` of the sleep task `task` started: call [`Engine::timer_fired`] once
    /// `duration` has passed (journal the due time so a resumed run keeps it).
    Sleep {
        /// Task index.
        task: usize,
        /// 1-based attempt.
        attempt: u32,
        /// How long until the timer fires.
        duration: Duration,
    },
    /// Attempt `attempt` of `task` waits for the signal `signal` (fed in with
    /// [`Engine::signal`]); with a timeout, call [`Engine::signal_timed_out`] once it passes.
    AwaitSignal {
        /// Task index.
        task: usize,
        /// 1-based attempt.
        attempt: u32,
        /// The signal's name.
        signal: String,
        /// How long the wait may last.
        timeout: Option<Duration>,
    },
    /// A waiting task completed inside the engine (its signal arrived, its timer fired):
    /// nothing to run, journal and report it.
    Completed {
        /// Task index.
        task: usize,
        /// The attempt that completed.
        attempt: u32,
        /// Its output (the signal's value; a sleep's input).
        output: Value,
    },
    /// Saga rollback: start attempt `attempt` of `task`'s compensation with `input`
    /// (see [`crate::workflow::saga`]).
    Compensate {
        /// Task index (the task being compensated).
        task: usize,
        /// 1-based attempt of the compensation.
        attempt: u32,
        /// The compensation's resolved input.
        input: Value,
    },
    /// A compensation attempt failed; call [`Engine::compensation_retry_due`] after `delay`.
    CompensationRetry {
        /// Task index.
        task: usize,
        /// The failed attempt.
        attempt: u32,
        /// Why it failed.
        error: TaskError,
        /// Backoff before the next attempt.
        delay: Duration,
    },
    /// `task`'s compensation succeeded (the rollback goes on).
    Compensated {
        /// Task index.
        task: usize,
        /// The attempt that succeeded.
        attempt: u32,
    },
    /// `task`'s compensation failed for good (the rollback goes on).
    CompensationFailed {
        /// Task index.
        task: usize,
        /// The last attempt.
        attempt: u32,
        /// Why.
        error: TaskError,
    },
}

/// The state of one run.
#[derive(Debug)]
pub struct Engine {
    plan: Arc<Plan>,
    status: Vec<TaskStatus>,
    waiting_on: Vec<u32>,
    outputs: Vec<Option<Value>>,
    attempts: Vec<u32>,
    errors: Vec<Option<TaskError>>,
    unresolved: usize,
    failure: Option<String>,
    cancelled: bool,
    finished: bool,
    rng: fastrand::Rng,
    /// Paused: launches wait in `held` until resumed.
    paused: bool,
    held: Vec<usize>,
    /// The signals received, by name (the latest value of each).
    signals: std::collections::HashMap<String, Value>,
    /// Signal waits whose signal is there: completed by `deliver`.
    ready: Vec<usize>,
    /// Tasks in the order they succeeded (a saga rolls back in reverse).
    completed: Vec<usize>,
    /// The saga rollback, once a failed run started it.
    rollback: Option<super::saga::Rollback>,
}

impl Engine {
    /// A run of `plan`; `seed` drives the retry jitter (same seed, same waits).
    pub fn new(plan: Arc<Plan>, seed: u64) -> Self {
        let n = plan.len();
        let waiting_on = plan.deps.iter().map(|d| d.len() as u32).collect();
        Self {
            plan,
            status: vec![TaskStatus::Pending; n],
            waiting_on,
            outputs: vec![None; n],
            attempts: vec![0; n],
            errors: vec![None; n],
            unresolved: n,
            failure: None,
            cancelled: false,
            finished: false,
            rng: fastrand::Rng::with_seed(seed),
            paused: false,
            held: Vec::new(),
            signals: std::collections::HashMap::new(),
            ready: Vec::new(),
            completed: Vec::new(),
            rollback: None,
        }
    }

    /// Starts every task without dependencies.
    pub fn start(&mut self) -> Vec<Command> {
        let mut out = Vec::new();
        let roots: Vec<usize> = (0..self.plan.len())
            .filter(|&i| self.waiting_on[i] == 0)
            .collect();
        for task in roots {
            self.launch(task, &mut out);
        }
        self.deliver(&mut out);
        self.check_finished(&mut out);
        out
    }

    /// Attempt `attempt` of `task` succeeded with `output`.
    pub fn succeeded(&mut self, task: usize, attempt: u32, output: Value) -> Vec<Command> {
        let mut out = Vec::new();
        if !self.is_current(task, attempt) {
            return out;
        }
        self.succeed(task, output, &mut out);
        self.deliver(&mut out);
        self.check_finished(&mut out);
        out
    }

    fn succeed(&mut self, task: usize, output: Value, out: &mut Vec<Command>) {
        self.status[task] = TaskStatus::Succeeded;
        self.outputs[task] = Some(output);
        self.completed.push(task);
        self.resolve(task, out);
    }

    /// Attempt `attempt` of `task` failed.
    pub fn failed(&mut self, task: usize, attempt: u32, error: TaskError) -> Vec<Command> {
        let mut out = Vec::new();
        if !self.is_current(task, attempt) {
            return out;
        }
        self.errors[task] = Some(error.clone());
        let spec = &self.plan.spec.tasks[task];
        if !self.cancelled
            && spec
                .retry
                .should_retry(attempt, &error.class, error.retryable)
        {
            let delay = spec.retry.delay(attempt, &mut self.rng);
            self.status[task] = TaskStatus::WaitingRetry;
            out.push(Command::Retry {
                task,
                attempt,
                error,
                delay,
            });
            return out;
        }
        self.status[task] = TaskStatus::Failed;
        let optional = spec.optional;
        let id = spec.id.clone();
        out.push(Command::Failed {
            task,
            attempt,
            error: error.clone(),
        });
        if optional {
            // The run goes on; dependents see `null` for this task's output.
            self.outputs[task] = Some(Value::Null);
            self.resolve(task, &mut out);
            self.deliver(&mut out);
        } else {
            self.unresolved -= 1;
            if self.failure.is_none() {
                self.failure = Some(format!(
                    "task {id} failed after {attempt} attempt(s): {error}"
                ));
            }
            self.skip_dependents(task, &format!("dependency {id} failed"), &mut out);
        }
        self.check_finished(&mut out);
        out
    }

    /// The backoff of `task` is over: its next attempt starts (unless the run was cancelled).
    pub fn retry_due(&mut self, task: usize) -> Vec<Command> {
        let mut out = Vec::new();
        if self.cancelled || self.status[task] != TaskStatus::WaitingRetry {
            return out;
        }
        self.launch(task, &mut out);
        self.deliver(&mut out);
        out
    }

    /// Cancels the run: running and waiting tasks become cancelled, pending ones skipped.
    pub fn cancel(&mut self) -> Vec<Command> {
        self.stop_all("workflow cancelled", Outcome::Cancelled)
    }

    /// Ends the run as failed with `cause` (something outside the tasks broke, such as an agent
    /// pool whose supervisor gave up): like a cancel, but the outcome is a failure.
    pub fn abort(&mut self, cause: &str) -> Vec<Command> {
        let outcome = Outcome::Failed {
            cause: cause.to_string(),
        };
        self.stop_all(cause, outcome)
    }

    fn stop_all(&mut self, reason: &str, outcome: Outcome) -> Vec<Command> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        self.cancelled = true;
        for task in 0..self.status.len() {
            match self.status[task] {
                TaskStatus::Running | TaskStatus::WaitingRetry => {
                    self.status[task] = TaskStatus::Cancelled;
                    self.unresolved -= 1;
                }
                TaskStatus::Pending => {
                    self.status[task] = TaskStatus::Skipped;
                    self.unresolved -= 1;
                    out.push(Command::Skip {
                        task,
                        reason: reason.to_string(),
                    });
                }
                _ => {}
            }
        }
        self.finished = true;
        out.push(Command::Finish(outcome));
        out
    }

    /// Where each task stands.
    pub fn status(&self, task: usize) -> TaskStatus {
        self.status[task]
    }

    /// Attempts made so far.
    pub fn attempts(&self, task: usize) -> u32 {
        self.attempts[task]
    }

    /// The task's output, once it succeeded.
    pub fn output(&self, task: usize) -> Option<&Value> {
        self.outputs[task].as_ref()
    }

    /// The latest error of the task.
    pub fn error(&self, task: usize) -> Option<&TaskError> {
        self.errors[task].as_ref()
    }

    /// The plan this engine runs.
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// Whether the run is over.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    fn is_current(&self, task: usize, attempt: u32) -> bool {
        !self.finished && self.status[task] == TaskStatus::Running && self.attempts[task] == attempt
    }

    fn launch(&mut self, task: usize, out: &mut Vec<Command>) {
        if self.paused {
            // No new attempt while paused: it starts on resume.
            if !self.held.contains(&task) {
                self.held.push(task);
            }
            return;
        }
        self.attempts[task] += 1;
        self.status[task] = TaskStatus::Running;
        let attempt = self.attempts[task];
        match &self.plan.spec.tasks[task].wait {
            None => out.push(Command::Start {
                task,
                attempt,
                input: self.input_of(task),
            }),
            Some(wait) => self.launch_wait(task, attempt, wait.clone(), out),
        }
    }

    /// The input of a task: its static input (no dependencies), its one dependency's output,
    /// or an object of its dependencies' outputs keyed by task id.
    pub(crate) fn input_of(&self, task: usize) -> Value {
        let deps = &self.plan.deps[task];
        match deps.len() {
            0 => self.plan.spec.tasks[task]
                .input
                .clone()
                .unwrap_or(Value::Null),
            1 => self.outputs[deps[0]].clone().unwrap_or(Value::Null),
            _ => {
                let mut m = Map::with_capacity(deps.len());
                for &d in deps {
                    let id = self.plan.spec.tasks[d].id.to_string();
                    m.insert(id, self.outputs[d].clone().unwrap_or(Value::Null));
                }
                Value::Object(m)
            }
        }
    }

    /// `task` is done (successfully, or optional and failed): dependents may start.
    fn resolve(&mut self, task: usize, out: &mut Vec<Command>) {
        self.unresolved -= 1;
        for i in 0..self.plan.dependents[task].len() {
            let d = self.plan.dependents[task][i];
            self.waiting_on[d] -= 1;
            if self.waiting_on[d] == 0 && self.status[d] == TaskStatus::Pending && !self.cancelled {
                self.launch(d, out);
            }
        }
    }

    fn skip_dependents(&mut self, task: usize, reason: &str, out: &mut Vec<Command>) {
        let mut stack: Vec<usize> = self.plan.dependents[task].clone();
        while let Some(d) = stack.pop() {
            if self.status[d] != TaskStatus::Pending {
                continue;
            }
            self.status[d] = TaskStatus::Skipped;
            self.unresolved -= 1;
            out.push(Command::Skip {
                task: d,
                reason: reason.to_string(),
            });
            stack.extend(self.plan.dependents[d].iter().copied());
        }
    }

    fn check_finished(&mut self, out: &mut Vec<Command>) {
        if self.finished || self.unresolved > 0 {
            return;
        }
        if self.rollback.is_some() {
            return; // the rollback finishes the run
        }
        if let Some(mut rollback) = self.saga_rollback() {
            rollback.advance(out);
            self.rollback = Some(rollback);
            return;
        }
        self.finished = true;
        let outcome = match &self.failure {
            Some(cause) => Outcome::Failed {
                cause: cause.clone(),
            },
            None => Outcome::Succeeded,
        };
        out.push(Command::Finish(outcome));
    }
}

#[path = "engine_control.rs"]
mod control;
#[path = "engine_saga.rs"]
mod saga_hooks;

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "engine_control_tests.rs"]
mod control_tests;
