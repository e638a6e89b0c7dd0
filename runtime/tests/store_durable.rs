//! Durable runs on a real runtime and the in-memory store: what is journaled, resume from a
//! journal (completed tasks kept, in-flight ones rerun as the same attempt), one driver per
//! run.

mod common;

use std::sync::Arc;

use common::register_test_kinds;
use serde_json::json;
use troupe_runtime::store::{MemoryStore, NewRun, RunStatus, Store, StoreError, Timestamp};
use troupe_runtime::workflow::durable::{Definition, Durability, DurableError};
use troupe_runtime::workflow::journal::{append_events, read_events, JournalEvent};
use troupe_runtime::workflow::plan::plan;
use troupe_runtime::{
    parse_workflow, Agent, AgentContext, AgentError, RunId, Runtime, RuntimeConfig, Snapshot,
    TaskId, WorkflowHandle,
};

const CHAIN: &str = r#"
workflow:
  name: chain
  agents:
    echo: { type: test.op, config: { mode: echo } }
    slow: { type: test.op, config: { mode: sleep, n: 600000 } }
    key: { type: test.key }
  tasks:
    - { id: a, agent: echo, input: 1 }
    - { id: b, agent: key, depends_on: [a] }
    - { id: c, agent: echo, depends_on: [b] }
"#;

const SLOW: &str = r#"
workflow:
  name: slow
  agents:
    slow: { type: test.op, config: { mode: sleep, n: 600000 } }
  tasks:
    - { id: a, agent: slow, input: 1 }
"#;

/// Replies with the idempotency key of the call it handles.
struct KeyAgent;

impl Agent for KeyAgent {
    type Request = serde_json::Value;
    type Reply = serde_json::Value;
    type State = ();

    async fn init(&self, _ctx: &AgentContext, _r: Option<Snapshot>) -> Result<(), AgentError> {
        Ok(())
    }

    async fn handle(
        &self,
        ctx: &AgentContext,
        _state: &mut (),
        _input: serde_json::Value,
    ) -> Result<serde_json::Value, AgentError> {
        Ok(json!(ctx.idempotency_key()))
    }
}

async fn runtime() -> Runtime {
    let rt = Runtime::start(RuntimeConfig::named("durable"))
        .await
        .unwrap();
    register_test_kinds(&rt);
    rt.kinds().register(
        "test.key",
        "replies with its call's idempotency key",
        |_: &serde_json::Value| Ok(KeyAgent),
    );
    rt
}

fn store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

fn definition(text: &str) -> Definition {
    Definition {
        text: text.to_string(),
        source: "test".into(),
    }
}

/// Submits workflow `text` (named `name`) as a durable run driven by `owner`.
async fn submit(
    rt: &Runtime,
    store: &Arc<dyn Store>,
    text: &str,
    name: &str,
    owner: &str,
) -> WorkflowHandle {
    let plan = Arc::new(plan(parse_workflow(text, name).unwrap(), rt.kinds()).unwrap());
    rt.submit_durable(
        plan,
        definition(text),
        Durability::new(store.clone(), owner),
    )
    .await
    .unwrap()
}

async fn kinds(store: &dyn Store, run: &RunId) -> Vec<String> {
    let history = read_events(store, run, 1).await.unwrap();
    history
        .events
        .iter()
        .map(|(_, e)| e.kind().to_string())
        .collect()
}

#[tokio::test]
async fn a_durable_run_journals_its_facts_in_order_and_ends_completed() {
    let rt = runtime().await;
    let store = store();
    let handle = submit(&rt, &store, CHAIN, "chain", "me").await;
    let run = handle.run_id().clone();
    let report = handle.wait().await.unwrap();
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(
        kinds(store.as_ref(), &run).await,
        [
            "submitted",
            "attempt_started",
            "task_completed",
            "attempt_started",
            "task_completed",
            "attempt_started",
            "task_completed",
            "run_finished"
        ]
    );
    let history = read_events(store.as_ref(), &run, 1).await.unwrap();
    match &history.events[0].1 {
        JournalEvent::Submitted {
            workflow,
            definition,
            definition_version,
            ..
        } => {
            assert_eq!(workflow, "chain");
            assert_eq!(definition, CHAIN);
            assert!(
                definition_version.starts_with("fnv1a:"),
                "{definition_version}"
            );
        }
        other => panic!("first event is {other:?}"),
    }
    match &history.events[1].1 {
        JournalEvent::AttemptStarted {
            idempotency_key, ..
        } => assert_eq!(idempotency_key, &format!("{run}/a/1")),
        other => panic!("second event is {other:?}"),
    }
    let record = store.get_run(run.clone()).await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Completed);
    assert_eq!(record.owner.as_deref(), Some("me"));
    assert!(
        store.get_lease(run).await.unwrap().is_none(),
        "lease released"
    );
    rt.shutdown().await;
}

