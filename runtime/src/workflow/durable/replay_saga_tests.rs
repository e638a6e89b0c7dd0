//! Replaying a journal that ends in the middle of a saga rollback.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::ids::TaskId;
use crate::policy::{RetryOn, RetryPolicy};
use crate::workflow::plan::plan;
use crate::workflow::saga::{Compensation, SagaPattern};
use crate::workflow::spec::{PoolSpec, TaskSpec, WorkflowSpec};

/// a -> b -> c; a and b compensate (b's with two attempts); c fails for good.
fn saga() -> Arc<Plan> {
    let retry = RetryPolicy {
        max_attempts: 2,
        jitter: 0.0,
        retry_on: RetryOn::Any,
        ..RetryPolicy::exponential_backoff()
    };
    let spec = WorkflowSpec::builder("s")
        .pool("p", PoolSpec::new("k", 1))
        .task(
            TaskSpec::new("a", "p")
                .input(json!(1))
                .compensate(Compensation::new("p")),
        )
        .task(
            TaskSpec::new("b", "p")
                .after(["a"])
                .compensate(Compensation::new("p").retry(retry)),
        )
        .task(TaskSpec::new("c", "p").after(["b"]))
        .saga(SagaPattern::rollback())
        .build();
    Arc::new(plan(spec, &["k"][..]).expect("valid plan"))
}

fn chain(message: &str) -> ErrorChain {
    ErrorChain {
        class: "permanent".into(),
        retryable: false,
        messages: vec![message.into()],
    }
}

/// The journal up to c's final failure (which started b's compensation).
fn until_rollback() -> Vec<JournalEvent> {
    let t = TaskId::new;
    vec![
        JournalEvent::TaskCompleted {
            task: t("a"),
            attempt: 1,
            output: json!("A"),
        },
        JournalEvent::TaskCompleted {
            task: t("b"),
            attempt: 1,
            output: json!("B"),
        },
        JournalEvent::TaskFailed {
            task: t("c"),
            attempt: 1,
            error: chain("no"),
            retry_at: None,
        },
        JournalEvent::CompensationStarted {
            task: t("b"),
            attempt: 1,
        },
    ]
}

#[test]
fn a_compensation_in_flight_starts_again_as_the_same_attempt() {
    let r = replay(saga(), 1, &until_rollback(), Timestamp::from_millis(0));
    assert_eq!(r.finished, None);
    assert_eq!(
        r.commands,
        vec![Command::Compensate {
            task: 1,
            attempt: 1,
            input: json!("B")
        }]
    );
}

#[test]
fn finished_compensations_are_not_run_again_and_a_waiting_retry_keeps_its_time_left() {
    let mut events = until_rollback();
    events.push(JournalEvent::CompensationFinished {
        task: TaskId::new("b"),
        error: Some(chain("refund failed")),
        attempt: 1,
        retry_at: Some(Timestamp::from_millis(5_000)),
    });
    let r = replay(saga(), 1, &events, Timestamp::from_millis(3_000));
    assert!(
        matches!(&r.commands[..], [Command::CompensationRetry { task: 1, attempt: 1, delay, error }] if *delay == Duration::from_secs(2) && error.message == "refund failed"),
        "{:?}",
        r.commands
    );
    // The retry ran and succeeded; a's compensation was in flight.
    events.push(JournalEvent::CompensationStarted {
        task: TaskId::new("b"),
        attempt: 2,
    });
    events.push(JournalEvent::CompensationFinished {
        task: TaskId::new("b"),
        error: None,
        attempt: 2,
        retry_at: None,
    });
    events.push(JournalEvent::CompensationStarted {
        task: TaskId::new("a"),
        attempt: 1,
    });
    let r = replay(saga(), 1, &events, Timestamp::from_millis(9_000));
    assert_eq!(
        r.commands,
        vec![Command::Compensate {
            task: 0,
            attempt: 1,
            input: json!("A")
        }]
    );
    // Everything compensated but the end not journaled: the run finishes, nothing runs.
    events.push(JournalEvent::CompensationFinished {
        task: TaskId::new("a"),
        error: None,
        attempt: 1,
        retry_at: None,
    });
    let r = replay(saga(), 1, &events, Timestamp::from_millis(9_000));
    assert!(
        matches!(&r.commands[..], [Command::Finish(Outcome::Failed { cause })] if cause.contains("rolled back: 2 compensated")),
        "{:?}",
        r.commands
    );
}
