use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::workflow::engine::{Command, Engine, Outcome, TaskError};
use crate::workflow::plan::plan;
use crate::workflow::spec::{PoolSpec, TaskSpec, WorkflowSpec};

const KINDS: &[&str] = &["k"];

fn engine(tasks: Vec<TaskSpec>, saga: Option<SagaPattern>) -> Engine {
    let mut b = WorkflowSpec::builder("t")
        .pool("p", PoolSpec::new("k", 1))
        .pool("undo", PoolSpec::new("k", 1));
    for t in tasks {
        b = b.task(t);
    }
    if let Some(s) = saga {
        b = b.saga(s);
    }
    let plan = plan(b.build(), KINDS).expect("valid plan");
    Engine::new(Arc::new(plan), 1)
}

fn err() -> TaskError {
    TaskError {
        class: "permanent".into(),
        message: "nope".into(),
        retryable: false,
    }
}

fn undo() -> Compensation {
    Compensation::new("undo").input(json!({"undo": "$output.id", "was": "${input}"}))
}

/// a and b (independent) then c after both; c fails.
fn three(saga: Option<SagaPattern>) -> Engine {
    engine(
        vec![
            TaskSpec::new("a", "p").input(json!("A")).compensate(undo()),
            TaskSpec::new("b", "p").input(json!("B")).compensate(undo()),
            TaskSpec::new("c", "p").after(["a", "b"]).compensate(undo()),
        ],
        saga,
    )
}

