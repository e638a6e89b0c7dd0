//! The engine's control paths: pause/resume, signals, timers (asserting the commands).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::policy::RetryPolicy;
use crate::workflow::plan::plan;
use crate::workflow::spec::{PoolSpec, TaskSpec, WorkflowSpec};

fn engine(tasks: Vec<TaskSpec>) -> Engine {
    let mut b = WorkflowSpec::builder("t").pool("p", PoolSpec::new("k", 1));
    for t in tasks {
        b = b.task(t);
    }
    let plan = plan(b.build(), &["k"][..]).expect("valid plan");
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

fn retry_twice() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        ..RetryPolicy::exponential_backoff()
    }
}

#[test]
fn a_paused_run_starts_nothing_new_and_resume_starts_what_was_held() {
    let mut e = engine(vec![
        TaskSpec::new("a", "p").input(json!(1)),
        TaskSpec::new("b", "p").after(["a"]),
        TaskSpec::new("c", "p").after(["a"]),
    ]);
    assert_eq!(started(&e.start()), [(0, 1)]);
    assert_eq!(e.pause(), []);
    assert!(e.is_paused());
    // The running attempt finishes; its dependents wait.
    assert_eq!(e.succeeded(0, 1, json!("A")), []);
    assert_eq!(e.status(1), TaskStatus::Pending);
    let cmds = e.resume();
    assert_eq!(started(&cmds), [(1, 1), (2, 1)]);
    assert!(!e.is_paused());
    assert_eq!(e.resume(), [], "resuming a running run does nothing");
    e.succeeded(1, 1, json!(1));
    let cmds = e.succeeded(2, 1, json!(2));
    assert_eq!(cmds, [Command::Finish(Outcome::Succeeded)]);
}

#[test]
fn a_retry_due_while_paused_starts_on_resume() {
    let mut e = engine(vec![TaskSpec::new("a", "p").retry(retry_twice())]);
    e.start();
    let cmds = e.failed(
        0,
        1,
        TaskError {
            class: "timeout".into(),
            message: "slow".into(),
            retryable: true,
        },
    );
    assert!(matches!(cmds[..], [Command::Retry { task: 0, .. }]));
    e.pause();
    assert_eq!(e.retry_due(0), [], "held");
    assert_eq!(e.status(0), TaskStatus::WaitingRetry);
    assert_eq!(started(&e.resume()), [(0, 2)]);
}

#[test]
fn cancelling_a_paused_run_skips_what_was_held() {
    let mut e = engine(vec![
        TaskSpec::new("a", "p"),
        TaskSpec::new("b", "p").after(["a"]),
    ]);
    e.start();
    e.pause();
    e.succeeded(0, 1, json!(0));
    let cmds = e.cancel();
    assert_eq!(cmds.last(), Some(&Command::Finish(Outcome::Cancelled)));
    assert_eq!(e.status(1), TaskStatus::Skipped);
    assert_eq!(e.resume(), [], "a finished run starts nothing");
}

#[test]
fn a_signal_completes_its_wait_with_the_value_as_output() {
    let mut e = engine(vec![
        TaskSpec::new("draft", "p"),
        TaskSpec::await_signal("approve", "approval")
            .after(["draft"])
            .timeout(Duration::from_secs(60)),
        TaskSpec::new("publish", "p").after(["approve"]),
    ]);
    e.start();
    let cmds = e.succeeded(0, 1, json!("text"));
    assert_eq!(
        cmds,
        [Command::AwaitSignal {
            task: 1,
            attempt: 1,
            signal: "approval".into(),
            timeout: Some(Duration::from_secs(60)),
        }]
    );
    assert_eq!(
        e.signal("other", json!(1)),
        [],
        "another signal is only kept"
    );
    let cmds = e.signal("approval", json!({"ok": true}));
    assert_eq!(
        cmds,
        [
            Command::Completed {
                task: 1,
                attempt: 1,
                output: json!({"ok": true}),
            },
            Command::Start {
                task: 2,
                attempt: 1,
                input: json!({"ok": true}),
            },
        ]
    );
    assert_eq!(e.output(1), Some(&json!({"ok": true})));
    assert_eq!(e.signal_timed_out(1, 1), [], "a stale timeout is ignored");
}

