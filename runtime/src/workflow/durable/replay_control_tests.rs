//! Replay of the control events: pause, resume, signals, timers.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::ids::TaskId;
use crate::workflow::plan::plan;
use crate::workflow::spec::{PoolSpec, TaskSpec, WorkflowSpec};

const NOW: Timestamp = Timestamp::from_millis(10_000);

/// draft -> approve (signal "approval", 60 s timeout) -> nap (sleep 10 s) -> publish
fn approval() -> Arc<Plan> {
    let spec = WorkflowSpec::builder("t")
        .pool("p", PoolSpec::new("k", 1))
        .task(TaskSpec::new("draft", "p"))
        .task(
            TaskSpec::await_signal("approve", "approval")
                .after(["draft"])
                .timeout(Duration::from_secs(60)),
        )
        .task(TaskSpec::sleep("nap", Duration::from_secs(10)).after(["approve"]))
        .task(TaskSpec::new("publish", "p").after(["nap"]))
        .build();
    Arc::new(plan(spec, &["k"][..]).expect("valid plan"))
}

fn completed(task: &str, attempt: u32, output: serde_json::Value) -> JournalEvent {
    JournalEvent::TaskCompleted {
        task: TaskId::new(task),
        attempt,
        output,
    }
}

fn timer_set(name: &str, at: u64) -> JournalEvent {
    JournalEvent::TimerSet {
        timer: name.into(),
        fires_at: Timestamp::from_millis(at),
    }
}

fn signal(value: serde_json::Value) -> JournalEvent {
    JournalEvent::SignalReceived {
        name: "approval".into(),
        value,
    }
}

#[test]
fn a_run_paused_before_the_crash_is_still_paused_and_holds_its_next_tasks() {
    let events = [
        JournalEvent::Paused { by: None },
        completed("draft", 1, json!("d")),
    ];
    let r = replay(approval(), 1, &events, NOW);
    assert!(r.engine.is_paused());
    assert_eq!(r.commands, [], "the wait does not start while paused");
    let mut engine = r.engine;
    let cmds = engine.resume();
    assert!(matches!(
        cmds[..],
        [Command::AwaitSignal {
            task: 1,
            attempt: 1,
            ..
        }]
    ));
}

#[test]
fn pause_then_resume_replays_to_a_running_run() {
    let events = [
        JournalEvent::Paused { by: None },
        JournalEvent::Resumed { by: None },
        completed("draft", 1, json!("d")),
    ];
    let r = replay(approval(), 1, &events, NOW);
    assert!(!r.engine.is_paused());
    assert!(matches!(
        r.commands[..],
        [Command::AwaitSignal { task: 1, .. }]
    ));
}

#[test]
fn a_signal_wait_waits_again_for_what_its_timeout_has_left() {
    let events = [
        completed("draft", 1, json!("d")),
        timer_set("signal_timeout/approve/1", 55_000),
    ];
    let r = replay(approval(), 1, &events, NOW);
    assert_eq!(
        r.commands,
        [Command::AwaitSignal {
            task: 1,
            attempt: 1,
            signal: "approval".into(),
            timeout: Some(Duration::from_secs(45)),
        }]
    );
}

#[test]
fn a_signal_received_before_the_crash_is_the_waits_output() {
    // Sent before the wait started, then the wait and the sleep started.
    let events = [
        signal(json!({"ok": true})),
        completed("draft", 1, json!("d")),
        completed("approve", 1, json!({"ok": true})),
        timer_set("sleep/nap/1", 14_000),
    ];
    let r = replay(approval(), 1, &events, NOW);
    assert_eq!(r.engine.output(1), Some(&json!({"ok": true})));
    assert_eq!(
        r.commands,
        [Command::Sleep {
            task: 2,
            attempt: 1,
            duration: Duration::from_secs(4),
        }],
        "the sleep fires at its journaled due time"
    );
}

#[test]
fn an_overdue_sleep_fires_at_once_and_a_fired_one_is_complete() {
    let base = [
        completed("draft", 1, json!("d")),
        signal(json!(1)),
        timer_set("sleep/nap/1", 4_000),
    ];
    let r = replay(approval(), 1, &base, NOW);
    assert_eq!(
        r.commands,
        [Command::Sleep {
            task: 2,
            attempt: 1,
            duration: Duration::ZERO,
        }]
    );
    let mut fired = base.to_vec();
    fired.push(JournalEvent::TimerFired {
        timer: "sleep/nap/1".into(),
    });
    let r = replay(approval(), 1, &fired, NOW);
    assert_eq!(
        r.engine.output(2),
        Some(&json!(1)),
        "a sleep passes its input on"
    );
    assert!(matches!(r.commands[..], [Command::Start { task: 3, .. }]));
}

#[test]
fn a_journaled_cancel_without_its_finish_finishes_cancelled() {
    let events = [JournalEvent::Cancelled {
        by: Some("me".into()),
        reason: None,
    }];
    let r = replay(approval(), 1, &events, NOW);
    assert_eq!(
        r.commands,
        [Command::Finish(crate::workflow::engine::Outcome::Cancelled)]
    );
}
