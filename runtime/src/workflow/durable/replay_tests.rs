use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::ids::TaskId;
use crate::policy::RetryPolicy;
use crate::workflow::plan::plan;
use crate::workflow::spec::{PoolSpec, TaskSpec, WorkflowSpec};

const KINDS: &[&str] = &["k"];

/// a -> b, a -> c, (b, c) -> d
fn diamond() -> Arc<Plan> {
    let spec = WorkflowSpec::builder("t")
        .pool("p", PoolSpec::new("k", 1))
        .task(TaskSpec::new("a", "p").input(json!(1)))
        .task(TaskSpec::new("b", "p").after(["a"]))
        .task(TaskSpec::new("c", "p").after(["a"]))
        .task(TaskSpec::new("d", "p").after(["b", "c"]))
        .build();
    Arc::new(plan(spec, KINDS).expect("valid plan"))
}

fn started(task: &str, attempt: u32) -> JournalEvent {
    JournalEvent::AttemptStarted {
        task: TaskId::new(task),
        attempt,
        item: None,
        idempotency_key: format!("r/{task}/{attempt}"),
    }
}

fn completed(task: &str, attempt: u32, output: serde_json::Value) -> JournalEvent {
    JournalEvent::TaskCompleted {
        task: TaskId::new(task),
        attempt,
        output,
    }
}

fn failed(task: &str, attempt: u32, retry_at: Option<u64>) -> JournalEvent {
    JournalEvent::TaskFailed {
        task: TaskId::new(task),
        attempt,
        error: ErrorChain {
            class: "timeout".into(),
            retryable: true,
            messages: vec!["too slow".into()],
        },
        retry_at: retry_at.map(Timestamp::from_millis),
    }
}

const NOW: Timestamp = Timestamp::from_millis(10_000);

#[test]
fn an_empty_journal_starts_the_roots() {
    let r = replay(diamond(), 1, &[], NOW);
    assert_eq!(
        r.commands,
        vec![Command::Start {
            task: 0,
            attempt: 1,
            input: json!(1)
        }]
    );
    assert!(r.finished.is_none());
}

#[test]
fn completed_tasks_keep_their_outputs_and_in_flight_attempts_start_again_as_the_same_attempt() {
    let events = [
        started("a", 1),
        completed("a", 1, json!("A")),
        started("b", 1),
        started("c", 1),
        completed("c", 1, json!("C")),
    ];
    let r = replay(diamond(), 1, &events, NOW);
    assert_eq!(r.engine.status(0), TaskStatus::Succeeded);
    assert_eq!(r.engine.output(0), Some(&json!("A")));
    assert_eq!(r.engine.status(2), TaskStatus::Succeeded);
    assert_eq!(
        r.commands,
        vec![Command::Start {
            task: 1,
            attempt: 1,
            input: json!("A")
        }],
        "only b runs again, as attempt 1 (same idempotency key), with a's journaled output"
    );
    // The rebuilt engine goes on as if it had never stopped.
    let mut engine = r.engine;
    let next = engine.succeeded(1, 1, json!("B"));
    assert_eq!(
        next,
        vec![Command::Start {
            task: 3,
            attempt: 1,
            input: json!({"b": "B", "c": "C"})
        }]
    );
}

#[test]
fn a_task_launched_but_never_journaled_as_started_runs_too() {
    // a completed, the process died before journaling b's and c's starts.
    let events = [started("a", 1), completed("a", 1, json!("A"))];
    let r = replay(diamond(), 1, &events, NOW);
    let starts: Vec<(usize, u32)> = r
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Start { task, attempt, .. } => Some((*task, *attempt)),
            _ => None,
        })
        .collect();
    assert_eq!(starts, vec![(1, 1), (2, 1)]);
}

fn retrying() -> Arc<Plan> {
    let retry = RetryPolicy::exponential_backoff().with_max_attempts(5);
    let spec = WorkflowSpec::builder("t")
        .pool("p", PoolSpec::new("k", 1))
        .task(TaskSpec::new("a", "p").retry(retry))
        .build();
    Arc::new(plan(spec, KINDS).expect("valid plan"))
}

#[test]
fn a_waiting_retry_continues_with_the_time_it_had_left() {
    let events = [started("a", 1), failed("a", 1, Some(25_000))];
    let r = replay(retrying(), 1, &events, NOW);
    assert_eq!(r.engine.status(0), TaskStatus::WaitingRetry);
    match &r.commands[..] {
        [Command::Retry {
            task: 0,
            attempt: 1,
            delay,
            error,
        }] => {
            assert_eq!(*delay, Duration::from_millis(15_000));
            assert_eq!(error.class, "timeout");
        }
        other => panic!("expected one waiting retry, got {other:?}"),
    }
    // An overdue retry waits no more.
    let late = replay(retrying(), 1, &events, Timestamp::from_millis(30_000));
    assert!(matches!(
        &late.commands[..],
        [Command::Retry { delay, .. }] if delay.is_zero()
    ));
}

#[test]
fn a_retry_that_started_is_in_flight_as_its_new_attempt() {
    let events = [
        started("a", 1),
        failed("a", 1, Some(9_000)),
        started("a", 2),
        failed("a", 2, Some(9_500)),
        completed("a", 3, json!("late but fine")),
    ];
    let r = replay(retrying(), 1, &events, NOW);
    assert_eq!(r.engine.status(0), TaskStatus::Succeeded);
    assert_eq!(r.engine.attempts(0), 3);
    assert_eq!(r.commands, vec![Command::Finish(Outcome::Succeeded)]);

    let r = replay(retrying(), 1, &events[..3], NOW);
    assert_eq!(
        r.commands,
        vec![Command::Start {
            task: 0,
            attempt: 2,
            input: serde_json::Value::Null
        }]
    );
}

#[test]
fn a_finished_journal_runs_nothing() {
    let events = [
        started("a", 1),
        completed("a", 1, json!(1)),
        JournalEvent::RunFinished {
            status: FinalStatus::Completed,
            error: None,
        },
    ];
    let r = replay(retrying(), 1, &events, NOW);
    assert_eq!(r.finished, Some(FinalStatus::Completed));
    assert!(r.commands.is_empty());
}

#[test]
fn a_run_whose_last_task_completed_before_the_finish_was_journaled_finishes() {
    let events = [started("a", 1), completed("a", 1, json!(1))];
    let r = replay(retrying(), 1, &events, NOW);
    assert_eq!(r.finished, None);
    assert_eq!(r.commands, vec![Command::Finish(Outcome::Succeeded)]);
}

#[test]
fn stale_and_unknown_events_are_ignored() {
    let events = [
        completed("nope", 1, json!(1)),
        completed("a", 7, json!("stale")),
    ];
    let r = replay(retrying(), 1, &events, NOW);
    assert_eq!(r.engine.status(0), TaskStatus::Running);
    assert_eq!(r.engine.attempts(0), 1);
}