/// A run whose driver died after `a` completed and `b` started.
async fn interrupted_chain(store: &dyn Store) -> RunId {
    let run = RunId::new("chain-interrupted");
    let now = Timestamp::now();
    store
        .create_run(
            NewRun::new(run.clone(), "chain", now)
                .definition(CHAIN, "v1")
                .options(json!({"seed": 7})),
        )
        .await
        .unwrap();
    let events = [
        JournalEvent::AttemptStarted {
            task: TaskId::new("a"),
            attempt: 1,
            item: None,
            idempotency_key: "chain-interrupted/a/1".into(),
        },
        JournalEvent::TaskCompleted {
            task: TaskId::new("a"),
            attempt: 1,
            output: json!("from the journal"),
        },
        JournalEvent::AttemptStarted {
            task: TaskId::new("b"),
            attempt: 1,
            item: None,
            idempotency_key: "chain-interrupted/b/1".into(),
        },
    ];
    append_events(store, &run, None, now, &events)
        .await
        .unwrap();
    store
        .set_run_status(run.clone(), RunStatus::Running, now)
        .await
        .unwrap();
    run
}

#[tokio::test]
async fn resume_keeps_completed_tasks_and_reruns_the_in_flight_attempt() {
    let rt = runtime().await;
    let store = store();
    let run = interrupted_chain(store.as_ref()).await;
    let handle = rt
        .resume_durable(run.clone(), Durability::new(store.clone(), "me"))
        .await
        .unwrap();
    let report = handle.wait().await.unwrap();
    assert!(report.succeeded(), "{report:?}");
    // a did not run again (it would echo 1).
    assert_eq!(report.output("a"), Some(&json!("from the journal")));
    // b, in flight at the crash, ran again as attempt 1: its agent saw the same key.
    assert_eq!(report.output("b"), Some(&json!("chain-interrupted/b/1")));
    assert_eq!(report.output("c"), Some(&json!("chain-interrupted/b/1")));
    let history = read_events(store.as_ref(), &run, 4).await.unwrap();
    let after: Vec<&JournalEvent> = history.events.iter().map(|(_, e)| e).collect();
    assert!(
        matches!(after[0], JournalEvent::TaskCompleted { task, attempt: 1, .. } if task.as_str() == "b"),
        "b completes as its attempt 1 (same idempotency key): {after:?}"
    );
    assert!(matches!(
        after.last(),
        Some(JournalEvent::RunFinished { .. })
    ));
    assert_eq!(
        store.get_run(run.clone()).await.unwrap().unwrap().status,
        RunStatus::Completed
    );
    let again = rt
        .resume_durable(run, Durability::new(store.clone(), "me"))
        .await
        .expect_err("a finished run does not resume");
    assert!(
        matches!(
            again,
            DurableError::Finished {
                status: RunStatus::Completed,
                ..
            }
        ),
        "{again}"
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn a_second_driver_is_refused_naming_the_holder() {
    let rt = runtime().await;
    let store = store();
    let handle = submit(&rt, &store, SLOW, "slow", "first").await;
    let run = handle.run_id().clone();
    let err = rt
        .resume_durable(run.clone(), Durability::new(store.clone(), "second"))
        .await
        .expect_err("the run is driven by `first`");
    match &err {
        DurableError::Store(StoreError::LeaseHeld { holder, .. }) => assert_eq!(holder, "first"),
        other => panic!("expected LeaseHeld, got {other}"),
    }
    assert!(err.to_string().contains("first"), "{err}");
    handle.cancel();
    let report = handle.wait().await.unwrap();
    assert!(!report.succeeded());
    assert_eq!(
        store.get_run(run).await.unwrap().unwrap().status,
        RunStatus::Cancelled
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn a_runtime_shutting_down_leaves_its_durable_runs_interrupted_and_resumable() {
    let rt = runtime().await;
    let store = store();
    let handle = submit(&rt, &store, SLOW, "slow", "first").await;
    let run = handle.run_id().clone();
    rt.shutdown().await;
    let _ = handle.wait().await;
    let record = store.get_run(run.clone()).await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Interrupted);
    assert!(store.get_lease(run.clone()).await.unwrap().is_none());
    assert!(!kinds(store.as_ref(), &run)
        .await
        .contains(&"run_finished".to_string()));
}

const FLAKY: &str = r#"
workflow:
  name: flaky
  agents:
    flaky: { type: test.op, config: { mode: fail_first, n: 1 } }
  tasks:
    - { id: a, agent: flaky, retry_policy: { max_attempts: 3, initial_backoff: 10ms } }
"#;

#[tokio::test]
async fn a_failed_attempt_is_journaled_with_its_retry_time_then_the_next_attempt() {
    let rt = runtime().await;
    let store = store();
    let handle = submit(&rt, &store, FLAKY, "flaky", "me").await;
    let run = handle.run_id().clone();
    let report = handle.wait().await.unwrap();
    assert!(report.succeeded(), "{report:?}");
    let history = read_events(store.as_ref(), &run, 1).await.unwrap();
    let events: Vec<&JournalEvent> = history.events.iter().map(|(_, e)| e).collect();
    assert_eq!(events.len(), 6, "{events:?}");
    match (events[1], events[2], events[3], events[4]) {
        (
            JournalEvent::AttemptStarted { attempt: 1, .. },
            JournalEvent::TaskFailed {
                attempt: 1,
                error,
                retry_at: Some(at),
                ..
            },
            JournalEvent::AttemptStarted {
                attempt: 2,
                idempotency_key,
                ..
            },
            JournalEvent::TaskCompleted { attempt: 2, .. },
        ) => {
            assert!(error.retryable, "{error:?}");
            assert!(error.messages[0].contains("flaky call 1"), "{error:?}");
            assert!(at.as_millis() > 0);
            assert_eq!(idempotency_key, &format!("{run}/a/2"));
        }
        _ => panic!("unexpected journal: {events:?}"),
    }
    rt.shutdown().await;
}
