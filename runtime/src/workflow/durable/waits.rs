//! What a stored run is waiting for, read from its journal (for `troupe runs`): the signals its
//! started signal waits await (with their timeout's due time) and its `sleep` timers' wake
//! times. No runtime needed: the definition and the journal say it all.

use std::collections::{HashMap, HashSet};

use super::super::journal::{read_events, JournalError, JournalEvent};
use super::super::spec::{TaskWait, WorkflowSpec};
use super::{parse_timer, snapshot_events, stored_spec, DurableError, SIGNAL_TIMEOUT, SLEEP};
use crate::ids::TaskId;
use crate::store::{RunRecord, Store, Timestamp};

/// One thing a run waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// Task `task` awaits signal `name` (`troupe signal RUN NAME`); `until`: when its timeout
    /// fails the wait, if it has one.
    Signal {
        /// The waiting task.
        task: TaskId,
        /// The signal's name.
        name: String,
        /// When the wait times out.
        until: Option<Timestamp>,
    },
    /// Task `task` sleeps on a durable timer until `wakes_at`.
    Timer {
        /// The sleeping task.
        task: TaskId,
        /// When the timer fires.
        wakes_at: Timestamp,
    },
}

impl std::fmt::Display for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Waiting::Signal {
                name, until: None, ..
            } => write!(f, "signal {name}"),
            Waiting::Signal {
                name,
                until: Some(t),
                ..
            } => write!(f, "signal {name} (until {t})"),
            Waiting::Timer { wakes_at, .. } => write!(f, "timer (wakes {wakes_at})"),
        }
    }
}

/// What the stored run `record` waits for (empty for a finished run, or one that waits for
/// nothing but its agents).
pub async fn stored_waits(
    store: &dyn Store,
    record: &RunRecord,
) -> Result<Vec<Waiting>, DurableError> {
    if record.status.is_finished() {
        return Ok(Vec::new());
    }
    let history = read_events(store, &record.id, 1).await?;
    let mut events = match &history.snapshot {
        Some(s) => snapshot_events(&record.id, s).map_err(JournalError::from)?,
        None => Vec::new(),
    };
    events.extend(history.events.into_iter().map(|(_, e)| e));
    let spec =
        stored_spec(&record.id, record, &mut events).map_err(|errors| DurableError::Invalid {
            run: record.id.clone(),
            errors,
        })?;
    Ok(waits(&spec, &events))
}

/// What a run of `spec` with journal `events` waits for: a signal wait whose dependencies
/// completed and that has not completed itself, and timers set and not fired.
pub fn waits(spec: &WorkflowSpec, events: &[JournalEvent]) -> Vec<Waiting> {
    let mut done: HashSet<&TaskId> = HashSet::new();
    // Timers set and not fired, by task: (kind, due).
    let mut timers: HashMap<TaskId, (String, Timestamp)> = HashMap::new();
    for event in events {
        match event {
            JournalEvent::TaskCompleted { task, .. } => {
                done.insert(task);
            }
            JournalEvent::TaskFailed {
                task,
                retry_at: None,
                ..
            } => {
                done.insert(task);
            }
            JournalEvent::TimerSet { timer, fires_at } => {
                if let Some((kind, task, _)) = parse_timer(timer) {
                    timers.insert(task, (kind.to_string(), *fires_at));
                }
            }
            JournalEvent::TimerFired { timer } => {
                if let Some((_, task, _)) = parse_timer(timer) {
                    timers.remove(&task);
                }
            }
            JournalEvent::RunFinished { .. } | JournalEvent::Cancelled { .. } => return Vec::new(),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for task in &spec.tasks {
        if done.contains(&task.id) {
            continue;
        }
        let due = |kind: &str| {
            timers
                .get(&task.id)
                .filter(|(k, _)| k == kind)
                .map(|(_, t)| *t)
        };
        match &task.wait {
            Some(TaskWait::Signal(name)) if task.depends_on.iter().all(|d| done.contains(d)) => {
                out.push(Waiting::Signal {
                    task: task.id.clone(),
                    name: name.clone(),
                    until: due(SIGNAL_TIMEOUT),
                });
            }
            Some(TaskWait::Sleep(_)) => {
                if let Some(wakes_at) = due(SLEEP) {
                    out.push(Waiting::Timer {
                        task: task.id.clone(),
                        wakes_at,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::workflow::parse_workflow;

    const WAITS: &str = "workflow:\n  name: w\n  agents:\n    echo: { type: util.echo }\n  tasks:\n    - { id: a, agent: echo, input: 1 }\n    - { id: approve, await_signal: approval, depends_on: [a], timeout: 1h }\n    - { id: nap, sleep: 10m, depends_on: [a] }\n    - { id: later, await_signal: later, depends_on: [approve] }\n";

    fn done(task: &str) -> JournalEvent {
        JournalEvent::TaskCompleted {
            task: TaskId::new(task),
            attempt: 1,
            output: json!(1),
        }
    }

    fn timer(name: &str, at: u64) -> JournalEvent {
        JournalEvent::TimerSet {
            timer: name.into(),
            fires_at: Timestamp::from_millis(at),
        }
    }

    #[test]
    fn started_signal_waits_and_unfired_timers_are_what_a_run_waits_for() {
        let spec = parse_workflow(WAITS, "w.yaml").unwrap();
        assert_eq!(
            waits(&spec, &[]),
            [],
            "a has not completed: nothing waits yet"
        );
        let events = [
            done("a"),
            timer("signal_timeout/approve/1", 5_000),
            timer("sleep/nap/1", 7_000),
        ];
        assert_eq!(
            waits(&spec, &events),
            [
                Waiting::Signal {
                    task: TaskId::new("approve"),
                    name: "approval".into(),
                    until: Some(Timestamp::from_millis(5_000)),
                },
                Waiting::Timer {
                    task: TaskId::new("nap"),
                    wakes_at: Timestamp::from_millis(7_000),
                },
            ]
        );
        let mut more = events.to_vec();
        more.extend([
            JournalEvent::TimerFired {
                timer: "sleep/nap/1".into(),
            },
            done("nap"),
            done("approve"),
        ]);
        assert_eq!(
            waits(&spec, &more),
            [Waiting::Signal {
                task: TaskId::new("later"),
                name: "later".into(),
                until: None,
            }]
        );
        assert_eq!(waits(&spec, &more)[0].to_string(), "signal later");
        more.push(JournalEvent::Cancelled {
            by: None,
            reason: None,
        });
        assert_eq!(waits(&spec, &more), [], "a cancelled run waits for nothing");
    }
}
