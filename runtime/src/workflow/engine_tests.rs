use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::policy::RetryPolicy;
use crate::workflow::plan::plan;
use crate::workflow::spec::{PoolSpec, TaskSpec, WorkflowSpec};

const KINDS: &[&str] = &["k"];

fn engine(tasks: Vec<TaskSpec>) -> Engine {
    let mut b = WorkflowSpec::builder("t").pool("p", PoolSpec::new("k", 1));
    for t in tasks {
        b = b.task(t);
    }
    let plan = plan(b.build(), KINDS).expect("valid plan");
    Engine::new(Arc::new(plan), 1)
}

fn started(cmds: &[Command]) -> Vec<(usize, u32)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Start { task, attempt, .. } => Some((*task, *attempt)),
            _ => None,
        })
        .collect()
}

fn err(retryable: bool) -> TaskError {
    TaskError {
        class: if retryable { "timeout" } else { "permanent" }.into(),
        message: "nope".into(),
        retryable,
    }
}

#[test]
fn diamond_runs_in_dependency_order_and_joins_inputs() {
    let mut e = engine(vec![
        TaskSpec::new("a", "p").input(json!(1)),
        TaskSpec::new("b", "p").after(["a"]),
        TaskSpec::new("c", "p").after(["a"]),
        TaskSpec::new("d", "p").after(["b", "c"]),
    ]);
    let cmds = e.start();
    assert_eq!(
        cmds,
        vec![Command::Start {
            task: 0,
            attempt: 1,
            input: json!(1)
        }]
    );
    let cmds = e.succeeded(0, 1, json!("A"));
    assert_eq!(started(&cmds), vec![(1, 1), (2, 1)]);
    assert!(
        matches!(&cmds[0], Command::Start { input, .. } if *input == json!("A")),
        "one dependency: its output"
    );
    assert!(
        e.succeeded(1, 1, json!("B")).is_empty(),
        "d still waits for c"
    );
    let cmds = e.succeeded(2, 1, json!("C"));
    assert_eq!(
        cmds,
        vec![Command::Start {
            task: 3,
            attempt: 1,
            input: json!({"b": "B", "c": "C"})
        }]
    );
    assert_eq!(
        e.succeeded(3, 1, json!(null)),
        vec![Command::Finish(Outcome::Succeeded)]
    );
}

#[test]
fn retryable_failures_are_retried_with_backoff_then_fail_finally() {
    let policy = RetryPolicy {
        jitter: 0.0,
        ..RetryPolicy::exponential_backoff()
    };
    let mut e = engine(vec![TaskSpec::new("a", "p").retry(policy)]);
    e.start();
    let cmds = e.failed(0, 1, err(true));
    assert!(
        matches!(cmds[0], Command::Retry { attempt: 1, delay, .. } if delay == Duration::from_millis(100))
    );
    assert_eq!(e.status(0), TaskStatus::WaitingRetry);
    assert_eq!(started(&e.retry_due(0)), vec![(0, 2)]);
    let cmds = e.failed(0, 2, err(true));
    assert!(
        matches!(cmds[0], Command::Retry { attempt: 2, delay, .. } if delay == Duration::from_millis(200))
    );
    assert_eq!(started(&e.retry_due(0)), vec![(0, 3)]);
    let cmds = e.failed(0, 3, err(true));
    assert!(matches!(cmds[0], Command::Failed { attempt: 3, .. }));
    let Command::Finish(Outcome::Failed { cause }) = &cmds[1] else {
        panic!("{cmds:?}")
    };
    assert_eq!(cause, "task a failed after 3 attempt(s): nope");
}

#[test]
fn permanent_failures_are_not_retried() {
    let mut e = engine(vec![
        TaskSpec::new("a", "p").retry(RetryPolicy::exponential_backoff())
    ]);
    e.start();
    let cmds = e.failed(0, 1, err(false));
    assert!(matches!(cmds[0], Command::Failed { attempt: 1, .. }));
}

#[test]
fn a_final_failure_skips_dependents_transitively_but_independent_branches_finish() {
    let mut e = engine(vec![
        TaskSpec::new("a", "p"),
        TaskSpec::new("b", "p").after(["a"]),
        TaskSpec::new("c", "p").after(["b"]),
        TaskSpec::new("x", "p"),
    ]);
    assert_eq!(started(&e.start()), vec![(0, 1), (3, 1)]);
    let cmds = e.failed(0, 1, err(false));
    let skipped: Vec<usize> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::Skip { task, .. } => Some(*task),
            _ => None,
        })
        .collect();
    assert_eq!(skipped, vec![1, 2]);
    assert!(
        !cmds.iter().any(|c| matches!(c, Command::Finish(_))),
        "x still runs"
    );
    let cmds = e.succeeded(3, 1, json!(1));
    assert!(
        matches!(&cmds[0], Command::Finish(Outcome::Failed { cause }) if cause.contains("task a"))
    );
    assert_eq!(e.status(2), TaskStatus::Skipped);
}

#[test]
fn an_optional_failure_lets_dependents_run_with_null() {
    let mut e = engine(vec![
        TaskSpec::new("a", "p").optional(),
        TaskSpec::new("b", "p").after(["a"]),
    ]);
    e.start();
    let cmds = e.failed(0, 1, err(false));
    assert!(matches!(cmds[0], Command::Failed { .. }));
    assert_eq!(
        cmds[1],
        Command::Start {
            task: 1,
            attempt: 1,
            input: json!(null)
        }
    );
    assert_eq!(
        e.succeeded(1, 1, json!(2)),
        vec![Command::Finish(Outcome::Succeeded)]
    );
}

#[test]
fn cancel_cancels_running_skips_pending_and_ignores_late_results() {
    let mut e = engine(vec![
        TaskSpec::new("a", "p"),
        TaskSpec::new("b", "p").after(["a"]),
    ]);
    e.start();
    let cmds = e.cancel();
    assert_eq!(
        cmds,
        vec![
            Command::Skip {
                task: 1,
                reason: "workflow cancelled".into()
            },
            Command::Finish(Outcome::Cancelled)
        ]
    );
    assert_eq!(e.status(0), TaskStatus::Cancelled);
    assert!(
        e.succeeded(0, 1, json!(1)).is_empty(),
        "late result ignored"
    );
    assert!(e.cancel().is_empty());
}

#[test]
fn stale_attempt_results_are_ignored() {
    let mut e = engine(vec![
        TaskSpec::new("a", "p").retry(RetryPolicy::exponential_backoff())
    ]);
    e.start();
    e.failed(0, 1, err(true));
    assert!(
        e.succeeded(0, 1, json!(1)).is_empty(),
        "attempt 1 already failed"
    );
    e.retry_due(0);
    assert_eq!(
        e.succeeded(0, 2, json!(1)),
        vec![Command::Finish(Outcome::Succeeded)]
    );
}
