//! The engine's control inputs: pause and resume, signals, durable timers. Still pure: the
//! shell feeds in what happened (a request, a signal, a timer that fired) and carries out the
//! commands that come back.
//!
//! - **Pause** holds every launch (a first attempt whose dependencies completed, a retry whose
//!   backoff is over) until [`Engine::resume`]; attempts already running finish, and their
//!   results are taken as usual.
//! - **Signals** are kept by name (the latest value of each): a task awaiting a signal that
//!   has already arrived completes as soon as it starts, so a signal sent before the wait is
//!   not lost; every task awaiting that name gets the value as its output.
//! - **Sleep** tasks start as [`Command::Sleep`] and complete on [`Engine::timer_fired`] with
//!   their input as output; a signal wait's timeout ([`Engine::signal_timed_out`]) fails the
//!   attempt with class `timeout` (retryable), under the task's retry and `optional` rules.

use std::time::Duration;

use serde_json::Value;

use super::{Command, Engine, TaskError, TaskStatus};
use crate::workflow::spec::TaskWait;

impl Engine {
    /// Pauses the run: no new attempt starts until [`Self::resume`]. Nothing to carry out.
    pub fn pause(&mut self) -> Vec<Command> {
        if !self.finished {
            self.paused = true;
        }
        Vec::new()
    }

    /// Resumes a paused run: the launches held meanwhile start, in the order they were due.
    pub fn resume(&mut self) -> Vec<Command> {
        let mut out = Vec::new();
        if !self.paused {
            return out;
        }
        self.paused = false;
        for task in std::mem::take(&mut self.held) {
            let due = match self.status[task] {
                TaskStatus::Pending => self.waiting_on[task] == 0,
                TaskStatus::WaitingRetry => true,
                _ => false,
            };
            if due && !self.cancelled && !self.finished {
                self.launch(task, &mut out);
            }
        }
        self.deliver(&mut out);
        self.check_finished(&mut out);
        out
    }

    /// Whether the run is paused.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// The signal `name` arrived with `value`: every task awaiting it completes with the value
    /// as its output, and a task that awaits it later completes as soon as it starts.
    pub fn signal(&mut self, name: &str, value: Value) -> Vec<Command> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        self.signals.insert(name.to_string(), value);
        for task in 0..self.status.len() {
            if self.status[task] == TaskStatus::Running && self.awaits(task) == Some(name) {
                self.ready.push(task);
            }
        }
        self.deliver(&mut out);
        self.check_finished(&mut out);
        out
    }

    /// The timer of attempt `attempt` of the sleep task `task` fired: the task completes with
    /// its input as its output. Stale timers are ignored.
    pub fn timer_fired(&mut self, task: usize, attempt: u32) -> Vec<Command> {
        let mut out = Vec::new();
        let sleeps = matches!(self.plan.spec.tasks[task].wait, Some(TaskWait::Sleep(_)));
        if !sleeps || !self.is_current(task, attempt) {
            return out;
        }
        let output = self.input_of(task);
        out.push(Command::Completed {
            task,
            attempt,
            output: output.clone(),
        });
        self.succeed(task, output, &mut out);
        self.deliver(&mut out);
        self.check_finished(&mut out);
        out
    }

    /// Attempt `attempt` of the signal wait `task` timed out: it fails (class `timeout`,
    /// retryable) under its retry policy. Stale timeouts are ignored.
    pub fn signal_timed_out(&mut self, task: usize, attempt: u32) -> Vec<Command> {
        let Some(name) = self.awaits(task).map(str::to_string) else {
            return Vec::new();
        };
        if !self.is_current(task, attempt) {
            return Vec::new();
        }
        let after = self.plan.spec.tasks[task].timeout.unwrap_or_default();
        let error = TaskError {
            class: "timeout".into(),
            message: format!("no signal {name:?} arrived within {after:?}"),
            retryable: true,
        };
        self.failed(task, attempt, error)
    }

    /// The signals received so far, by name.
    pub fn signals(&self) -> &std::collections::HashMap<String, Value> {
        &self.signals
    }

    /// The signal `task` awaits, if it is a signal wait.
    fn awaits(&self, task: usize) -> Option<&str> {
        match &self.plan.spec.tasks[task].wait {
            Some(TaskWait::Signal(name)) => Some(name),
            _ => None,
        }
    }

    /// Starts a waiting task's attempt: a sleep, or a signal wait (completed at once, by
    /// `deliver`, when its signal is already there).
    pub(super) fn launch_wait(
        &mut self,
        task: usize,
        attempt: u32,
        wait: TaskWait,
        out: &mut Vec<Command>,
    ) {
        match wait {
            TaskWait::Sleep(duration) => out.push(Command::Sleep {
                task,
                attempt,
                duration,
            }),
            TaskWait::Signal(signal) => {
                if self.signals.contains_key(&signal) {
                    self.ready.push(task);
                }
                let timeout: Option<Duration> = self.plan.spec.tasks[task].timeout;
                out.push(Command::AwaitSignal {
                    task,
                    attempt,
                    signal,
                    timeout,
                });
            }
        }
    }

    /// Completes the signal waits whose signal is there (which may start, and complete, more).
    pub(super) fn deliver(&mut self, out: &mut Vec<Command>) {
        while let Some(task) = self.ready.pop() {
            if self.finished || self.status[task] != TaskStatus::Running {
                continue;
            }
            let Some(value) = self.awaits(task).and_then(|n| self.signals.get(n)).cloned() else {
                continue;
            };
            out.push(Command::Completed {
                task,
                attempt: self.attempts[task],
                output: value.clone(),
            });
            self.succeed(task, value, out);
        }
    }
}