fn compensates(cmds: &[Command]) -> Vec<(usize, u32)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Compensate { task, attempt, .. } => Some((*task, *attempt)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_failed_run_compensates_its_completed_tasks_in_reverse_order_of_completion() {
    let mut e = three(Some(SagaPattern::rollback()));
    e.start();
    e.succeeded(1, 1, json!({"id": "b1"})); // b completes first
    e.succeeded(0, 1, json!({"id": "a1"}));
    let cmds = e.failed(2, 1, err());
    assert!(matches!(cmds[0], Command::Failed { task: 2, .. }));
    // The failed task is not compensated; the last completed (a) goes first.
    assert_eq!(
        cmds[1],
        Command::Compensate {
            task: 0,
            attempt: 1,
            input: json!({"undo": "a1", "was": "A"}),
        }
    );
    assert_eq!(cmds.len(), 2, "no finish while rolling back: {cmds:?}");
    assert!(!e.is_finished());
    let cmds = e.compensated(0, 1);
    assert_eq!(
        cmds[0],
        Command::Compensated {
            task: 0,
            attempt: 1
        }
    );
    assert_eq!(compensates(&cmds), vec![(1, 1)]);
    let cmds = e.compensated(1, 1);
    let Some(Command::Finish(Outcome::Failed { cause })) = cmds.last() else {
        panic!("the rollback finishes the run: {cmds:?}");
    };
    assert!(cause.starts_with("task c failed"), "{cause}");
    assert!(cause.contains("rolled back: 2 compensated"), "{cause}");
    assert!(e.is_finished());
    assert_eq!(
        e.compensations(),
        vec![
            (0, 1, CompensationStatus::Compensated),
            (1, 1, CompensationStatus::Compensated)
        ]
    );
}

#[test]
fn a_compensation_is_retried_by_its_own_policy_then_given_up_and_the_rollback_goes_on() {
    let retry = crate::policy::RetryPolicy {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(10),
        jitter: 0.0,
        retry_on: crate::policy::RetryOn::Any,
        ..crate::policy::RetryPolicy::exponential_backoff()
    };
    let mut e = engine(
        vec![
            TaskSpec::new("a", "p").compensate(Compensation::new("undo")),
            TaskSpec::new("b", "p")
                .after(["a"])
                .compensate(Compensation::new("undo").retry(retry)),
            TaskSpec::new("c", "p").after(["b"]),
        ],
        Some(SagaPattern::rollback()),
    );
    e.start();
    e.succeeded(0, 1, json!("out-a"));
    e.succeeded(1, 1, json!("out-b"));
    let cmds = e.failed(2, 1, err());
    assert_eq!(compensates(&cmds), vec![(1, 1)]);
    assert!(
        matches!(&cmds[1], Command::Compensate { input, .. } if *input == json!("out-b")),
        "no input template: the task's output"
    );
    let cmds = e.compensation_failed(1, 1, err());
    assert!(
        matches!(cmds[..], [Command::CompensationRetry { task: 1, attempt: 1, delay, .. }] if delay == Duration::from_millis(10)),
        "{cmds:?}"
    );
    assert!(
        e.compensation_retry_due(0).is_empty(),
        "not the waiting one"
    );
    assert_eq!(compensates(&e.compensation_retry_due(1)), vec![(1, 2)]);
    assert!(e.compensated(1, 1).is_empty(), "a stale attempt is ignored");
    let cmds = e.compensation_failed(1, 2, err());
    assert!(matches!(
        cmds[0],
        Command::CompensationFailed {
            task: 1,
            attempt: 2,
            ..
        }
    ));
    assert_eq!(compensates(&cmds), vec![(0, 1)], "the rollback goes on");
    let cmds = e.compensated(0, 1);
    let Some(Command::Finish(Outcome::Failed { cause })) = cmds.last() else {
        panic!("{cmds:?}");
    };
    assert!(
        cause.contains("1 compensated, 1 compensation(s) failed (b: nope)"),
        "{cause}"
    );
}

#[test]
fn without_a_rolling_back_saga_or_on_cancel_nothing_is_compensated() {
    let off = SagaPattern {
        compensation_enabled: true,
        rollback_on_failure: false,
    };
    for saga in [None, Some(off)] {
        let mut e = three(saga);
        e.start();
        e.succeeded(0, 1, json!({}));
        e.succeeded(1, 1, json!({}));
        let cmds = e.failed(2, 1, err());
        assert!(compensates(&cmds).is_empty(), "{saga:?}: {cmds:?}");
        assert!(matches!(cmds.last(), Some(Command::Finish(_))));
    }
    let mut e = three(Some(SagaPattern::rollback()));
    e.start();
    e.succeeded(0, 1, json!({}));
    let cmds = e.cancel();
    assert!(compensates(&cmds).is_empty(), "{cmds:?}");
    // A run that succeeds is not rolled back either.
    let mut e = three(Some(SagaPattern::rollback()));
    e.start();
    e.succeeded(0, 1, json!({}));
    e.succeeded(1, 1, json!({}));
    let cmds = e.succeeded(2, 1, json!({}));
    assert_eq!(cmds, vec![Command::Finish(Outcome::Succeeded)]);
}

#[test]
fn cancelling_during_a_rollback_ends_the_run() {
    let mut e = three(Some(SagaPattern::rollback()));
    e.start();
    e.succeeded(0, 1, json!({}));
    e.succeeded(1, 1, json!({}));
    e.failed(2, 1, err());
    assert!(e.is_rolling_back());
    let cmds = e.cancel();
    assert_eq!(cmds, vec![Command::Finish(Outcome::Cancelled)]);
    assert!(e.compensated(1, 1).is_empty(), "over: results are ignored");
}

#[test]
fn input_templates_fill_references_and_keep_everything_else() {
    let input = json!({"order": 7});
    let output = json!({"id": "x1", "items": [10, 20], "n": 3});
    let t = json!({
        "whole": "$output",
        "path": "$output.items.1",
        "missing": "$output.nope.deeper",
        "from_input": "$input.order",
        "text": "cancel ${output.id} (${output.n} of ${input.order})${output.nope}",
        "literal": "$HOME and $outputs",
        "list": ["$output.id", 5, null]
    });
    let got = compensation_input(Some(&t), &input, &output);
    assert_eq!(
        got,
        json!({
            "whole": output,
            "path": 20,
            "missing": null,
            "from_input": 7,
            "text": "cancel x1 (3 of 7)",
            "literal": "$HOME and $outputs",
            "list": ["x1", 5, null]
        })
    );
    assert_eq!(compensation_input(None, &input, &output), output);
}
