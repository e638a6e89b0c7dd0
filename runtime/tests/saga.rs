//! Saga rollback, dead letters, pool resources and coordination topics on a real runtime:
//! events and reports of compensations, a run refused for insufficient resources, task outputs
//! and agent assignments published when `coordination.event_driven` lists them, and the
//! dead-letter table of a durable run; and a resumed run whose end its journal lacked.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{register_test_kinds, wait_for};
use serde_json::json;
use troupe_runtime::policy::{RetryOn, RetryPolicy};
use troupe_runtime::store::{DeadLetterFilter, MemoryStore, Store};
use troupe_runtime::workflow::coordination::{Coordination, CoordinationType, Topic};
use troupe_runtime::workflow::durable::{Definition, Durability};
use troupe_runtime::workflow::plan::plan;
use troupe_runtime::workflow::resources::{Capacity, Resources};
use troupe_runtime::workflow::saga::{Compensation, CompensationStatus, SagaPattern};
use troupe_runtime::{
    EventKind, Outcome, PoolSpec, Runtime, RuntimeConfig, TaskSpec, WorkflowError, WorkflowSpec,
};

async fn runtime(capacity: Option<Capacity>) -> Runtime {
    let mut config = RuntimeConfig::named("saga");
    if let Some(c) = capacity {
        config.capacity = c;
    }
    let rt = Runtime::start(config).await.unwrap();
    register_test_kinds(&rt);
    rt
}

fn op(mode: &str) -> PoolSpec {
    PoolSpec::new("test.op", 1).config(json!({"mode": mode, "n": 0}))
}

/// a → b → c; c is rejected, so the run fails and rolls back b, then a.
fn booking(undo_b: &str) -> WorkflowSpec {
    let retry = RetryPolicy {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(1),
        jitter: 0.0,
        retry_on: RetryOn::Any,
        ..RetryPolicy::exponential_backoff()
    };
    WorkflowSpec::builder("booking")
        .pool("echo", op("echo"))
        .pool("reject", op("reject"))
        .pool("undo", op("echo"))
        .pool("undo_b", op(undo_b))
        .task(
            TaskSpec::new("a", "echo")
                .input(json!({"id": "A1"}))
                .compensate(Compensation::new("undo").input(json!({"cancel": "$output.id"}))),
        )
        .task(
            TaskSpec::new("b", "echo")
                .after(["a"])
                .compensate(Compensation::new("undo_b").retry(retry)),
        )
        .task(TaskSpec::new("c", "reject").after(["b"]))
        .saga(SagaPattern::rollback())
        .build()
}

#[tokio::test]
async fn a_failed_run_rolls_back_and_events_and_the_report_show_each_compensation() {
    let rt = runtime(None).await;
    let mut events = rt.subscribe();
    let report = rt.run(booking("echo")).await.unwrap();
    let Outcome::Failed { cause } = &report.outcome else {
        panic!("{report:?}");
    };
    assert!(cause.contains("rolled back: 2 compensated"), "{cause}");
    let order: Vec<(&str, u32, &CompensationStatus)> = report
        .compensations
        .iter()
        .map(|c| (c.task.as_str(), c.attempts, &c.status))
        .collect();
    assert_eq!(
        order,
        [
            ("b", 1, &CompensationStatus::Compensated),
            ("a", 1, &CompensationStatus::Compensated)
        ]
    );
    // Events: each compensation started and completed, b before a, before the run failed.
    let mut seen = Vec::new();
    loop {
        let e = wait_for(&mut events, |_| true).await;
        match &e.kind {
            EventKind::CompensationStarted { attempt } => {
                seen.push(format!("start {} {attempt}", e.task.unwrap()))
            }
            EventKind::CompensationCompleted { attempt } => {
                seen.push(format!("done {} {attempt}", e.task.unwrap()))
            }
            EventKind::WorkflowFailed { .. } => break,
            _ => {}
        }
    }
    assert_eq!(seen, ["start b 1", "done b 1", "start a 1", "done a 1"]);
    rt.shutdown().await;
}

