//! Replay: a run's journal events fed back through a fresh [`Engine`] rebuild the state the run
//! had when its journal ended, and say what must happen next. No IO, no clock reading: the
//! caller passes `now`.
//!
//! - A task with a journaled `task_completed` keeps its output and does not run again.
//! - An attempt that the engine had started (journaled `attempt_started`, or launched because
//!   its dependencies completed) but that has no result is in flight: it is started again as
//!   the SAME attempt, so the agent sees the same idempotency key `run/task/attempt[/item]`.
//! - A failed attempt with a retry due continues to wait for the time it had left (its
//!   `retry_at`, journaled when it failed); an overdue retry starts at once.
//! - `paused`, `resumed`, `cancelled` and `signal_received` are fed to the engine in journal
//!   order, so a run paused before a crash is still paused, and a signal that arrived before
//!   its wait started is still there.
//! - A `sleep` whose timer fired (`timer_fired`) is complete; one still waiting, and a signal
//!   wait's timeout, wait for what their journaled due time (`timer_set`) has left.
//! - A saga rollback continues where it was: finished compensations are not run again, the
//!   one in flight starts again as the same attempt, a waiting retry waits for its time left.
//! - A journal that ends in `run_finished` is over: replay says so and nothing runs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::super::engine::{Command, Engine, Outcome, TaskError, TaskStatus};
use super::super::journal::{ErrorChain, FinalStatus, JournalEvent};
use super::super::plan::Plan;
use super::super::saga::CompensationStatus;
use super::super::spec::TaskWait;
use super::{parse_timer, timer_name, SIGNAL_TIMEOUT, SLEEP};
use crate::store::Timestamp;

/// What replaying a journal produced.
#[derive(Debug)]
pub struct Replayed {
    /// The engine in the state the journal describes.
    pub engine: Engine,
    /// What to do to continue: starts of the in-flight attempts and of due retries, retries
    /// still waiting (with the delay they have left), or the finish the run had reached.
    pub commands: Vec<Command>,
    /// How the journal says the run ended, if it ended.
    pub finished: Option<FinalStatus>,
}

/// Rebuilds the state of a run of `plan` (whose engine was seeded with `seed`) from its
/// journal `events`, as of time `now`. Events naming unknown tasks or stale attempts are
/// ignored (the engine ignores stale results too).
pub fn replay(plan: Arc<Plan>, seed: u64, events: &[JournalEvent], now: Timestamp) -> Replayed {
    let mut engine = Engine::new(plan.clone(), seed);
    let mut outcome: Option<Outcome> = None;
    // When the waiting compensation's retry is due (one compensation runs at a time).
    let mut compensation_due: Option<(Timestamp, TaskError)> = None;
    let mut note =
        |cmds: Vec<Command>, retry_at: &mut HashMap<usize, Timestamp>, due: Option<Timestamp>| {
            for c in cmds {
                match c {
                    Command::Finish(o) => outcome = Some(o),
                    Command::Retry { task, .. } => {
                        retry_at.insert(task, due.unwrap_or(now));
                    }
                    Command::CompensationRetry { error, .. } => {
                        compensation_due = Some((due.unwrap_or(now), error));
                    }
                    _ => {}
                }
            }
        };
    let mut retry_at: HashMap<usize, Timestamp> = HashMap::new();
    let mut timers: HashMap<String, Timestamp> = HashMap::new();
    note(engine.start(), &mut retry_at, None);
    let mut finished = None;
    for event in events {
        match event {
            JournalEvent::AttemptStarted { task, attempt, .. } => {
                if let Some(&t) = plan.index.get(task) {
                    let cmds = catch_up(&mut engine, t, *attempt);
                    note(cmds, &mut retry_at, None);
                }
            }
            JournalEvent::TaskCompleted {
                task,
                attempt,
                output,
            } => {
                if let Some(&t) = plan.index.get(task) {
                    let mut cmds = catch_up(&mut engine, t, *attempt);
                    cmds.extend(engine.succeeded(t, *attempt, output.clone()));
                    note(cmds, &mut retry_at, None);
                }
            }
            JournalEvent::TaskFailed {
                task,
                attempt,
                error,
                retry_at: due,
            } => {
                if let Some(&t) = plan.index.get(task) {
                    let mut cmds = catch_up(&mut engine, t, *attempt);
                    cmds.extend(engine.failed(t, *attempt, task_error(error)));
                    note(cmds, &mut retry_at, *due);
                }
            }
            JournalEvent::Paused { .. } => {
                engine.pause();
            }
            JournalEvent::Resumed { .. } => note(engine.resume(), &mut retry_at, None),
            JournalEvent::Cancelled { .. } => note(engine.cancel(), &mut retry_at, None),
            JournalEvent::SignalReceived { name, value } => {
                note(engine.signal(name, value.clone()), &mut retry_at, None)
            }
            JournalEvent::TimerSet { timer, fires_at } => {
                timers.insert(timer.clone(), *fires_at);
            }
            JournalEvent::TimerFired { timer } => {
                let sleep = parse_timer(timer).filter(|(kind, _, _)| *kind == SLEEP);
                if let Some((_, task, attempt)) = sleep {
                    if let Some(&t) = plan.index.get(&task) {
                        let mut cmds = catch_up(&mut engine, t, attempt);
                        cmds.extend(engine.timer_fired(t, attempt));
                        note(cmds, &mut retry_at, None);
                    }
                }
            }
            JournalEvent::CompensationStarted { task, attempt } => {
                if let Some(&t) = plan.index.get(task) {
                    let cmds = compensation_catch_up(&mut engine, t, *attempt);
                    note(cmds, &mut retry_at, None);
                }
            }
            JournalEvent::CompensationFinished {
                task,
                error,
                attempt,
                retry_at: due,
            } => {
                if let Some(&t) = plan.index.get(task) {
                    let current = engine.active_compensation().map_or(0, |(_, a, _, _)| a);
                    let attempt = if *attempt == 0 { current } else { *attempt };
                    let mut cmds = compensation_catch_up(&mut engine, t, attempt);
                    cmds.extend(match error {
                        None => engine.compensated(t, attempt),
                        Some(e) => engine.compensation_failed(t, attempt, task_error(e)),
                    });
                    note(cmds, &mut retry_at, *due);
                }
            }
            JournalEvent::RunFinished { status, .. } => {
                finished = Some(*status);
                break;
            }
            _ => {}
        }
    }
    let commands = if finished.is_some() {
        Vec::new()
    } else if let Some(o) = outcome {
        vec![Command::Finish(o)]
    } else {
        let mut cmds = pending(&engine, &retry_at, &timers, now);
        cmds.extend(pending_compensation(&engine, compensation_due, now));
        cmds
    };
    Replayed {
        engine,
        commands,
        finished,
    }
}