#[test]
fn a_signal_sent_before_the_wait_starts_is_kept() {
    let mut e = engine(vec![
        TaskSpec::new("draft", "p"),
        TaskSpec::await_signal("approve", "approval").after(["draft"]),
    ]);
    e.start();
    assert_eq!(e.signal("approval", json!(7)), []);
    let cmds = e.succeeded(0, 1, json!("text"));
    assert_eq!(
        cmds,
        [
            Command::AwaitSignal {
                task: 1,
                attempt: 1,
                signal: "approval".into(),
                timeout: None,
            },
            Command::Completed {
                task: 1,
                attempt: 1,
                output: json!(7),
            },
            Command::Finish(Outcome::Succeeded),
        ]
    );
}

#[test]
fn a_signal_timeout_fails_the_attempt_under_the_retry_rules() {
    let mut e = engine(vec![TaskSpec::await_signal("approve", "approval")
        .timeout(Duration::from_secs(1))
        .retry(retry_twice())]);
    e.start();
    let cmds = e.signal_timed_out(0, 1);
    let [Command::Retry {
        task: 0,
        attempt: 1,
        error,
        ..
    }] = &cmds[..]
    else {
        panic!("{cmds:?}");
    };
    assert_eq!(error.class, "timeout");
    assert!(error.message.contains("approval"), "{}", error.message);
    let cmds = e.retry_due(0);
    assert!(matches!(
        cmds[..],
        [Command::AwaitSignal { attempt: 2, .. }]
    ));
    let cmds = e.signal_timed_out(0, 2);
    assert!(
        matches!(cmds[0], Command::Failed { attempt: 2, .. }),
        "{cmds:?}"
    );
    assert!(matches!(
        cmds.last(),
        Some(Command::Finish(Outcome::Failed { .. }))
    ));
}

#[test]
fn an_optional_signal_wait_that_times_out_lets_the_run_go_on() {
    let mut e = engine(vec![
        TaskSpec::await_signal("approve", "approval")
            .timeout(Duration::from_secs(1))
            .optional(),
        TaskSpec::new("after", "p").after(["approve"]),
    ]);
    e.start();
    let cmds = e.signal_timed_out(0, 1);
    assert_eq!(started(&cmds), [(1, 1)]);
    assert!(matches!(&cmds[1], Command::Start { input, .. } if input.is_null()));
}

#[test]
fn a_sleep_completes_when_its_timer_fires_passing_its_input_on() {
    let mut e = engine(vec![
        TaskSpec::new("a", "p"),
        TaskSpec::sleep("cool_off", Duration::from_secs(600)).after(["a"]),
        TaskSpec::new("b", "p").after(["cool_off"]),
    ]);
    e.start();
    let cmds = e.succeeded(0, 1, json!("A"));
    assert_eq!(
        cmds,
        [Command::Sleep {
            task: 1,
            attempt: 1,
            duration: Duration::from_secs(600),
        }]
    );
    assert_eq!(e.timer_fired(1, 2), [], "a stale timer is ignored");
    assert_eq!(e.timer_fired(0, 1), [], "not a sleep task");
    let cmds = e.timer_fired(1, 1);
    assert_eq!(
        cmds,
        [
            Command::Completed {
                task: 1,
                attempt: 1,
                output: json!("A"),
            },
            Command::Start {
                task: 2,
                attempt: 1,
                input: json!("A"),
            },
        ]
    );
}

#[test]
fn a_sleep_due_while_paused_starts_on_resume() {
    let mut e = engine(vec![TaskSpec::sleep("nap", Duration::from_millis(5))]);
    e.pause();
    // (start() of a paused engine holds its roots too)
    assert_eq!(e.start(), []);
    let cmds = e.resume();
    assert!(matches!(
        cmds[..],
        [Command::Sleep {
            task: 0,
            attempt: 1,
            ..
        }]
    ));
}