#[tokio::test]
async fn a_compensation_that_keeps_failing_is_retried_then_reported_and_the_rollback_goes_on() {
    let rt = runtime(None).await;
    let mut events = rt.subscribe();
    let report = rt.run(booking("reject")).await.unwrap();
    let b = &report.compensations[0];
    assert_eq!((b.task.as_str(), b.attempts), ("b", 2));
    assert!(matches!(b.status, CompensationStatus::Failed(_)), "{b:?}");
    assert_eq!(
        report.compensations[1].status,
        CompensationStatus::Compensated
    );
    let Outcome::Failed { cause } = &report.outcome else {
        panic!()
    };
    assert!(cause.contains("1 compensation(s) failed (b: "), "{cause}");
    let mut finals = Vec::new();
    loop {
        let e = wait_for(&mut events, |_| true).await;
        match e.kind {
            EventKind::CompensationFailed { final_attempt, .. } => finals.push(final_attempt),
            EventKind::WorkflowFailed { .. } => break,
            _ => {}
        }
    }
    assert_eq!(finals, [false, true]);
    rt.shutdown().await;
}

#[tokio::test]
async fn a_run_whose_pools_do_not_fit_the_capacity_is_refused_naming_the_pool() {
    let capacity = Capacity {
        cpu_millis: 2000,
        memory_bytes: 8_000_000_000,
    };
    let rt = runtime(Some(capacity)).await;
    let needs = |cpu_millis, memory_bytes| Resources {
        cpu_millis,
        memory_bytes,
    };
    let spec = |count| {
        WorkflowSpec::builder("big")
            .pool("small", op("echo").resources(needs(1000, 1_000_000_000)))
            .pool("wide", {
                let mut p = op("echo").resources(needs(500, 1_000_000_000));
                p.count = count;
                p
            })
            .task(TaskSpec::new("a", "small").input(json!(1)))
            .task(TaskSpec::new("b", "wide").after(["a"]))
            .build()
    };
    // 1 + 2 × 0.5 cores: exactly the capacity.
    assert!(rt.run(spec(2)).await.unwrap().succeeded());
    // 1 + 3 × 0.5 cores: refused before any agent starts.
    match rt.submit(spec(3)).await {
        Err(e @ WorkflowError::InsufficientResources { .. }) => {
            let text = e.to_string();
            assert!(
                text.starts_with("insufficient resources: pool \"wide\""),
                "{text}"
            );
            assert!(text.contains("2.5 cores"), "{text}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    rt.shutdown().await;
}

#[tokio::test]
async fn listed_topics_publish_task_outputs_and_agent_assignments() {
    let rt = runtime(None).await;
    let mut spec = WorkflowSpec::builder("topics")
        .pool("echo", op("echo"))
        .task(TaskSpec::new("a", "echo").input(json!({"x": 1})))
        .build();
    spec.coordination = Some(Coordination {
        style: CoordinationType::Hybrid,
        event_driven: vec![Topic::AgentStatus, Topic::DataUpdates],
        graph_based: vec![],
    });
    let mut events = rt.subscribe();
    assert!(rt.run(spec.clone()).await.unwrap().succeeded());
    let assigned = wait_for(&mut events, |e| {
        matches!(e.kind, EventKind::AgentsAssigned { .. })
    })
    .await;
    let EventKind::AgentsAssigned { pool, agents } = &assigned.kind else {
        unreachable!()
    };
    assert_eq!((pool.as_str(), agents.len()), ("echo", 1));
    assert_eq!(assigned.topic(), Topic::AgentStatus);
    let output = wait_for(&mut events, |e| {
        matches!(e.kind, EventKind::TaskOutput { .. })
    })
    .await;
    assert_eq!(output.topic(), Topic::DataUpdates);
    assert!(
        matches!(&output.kind, EventKind::TaskOutput { output, .. } if *output == json!({"x": 1}))
    );
    // Not listed: not published.
    spec.coordination = None;
    let mut events = rt.subscribe();
    assert!(rt.run(spec).await.unwrap().succeeded());
    let mut opt_in = 0;
    loop {
        let e = wait_for(&mut events, |_| true).await;
        if matches!(
            e.kind,
            EventKind::TaskOutput { .. } | EventKind::AgentsAssigned { .. }
        ) {
            opt_in += 1;
        }
        if matches!(e.kind, EventKind::WorkflowCompleted { .. }) {
            break;
        }
    }
    assert_eq!(opt_in, 0);
    rt.shutdown().await;
}

#[tokio::test]
async fn a_durable_task_that_fails_for_good_is_kept_as_a_dead_letter() {
    let rt = runtime(None).await;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let spec = booking("echo");
    let plan = Arc::new(plan(spec, rt.kinds()).unwrap());
    let mut events = rt.subscribe();
    let definition = Definition {
        text: String::new(),
        source: "code".into(),
    };
    let handle = rt
        .submit_durable(plan, definition, Durability::new(store.clone(), "test"))
        .await
        .unwrap();
    let run = handle.run_id().clone();
    let report = handle.wait().await.unwrap();
    assert!(!report.succeeded());
    let lettered = wait_for(&mut events, |e| {
        matches!(e.kind, EventKind::DeadLettered { .. })
    })
    .await;
    assert_eq!(lettered.task.as_ref().map(|t| t.as_str()), Some("c"));
    let letters = store
        .list_dead_letters(DeadLetterFilter::default())
        .await
        .unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let l = &letters[0].letter;
    assert_eq!(l.run.as_ref(), Some(&run));
    assert_eq!(l.task.as_ref().map(|t| t.as_str()), Some("c"));
    assert_eq!(l.input, json!({"id": "A1"}), "c's input: b's output");
    assert_eq!(l.attempts, 1);
    assert!(l.errors[0].contains("rejected"), "{:?}", l.errors);
    let EventKind::DeadLettered { id, .. } = lettered.kind else {
        unreachable!()
    };
    assert_eq!(id, letters[0].id);
    // The journal has the rollback.
    let history = troupe_runtime::workflow::journal::read_events(store.as_ref(), &run, 1)
        .await
        .unwrap();
    let kinds: Vec<&str> = history.events.iter().map(|(_, e)| e.kind()).collect();
    let comp: Vec<&&str> = kinds
        .iter()
        .filter(|k| k.starts_with("compensation"))
        .collect();
    assert_eq!(comp.len(), 4, "two started, two finished: {kinds:?}");
    assert_eq!(kinds.last(), Some(&"run_finished"));
    rt.shutdown().await;
}

#[tokio::test]
async fn a_one_way_message_that_cannot_be_delivered_is_kept_as_a_dead_letter() {
    let rt = runtime(None).await;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    rt.set_dead_letter_store(store.clone());
    let agent = rt
        .spawn_kind("test.op", "teller", json!({"mode": "echo"}))
        .await
        .unwrap();
    agent.tell_value(json!("delivered")).unwrap();
    assert!(rt.stop_agent("teller").await);
    let mut events = rt.subscribe();
    assert!(agent.tell_value(json!({"late": true})).is_err());
    let kept = wait_for(&mut events, |e| {
        matches!(e.kind, EventKind::DeadLettered { .. })
    })
    .await;
    assert_eq!(kept.agent.as_ref().map(|a| a.as_str()), Some("teller"));
    let letters = store
        .list_dead_letters(DeadLetterFilter::default())
        .await
        .unwrap();
    assert_eq!(letters.len(), 1, "only the undelivered one: {letters:?}");
    let l = &letters[0].letter;
    assert_eq!(
        (l.run.as_ref(), l.task.as_ref().map(|t| t.as_str())),
        (None, Some("teller"))
    );
    assert_eq!(l.input, json!({"late": true}));
    assert!(l.errors[0].starts_with("agent_stopped"), "{:?}", l.errors);
    rt.shutdown().await;
}

/// A typed agent for the typed-tell test: adds what it is told.
struct Adder;

impl troupe_runtime::Agent for Adder {
    type Request = u64;
    type Reply = u64;
    type State = u64;

    async fn init(
        &self,
        _ctx: &troupe_runtime::AgentContext,
        _restored: Option<troupe_runtime::Snapshot>,
    ) -> Result<u64, troupe_runtime::AgentError> {
        Ok(0)
    }

    async fn handle(
        &self,
        _ctx: &troupe_runtime::AgentContext,
        total: &mut u64,
        add: u64,
    ) -> Result<u64, troupe_runtime::AgentError> {
        *total += add;
        Ok(*total)
    }
}

#[tokio::test]
async fn a_typed_tell_that_cannot_be_delivered_is_kept_as_a_dead_letter_naming_its_type() {
    let rt = runtime(None).await;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    rt.set_dead_letter_store(store.clone());
    let adder = rt.spawn("adder", Adder).await.unwrap();
    adder.tell(2).unwrap();
    assert_eq!(adder.ask(3).await.unwrap(), 5, "the delivered tell counted");
    assert!(rt.stop_agent("adder").await);
    let mut events = rt.subscribe();
    let refused = adder.tell(7).expect_err("the agent is stopped");
    assert_eq!(refused.class(), "agent_stopped");
    let kept = wait_for(&mut events, |e| {
        matches!(e.kind, EventKind::DeadLettered { .. })
    })
    .await;
    assert_eq!(kept.agent.as_ref().map(|a| a.as_str()), Some("adder"));
    let letters = store
        .list_dead_letters(DeadLetterFilter::default())
        .await
        .unwrap();
    assert_eq!(letters.len(), 1, "only the undelivered one: {letters:?}");
    let l = &letters[0].letter;
    assert_eq!(l.task.as_ref().map(|t| t.as_str()), Some("adder"));
    assert_eq!(
        l.input,
        json!({"undelivered": "typed request", "kind": adder.kind(), "request_type": "u64"})
    );
    assert!(l.errors[0].starts_with("agent_stopped"), "{:?}", l.errors);
    rt.shutdown().await;
}

#[tokio::test]
async fn a_resumed_run_whose_end_was_not_journaled_records_it() {
    use troupe_runtime::store::{NewRun, RunStatus, Timestamp};
    use troupe_runtime::workflow::journal::{append_events, JournalEvent};
    const ONE: &str = "workflow:\n  name: one\n  agents:\n    echo: { type: test.op, config: { mode: echo } }\n  tasks:\n    - { id: a, agent: echo, input: 1 }\n";
    let rt = runtime(None).await;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let run = troupe_runtime::RunId::new("one-ended");
    let now = Timestamp::now();
    store
        .create_run(NewRun::new(run.clone(), "one", now).definition(ONE, "v1"))
        .await
        .unwrap();
    let done = JournalEvent::TaskCompleted {
        task: troupe_runtime::TaskId::new("a"),
        attempt: 1,
        output: json!(1),
    };
    append_events(store.as_ref(), &run, None, now, &[done])
        .await
        .unwrap();
    store
        .set_run_status(run.clone(), RunStatus::Interrupted, now)
        .await
        .unwrap();
    let handle = rt
        .resume_durable(run.clone(), Durability::new(store.clone(), "t"))
        .await
        .unwrap();
    assert!(handle.wait().await.unwrap().succeeded());
    let record = store.get_run(run.clone()).await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Completed);
    assert_eq!(
        store.get_lease(run.clone()).await.unwrap(),
        None,
        "released"
    );
    let history = troupe_runtime::workflow::journal::read_events(store.as_ref(), &run, 1)
        .await
        .unwrap();
    assert_eq!(
        history.events.last().map(|(_, e)| e.kind()),
        Some("run_finished")
    );
    rt.shutdown().await;
}