/// A result or start of attempt `attempt` while the engine still waits for the retry backoff
/// of the attempt before it: the retry was due and started.
fn catch_up(engine: &mut Engine, task: usize, attempt: u32) -> Vec<Command> {
    if engine.status(task) == TaskStatus::WaitingRetry && engine.attempts(task) + 1 == attempt {
        engine.retry_due(task)
    } else {
        Vec::new()
    }
}

/// A compensation start or result of attempt `attempt` while the engine still waits for the
/// backoff of the attempt before it: the retry was due and started.
fn compensation_catch_up(engine: &mut Engine, task: usize, attempt: u32) -> Vec<Command> {
    match engine.active_compensation() {
        Some((t, a, CompensationStatus::WaitingRetry, _)) if t == task && a + 1 == attempt => {
            engine.compensation_retry_due(task)
        }
        _ => Vec::new(),
    }
}

/// What continues a rollback: the compensation in flight starts again (the same attempt), a
/// waiting one waits for the time it has left.
fn pending_compensation(
    engine: &Engine,
    due: Option<(Timestamp, TaskError)>,
    now: Timestamp,
) -> Vec<Command> {
    match engine.active_compensation() {
        Some((task, attempt, CompensationStatus::Running, input)) => vec![Command::Compensate {
            task,
            attempt,
            input: input.clone(),
        }],
        Some((task, attempt, CompensationStatus::WaitingRetry, _)) => {
            let (at, error) = due.unwrap_or_else(|| {
                let error = TaskError {
                    class: "unknown".into(),
                    message: "failed before the journal was replayed".into(),
                    retryable: true,
                };
                (now, error)
            });
            let left = at.as_millis().saturating_sub(now.as_millis());
            vec![Command::CompensationRetry {
                task,
                attempt,
                error,
                delay: Duration::from_millis(left),
            }]
        }
        _ => Vec::new(),
    }
}

/// What continues the run: every running attempt starts again (the same attempt number), every
/// waiting retry waits for the time it has left.
fn pending(
    engine: &Engine,
    retry_at: &HashMap<usize, Timestamp>,
    timers: &HashMap<String, Timestamp>,
    now: Timestamp,
) -> Vec<Command> {
    let left =
        |due: Timestamp| Duration::from_millis(due.as_millis().saturating_sub(now.as_millis()));
    let mut out = Vec::new();
    for task in 0..engine.plan().len() {
        let spec = &engine.plan().spec.tasks[task];
        let attempt = engine.attempts(task);
        match engine.status(task) {
            // A waiting task waits for what its journaled timer has left.
            TaskStatus::Running => out.push(match &spec.wait {
                None => Command::Start {
                    task,
                    attempt,
                    input: engine.input_of(task),
                },
                Some(TaskWait::Sleep(d)) => Command::Sleep {
                    task,
                    attempt,
                    duration: timers
                        .get(&timer_name(SLEEP, &spec.id, attempt))
                        .map_or(*d, |&due| left(due)),
                },
                Some(TaskWait::Signal(name)) => Command::AwaitSignal {
                    task,
                    attempt,
                    signal: name.clone(),
                    timeout: spec.timeout.map(|t| {
                        timers
                            .get(&timer_name(SIGNAL_TIMEOUT, &spec.id, attempt))
                            .map_or(t, |&due| left(due))
                    }),
                },
            }),
            TaskStatus::WaitingRetry => {
                let due = retry_at.get(&task).copied().unwrap_or(now);
                out.push(Command::Retry {
                    task,
                    attempt: engine.attempts(task),
                    error: engine.error(task).cloned().unwrap_or_else(|| TaskError {
                        class: "unknown".into(),
                        message: "failed before the journal was replayed".into(),
                        retryable: true,
                    }),
                    delay: left(due),
                })
            }
            _ => {}
        }
    }
    out
}

/// The engine's error from its journaled form.
pub(crate) fn task_error(chain: &ErrorChain) -> TaskError {
    TaskError {
        class: chain.class.clone(),
        message: chain.messages.join(": "),
        retryable: chain.retryable,
    }
}

/// The journaled form of an engine error.
pub(crate) fn error_chain(error: &TaskError) -> ErrorChain {
    ErrorChain {
        class: error.class.clone(),
        retryable: error.retryable,
        messages: vec![error.message.clone()],
    }
}

#[cfg(test)]
#[path = "replay_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "replay_control_tests.rs"]
mod control_tests;
#[cfg(test)]
#[path = "replay_saga_tests.rs"]
mod saga_tests;
