//! Workflows end to end on a real runtime: DAG order and inputs, parallel fan-out, retries with
//! backoff (paused time), timeouts, optional tasks, cancel, circuit breaker, crash recovery.

mod common;

use std::time::Duration;

use common::{register_test_kinds, wait_for};
use serde_json::json;
use troupe_runtime::policy::{CircuitBreakerConfig, RetryPolicy};
use troupe_runtime::{
    EventKind, Outcome, PoolSpec, Runtime, RuntimeConfig, TaskSpec, TaskStatus, WorkflowError,
    WorkflowSpec,
};

async fn runtime() -> Runtime {
    let rt = Runtime::start(RuntimeConfig::named("wf")).await.unwrap();
    register_test_kinds(&rt);
    rt
}

fn op(mode: &str, n: u64, count: usize) -> PoolSpec {
    PoolSpec::new("test.op", count).config(json!({"mode": mode, "n": n}))
}

fn no_jitter(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        jitter: 0.0,
        ..RetryPolicy::exponential_backoff().with_max_attempts(attempts)
    }
}

#[tokio::test]
async fn a_diamond_passes_outputs_along_its_edges() {
    let rt = runtime().await;
    let spec = WorkflowSpec::builder("diamond")
        .pool("adder", op("add", 0, 2))
        .pool("echo", op("echo", 0, 1))
        .task(TaskSpec::new("a", "echo").input(json!(1)))
        .task(TaskSpec::new("b", "adder").after(["a"]))
        .task(TaskSpec::new("c", "echo").after(["a"]))
        .task(TaskSpec::new("d", "echo").after(["b", "c"]))
        .build();
    let report = rt.run(spec).await.unwrap();
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(report.output("b"), Some(&json!(1.0)));
    assert_eq!(report.output("d"), Some(&json!({"b": 1.0, "c": 1})));
    assert!(report
        .tasks
        .iter()
        .all(|t| t.attempts == 1 && t.status == TaskStatus::Succeeded));
    let path: Vec<&str> = report
        .critical_path
        .tasks
        .iter()
        .map(|t| t.as_str())
        .collect();
    assert_eq!(path.first(), Some(&"a"));
    assert_eq!(path.last(), Some(&"d"));
    assert!(
        rt.agents().is_empty(),
        "the run's pool agents are gone after it"
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn a_parallel_task_fans_out_over_the_pool_and_keeps_order() {
    let rt = runtime().await;
    let items: Vec<_> = (0..50).map(|i| json!([i, 1000])).collect();
    let spec = WorkflowSpec::builder("fan")
        .pool("adders", op("add", 0, 4))
        .task(TaskSpec::new("items", "test.op").input(json!(items)))
        .task(TaskSpec::new("sum", "adders").after(["items"]).parallel())
        .build();
    // `items` names a kind, not a pool: an implicit pool of one — which needs a config. The
    // kind's decoder refuses it at validation, before any agent starts.
    let err = rt.run(spec.clone()).await.unwrap_err();
    assert!(
        matches!(&err, WorkflowError::Invalid(errs) if errs.to_string() == "pool \"test.op\": test.op config: config needs a string `mode`"),
        "{err}"
    );
    // A plan made without the kinds' decoders fails at start, with a typed error (not worded
    // as a panic).
    let unchecked = troupe_runtime::workflow::plan::plan(spec.clone(), &["test.op"][..]).unwrap();
    let err = rt
        .submit_plan(std::sync::Arc::new(unchecked))
        .await
        .unwrap_err();
    match &err {
        WorkflowError::PoolStart { pool, error, .. } => {
            assert_eq!(pool, "test.op");
            assert!(
                matches!(error, troupe_runtime::SpawnError::BadConfig(c) if c.kind == "test.op"),
                "{err}"
            );
        }
        other => panic!("expected PoolStart, got {other}"),
    }
    assert!(!err.to_string().contains("panicked"), "{err}");
    assert!(
        err.to_string().contains("config needs a string `mode`"),
        "{err}"
    );
    let mut spec = spec;
    spec.tasks[0].agent = "echo".into();
    spec.agents.insert("echo".into(), op("echo", 0, 1));
    let report = rt.run(spec).await.unwrap();
    let expected: Vec<_> = (0..50).map(|i| json!(1000.0 + i as f64)).collect();
    assert_eq!(report.output("sum"), Some(&json!(expected)));
    rt.shutdown().await;
}

#[tokio::test]
async fn a_parallel_task_rejects_a_non_array_input() {
    let rt = runtime().await;
    let spec = WorkflowSpec::builder("bad")
        .pool("echo", op("echo", 0, 1))
        .task(
            TaskSpec::new("x", "echo")
                .input(json!({"not": "a list"}))
                .parallel()
                .retry(no_jitter(3)),
        )
        .build();
    let report = rt.run(spec).await.unwrap();
    let x = report.task("x").unwrap();
    assert_eq!(
        (x.status, x.attempts),
        (TaskStatus::Failed, 1),
        "bad input is not retried"
    );
    assert!(x
        .error
        .as_deref()
        .unwrap()
        .contains("needs an array input, got an object"));
    rt.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_with_exponential_backoff() {
    let rt = runtime().await;
    let mut events = rt.subscribe();
    let spec = WorkflowSpec::builder("flaky")
        .pool("flaky", op("fail_first", 2, 1))
        .task(TaskSpec::new("x", "flaky").retry(no_jitter(3)))
        .build();
    let handle = rt.submit(spec).await.unwrap();
    let run = handle.run_id().clone();
    let report = handle.wait().await.unwrap();
    assert!(report.succeeded());
    assert_eq!(report.task("x").unwrap().attempts, 3);
    assert_eq!(report.output("x"), Some(&json!({"ok_after": 3})));
    let mut delays = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let EventKind::TaskRetried {
            next_attempt,
            delay,
        } = e.kind
        {
            assert_eq!(e.workflow.as_ref(), Some(&run));
            assert_eq!(e.task.as_ref().unwrap().as_str(), "x");
            delays.push((next_attempt, delay));
        }
    }
    assert_eq!(
        delays,
        vec![
            (2, Duration::from_millis(100)),
            (3, Duration::from_millis(200))
        ]
    );
    // The backoff really was waited (virtual time).
    assert!(report.task("x").unwrap().duration >= Duration::from_millis(300));
    rt.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_task_that_times_out_fails_and_its_dependents_are_skipped() {
    let rt = runtime().await;
    let spec = WorkflowSpec::builder("slow")
        .pool("slow", op("sleep", 60_000, 1))
        .pool("echo", op("echo", 0, 1))
        .task(TaskSpec::new("x", "slow").timeout(Duration::from_millis(50)))
        .task(TaskSpec::new("y", "echo").after(["x"]))
        .task(TaskSpec::new("z", "echo").input(json!("independent")))
        .build();
    let report = rt.run(spec).await.unwrap();
    let Outcome::Failed { cause } = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert!(
        cause.starts_with(
            "task x failed after 1 attempt(s): agent wf/slow#1/slow/0 did not reply within 50ms"
        ),
        "{cause}"
    );
    assert_eq!(report.task("y").unwrap().status, TaskStatus::Skipped);
    assert_eq!(
        report.task("y").unwrap().error.as_deref(),
        Some("dependency x failed")
    );
    assert_eq!(
        report.output("z"),
        Some(&json!("independent")),
        "independent branch ran"
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn an_optional_failure_does_not_fail_the_run() {
    let rt = runtime().await;
    let spec = WorkflowSpec::builder("opt")
        .pool("bad", op("reject", 0, 1))
        .pool("echo", op("echo", 0, 1))
        .task(TaskSpec::new("x", "bad").optional())
        .task(TaskSpec::new("y", "echo").after(["x"]))
        .build();
    let report = rt.run(spec).await.unwrap();
    assert!(report.succeeded());
    assert_eq!(report.task("x").unwrap().status, TaskStatus::Failed);
    assert_eq!(report.output("y"), Some(&json!(null)));
    rt.shutdown().await;
}

#[tokio::test]
async fn cancel_stops_a_running_workflow() {
    let rt = runtime().await;
    let mut events = rt.subscribe();
    let spec = WorkflowSpec::builder("long")
        .pool("slow", op("sleep", 600_000, 1))
        .pool("echo", op("echo", 0, 1))
        .task(TaskSpec::new("x", "slow"))
        .task(TaskSpec::new("y", "echo").after(["x"]))
        .build();
    let handle = rt.submit(spec).await.unwrap();
    wait_for(&mut events, |e| {
        matches!(e.kind, EventKind::TaskStarted { .. })
    })
    .await;
    handle.cancel();
    let report = handle.wait().await.unwrap();
    assert_eq!(report.outcome, Outcome::Cancelled);
    assert_eq!(report.task("x").unwrap().status, TaskStatus::Cancelled);
    assert_eq!(report.task("y").unwrap().status, TaskStatus::Skipped);
    wait_for(&mut events, |e| e.kind == EventKind::WorkflowCancelled).await;
    rt.shutdown().await;
}

#[tokio::test]
async fn the_circuit_breaker_fails_fast_after_consecutive_failures() {
    let rt = runtime().await;
    let mut events = rt.subscribe();
    let spec = WorkflowSpec::builder("cb")
        .pool("bad", op("reject", 0, 1))
        .circuit_breaker(CircuitBreakerConfig {
            failure_threshold: 2,
            open_for: Duration::from_secs(600),
        })
        .task(TaskSpec::new("a", "bad").optional())
        .task(TaskSpec::new("b", "bad").after(["a"]).optional())
        .task(TaskSpec::new("c", "bad").after(["b"]).optional())
        .build();
    let report = rt.run(spec).await.unwrap();
    let errors: Vec<&str> = report
        .tasks
        .iter()
        .map(|t| t.error.as_deref().unwrap())
        .collect();
    assert!(
        errors[0].contains("rejected") && errors[1].contains("rejected"),
        "{errors:?}"
    );
    assert!(
        errors[2].starts_with("circuit of pool bad is open"),
        "{errors:?}"
    );
    wait_for(&mut events, |e| {
        e.kind == EventKind::CircuitOpened { pool: "bad".into() }
    })
    .await;
    rt.shutdown().await;
}

#[tokio::test]
async fn a_crashing_agent_is_restarted_and_the_task_retried() {
    let rt = runtime().await;
    let mut events = rt.subscribe();
    let spec = WorkflowSpec::builder("crash")
        .pool("p", op("panic_first", 1, 1))
        .task(
            TaskSpec::new("x", "p")
                .input(json!("payload"))
                .retry(no_jitter(3)),
        )
        .build();
    let report = rt.run(spec).await.unwrap();
    assert!(report.succeeded(), "{:?}", report.outcome);
    assert_eq!(report.task("x").unwrap().attempts, 2);
    assert_eq!(report.output("x"), Some(&json!("payload")));
    wait_for(&mut events, |e| {
        matches!(e.kind, EventKind::AgentFailed { .. })
    })
    .await;
    rt.shutdown().await;
}

#[tokio::test]
async fn invalid_definitions_are_rejected_before_anything_runs() {
    let rt = runtime().await;
    let spec = WorkflowSpec::builder("cyclic")
        .pool("echo", op("echo", 0, 1))
        .task(TaskSpec::new("a", "echo").after(["c"]))
        .task(TaskSpec::new("b", "echo").after(["a"]))
        .task(TaskSpec::new("c", "echo").after(["b"]))
        .task(TaskSpec::new("d", "nobody"))
        .build();
    let err = rt.submit(spec).await.unwrap_err();
    let text = err.to_string();
    let cycle = text
        .lines()
        .find(|l| l.starts_with("dependency cycle: "))
        .expect(&text);
    let rotations = ["a -> c -> b -> a", "c -> b -> a -> c", "b -> a -> c -> b"];
    assert!(rotations.iter().any(|r| cycle.contains(r)), "{text}");
    assert!(text.contains("nobody"), "{text}");
    assert!(rt.agents().is_empty());
    rt.shutdown().await;
}

#[tokio::test]
async fn concurrent_runs_are_independent() {
    let rt = runtime().await;
    let mut handles = Vec::new();
    for i in 0..8 {
        let spec = WorkflowSpec::builder("many")
            .pool("adder", op("add", 0, 1))
            .task(TaskSpec::new("x", "adder").input(json!([i, i])))
            .build();
        handles.push(rt.submit(spec).await.unwrap());
    }
    for (i, h) in handles.into_iter().enumerate() {
        let report = h.wait().await.unwrap();
        assert_eq!(report.output("x"), Some(&json!(2.0 * i as f64)));
    }
    rt.shutdown().await;
}

#[tokio::test]
async fn shutting_down_the_runtime_cancels_running_workflows_with_a_report() {
    let rt = runtime().await;
    let mut events = rt.subscribe();
    let spec = WorkflowSpec::builder("interrupted")
        .pool("slow", op("sleep", 600_000, 1))
        .task(TaskSpec::new("x", "slow"))
        .build();
    let handle = rt.submit(spec).await.unwrap();
    wait_for(&mut events, |e| {
        matches!(e.kind, EventKind::TaskStarted { .. })
    })
    .await;
    rt.shutdown().await;
    let report = handle.wait().await.expect("a report, not a lost run");
    assert_eq!(report.outcome, Outcome::Cancelled);
    assert_eq!(report.task("x").unwrap().status, TaskStatus::Cancelled);
}
