//! Waiting tasks in files: `await_signal` and `sleep`, and their errors with line and column.

use std::time::Duration;

use super::*;
use crate::workflow::plan::{plan, PlanError};
use crate::workflow::spec::TaskWait;

fn file(tasks: &str) -> String {
    format!("workflow:\n  name: w\n  agents:\n    p: {{ type: k }}\n  tasks:\n    - {{ id: draft, agent: p }}\n{tasks}")
}

fn invalid(text: &str) -> FileError {
    match parse_workflow(text, "wf.yaml") {
        Ok(spec) => panic!("expected an error, got {spec:?}"),
        Err(e) => e,
    }
}

#[test]
fn await_signal_and_sleep_read_into_waits_without_an_agent() {
    let text = file(
        "    - { id: approve, await_signal: approval, depends_on: [draft], timeout: 24h }\n    - { id: cool_off, sleep: 10m, depends_on: [approve] }\n",
    );
    let spec = parse_workflow(&text, "wf.yaml").expect("valid");
    let approve = &spec.tasks[1];
    assert_eq!(approve.wait, Some(TaskWait::Signal("approval".into())));
    assert_eq!(approve.agent, "");
    assert_eq!(approve.timeout, Some(Duration::from_secs(24 * 3600)));
    let cool_off = &spec.tasks[2];
    assert_eq!(
        cool_off.wait,
        Some(TaskWait::Sleep(Duration::from_secs(600)))
    );
    assert_eq!(spec.tasks[0].wait, None);
    let plan = plan(spec, &["k"][..]).expect("plans without a pool for the waits");
    assert_eq!(plan.len(), 3);
}

#[test]
fn await_signal_with_an_agent_is_an_error_at_the_agent() {
    let e = invalid(&file(
        "    - { id: approve, await_signal: approval, agent: p }\n",
    ));
    let line = "    - { id: approve, await_signal: approval, agent: p }";
    let column = line.find("agent:").unwrap() as u64 + 1;
    assert_eq!((e.line(), e.column()), (7, column), "{e}");
    assert!(
        e.message().contains("task \"approve\"") && e.message().contains("remove \"agent\""),
        "{e}"
    );
}

#[test]
fn bad_waits_are_errors_naming_task_field_line_and_column() {
    // (the task line, the text the error points at, what it says)
    let cases = [
        (
            "    - { id: a, await_signal: s, timeout: soon }\n",
            "soon",
            "field \"timeout\"",
        ),
        (
            "    - { id: a, await_signal: s, timeout: 0 }\n",
            "0 }",
            "must be above zero",
        ),
        ("    - { id: a, sleep: 0s }\n", "0s", "must be above zero"),
        ("    - { id: a, sleep: [1] }\n", "[1]", "field \"sleep\""),
        (
            "    - { id: a, sleep: 1s, timeout: 5s }\n",
            "timeout",
            "a sleep has no timeout",
        ),
        (
            "    - { id: a, await_signal: s, sleep: 1s }\n",
            "sleep",
            "not both",
        ),
        (
            "    - { id: a, await_signal: \"\" }\n",
            "\"\"",
            "must not be empty",
        ),
        (
            "    - { id: a, sleep: 1s, parallel: true }\n",
            "parallel",
            "cannot be parallel",
        ),
    ];
    for (task, at, says) in cases {
        let e = invalid(&file(task));
        let column = task.find(at).expect("the token is in the line") as u64 + 1;
        assert_eq!((e.line(), e.column()), (7, column), "{task}: {e}");
        assert!(e.message().contains(says), "{task}: {e}");
    }
}

#[test]
fn the_builder_refuses_a_wait_with_an_agent_or_parallel() {
    use crate::workflow::spec::{PoolSpec, TaskSpec, WorkflowSpec};
    let mut with_agent = TaskSpec::await_signal("a", "s");
    with_agent.agent = "p".into();
    let spec = WorkflowSpec::builder("w")
        .pool("p", PoolSpec::new("k", 1))
        .task(with_agent)
        .task(TaskSpec::sleep("b", Duration::from_secs(1)).parallel())
        .task(TaskSpec::sleep("c", Duration::ZERO))
        .build();
    let errors = plan(spec, &["k"][..]).expect_err("invalid").0;
    let reasons: Vec<String> = errors
        .iter()
        .map(|e| match e {
            PlanError::BadWait { task, reason, .. } => format!("{task}: {reason}"),
            other => panic!("unexpected {other}"),
        })
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons[0].starts_with("a: ") && reasons[0].contains("agent"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("parallel"), "{reasons:?}");
    assert!(reasons[2].contains("longer than zero"), "{reasons:?}");
}
