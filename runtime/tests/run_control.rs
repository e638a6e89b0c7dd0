//! Pause, resume, cancel, signals and timers on a real runtime: in process through
//! [`RunControl`], and from "another process" through the run's inbox in the store.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{register_test_kinds, wait_for};
use serde_json::json;
use troupe_runtime::events::EventKind;
use troupe_runtime::store::{MemoryStore, RequestKind, RunStatus, Store};
use troupe_runtime::workflow::durable::{post_request, signal, Definition, Durability};
use troupe_runtime::workflow::journal::read_events;
use troupe_runtime::workflow::plan::plan;
use troupe_runtime::{
    parse_workflow, Outcome, RunId, Runtime, RuntimeConfig, TaskStatus, WorkflowHandle,
};

/// go (a signal wait) -> b (echo) -> nap (a short sleep) -> c (echo)
const GATED: &str = r#"
workflow:
  name: gated
  agents:
    echo: { type: test.op, config: { mode: echo } }
  tasks:
    - { id: go, await_signal: go }
    - { id: b, agent: echo, depends_on: [go] }
    - { id: nap, sleep: 10ms, depends_on: [b] }
    - { id: c, agent: echo, depends_on: [nap] }
"#;

async fn runtime(name: &str) -> Runtime {
    let rt = Runtime::start(RuntimeConfig::named(name)).await.unwrap();
    register_test_kinds(&rt);
    rt
}

fn durability(store: &Arc<dyn Store>) -> Durability {
    let mut d = Durability::new(store.clone(), "tester");
    d.inbox_poll = Duration::from_millis(10);
    d
}

async fn submit(rt: &Runtime, store: &Arc<dyn Store>, text: &str) -> WorkflowHandle {
    let plan = Arc::new(plan(parse_workflow(text, "t").unwrap(), rt.kinds()).unwrap());
    let definition = Definition {
        text: text.to_string(),
        source: "test".into(),
    };
    rt.submit_durable(plan, definition, durability(store))
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

/// Waits until the run has `status` in the store (its driver polls the inbox).
async fn wait_for_status(store: &dyn Store, run: &RunId, status: RunStatus) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = store.get_run(run.clone()).await.unwrap().unwrap().status;
        if got == status {
            return;
        }
        assert!(Instant::now() < deadline, "run {run} never {status}: {got}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn in_process_a_paused_run_starts_nothing_until_resumed_and_a_signal_is_the_output() {
    let rt = runtime("control-inproc").await;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let mut events = rt.subscribe();
    let handle = submit(&rt, &store, GATED).await;
    let run = handle.run_id().clone();
    handle.pause().await.unwrap();
    assert_eq!(
        store.get_run(run.clone()).await.unwrap().unwrap().status,
        RunStatus::Paused
    );
    // The wait that was running completes; b is held (decided before signal() returns).
    handle.signal("go", json!({"ok": true})).await.unwrap();
    let journal = kinds(store.as_ref(), &run).await;
    let tail: Vec<&str> = journal.iter().skip(2).map(String::as_str).collect();
    assert_eq!(tail, ["paused", "signal_received", "task_completed"]);
    handle.resume().await.unwrap();
    let report = handle.wait().await.unwrap();
    assert_eq!(report.outcome, Outcome::Succeeded);
    // The control requests are events too, in order.
    wait_for(&mut events, |e| e.kind == EventKind::WorkflowPaused).await;
    let name = "go".to_string();
    wait_for(&mut events, |e| {
        e.kind == EventKind::SignalReceived { name: name.clone() }
    })
    .await;
    wait_for(&mut events, |e| e.kind == EventKind::WorkflowResumed).await;
    assert_eq!(report.tasks[0].output, Some(json!({"ok": true})));
    assert_eq!(
        report.tasks[3].output,
        Some(json!({"ok": true})),
        "passed on"
    );
    let journal = kinds(store.as_ref(), &run).await;
    assert!(journal.contains(&"timer_set".to_string()), "{journal:?}");
    assert!(journal.contains(&"timer_fired".to_string()), "{journal:?}");
    rt.shutdown().await;
}

#[tokio::test]
async fn from_outside_requests_in_the_inbox_are_applied_journaled_and_acknowledged() {
    let rt = runtime("control-inbox").await;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let handle = submit(&rt, &store, GATED).await;
    let run = handle.run_id().clone();
    let by = Some("host/42".to_string());
    post_request(store.as_ref(), &run, RequestKind::Pause, by.clone())
        .await
        .unwrap();
    wait_for_status(store.as_ref(), &run, RunStatus::Paused).await;
    let typo = signal(store.as_ref(), &run, "og", json!(7))
        .await
        .unwrap_err();
    assert_eq!(
        typo.to_string(),
        format!("run {run} has no task awaiting signal \"og\" (awaited: go)")
    );
    signal(store.as_ref(), &run, "go", json!(7)).await.unwrap();
    post_request(store.as_ref(), &run, RequestKind::Resume, by)
        .await
        .unwrap();
    let report = handle.wait().await.unwrap();
    assert_eq!(report.outcome, Outcome::Succeeded);
    assert_eq!(report.tasks[0].output, Some(json!(7)));
    assert!(store
        .pending_requests(run.clone())
        .await
        .unwrap()
        .is_empty());
    let journal = kinds(store.as_ref(), &run).await;
    for kind in ["paused", "signal_received", "resumed", "run_finished"] {
        assert!(journal.contains(&kind.to_string()), "{kind}: {journal:?}");
    }
    // A finished run takes no more requests.
    let late = post_request(store.as_ref(), &run, RequestKind::Pause, None).await;
    assert!(late.is_err());
    rt.shutdown().await;
}

#[tokio::test]
async fn a_paused_run_resumed_by_another_runtime_stays_paused_until_resumed() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let first = runtime("control-first").await;
    let handle = submit(&first, &store, GATED).await;
    let run = handle.run_id().clone();
    handle.pause().await.unwrap();
    first.shutdown().await;
    assert_eq!(
        store.get_run(run.clone()).await.unwrap().unwrap().status,
        RunStatus::Interrupted
    );

    let second = runtime("control-second").await;
    let handle = second
        .resume_durable(run.clone(), durability(&store))
        .await
        .unwrap();
    assert_eq!(
        store.get_run(run.clone()).await.unwrap().unwrap().status,
        RunStatus::Paused
    );
    handle.signal("go", json!("late")).await.unwrap();
    handle.resume().await.unwrap();
    let report = handle.wait().await.unwrap();
    assert_eq!(report.outcome, Outcome::Succeeded);
    assert_eq!(report.tasks[3].output, Some(json!("late")));
    second.shutdown().await;
}

#[tokio::test]
async fn a_signal_timeout_fails_an_optional_wait_and_the_run_goes_on() {
    let rt = runtime("control-timeout").await;
    let text = r#"
workflow:
  name: impatient
  agents:
    echo: { type: test.op, config: { mode: echo } }
  tasks:
    - { id: go, await_signal: go, timeout: 20ms, optional: true }
    - { id: b, agent: echo, depends_on: [go] }
"#;
    let spec = parse_workflow(text, "t").unwrap();
    let report = rt.run(spec).await.unwrap();
    assert_eq!(report.outcome, Outcome::Succeeded);
    assert_eq!(report.tasks[0].status, TaskStatus::Failed);
    let error = report.tasks[0].error.clone().unwrap();
    assert!(error.contains("no signal \"go\""), "{error}");
    assert_eq!(report.tasks[1].output, Some(json!(null)));
    rt.shutdown().await;
}

#[tokio::test]
async fn cancel_through_run_control_ends_a_waiting_run_cancelled() {
    let rt = runtime("control-cancel").await;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let handle = submit(&rt, &store, GATED).await;
    let run = handle.run_id().clone();
    let control = handle.control();
    control.cancel().await.unwrap();
    let report = handle.wait().await.unwrap();
    assert_eq!(report.outcome, Outcome::Cancelled);
    assert!(control.pause().await.is_err(), "the run is over");
    let journal = kinds(store.as_ref(), &run).await;
    let tail: Vec<&str> = journal.iter().rev().take(2).map(String::as_str).collect();
    assert_eq!(tail, ["run_finished", "cancelled"]);
    assert_eq!(
        store.get_run(run).await.unwrap().unwrap().status,
        RunStatus::Cancelled
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn requests_posted_while_nobody_drives_apply_in_order_before_anything_new_starts() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let first = runtime("control-undriven-1").await;
    let handle = submit(&first, &store, GATED).await;
    let run = handle.run_id().clone();
    first.shutdown().await;
    post_request(store.as_ref(), &run, RequestKind::Pause, None)
        .await
        .unwrap();
    signal(store.as_ref(), &run, "go", json!("queued"))
        .await
        .unwrap();

    let second = runtime("control-undriven-2").await;
    let handle = second
        .resume_durable(run.clone(), durability(&store))
        .await
        .unwrap();
    // Pausing a paused run changes nothing, and is handled after the inbox was applied.
    handle.pause().await.unwrap();
    let journal = kinds(store.as_ref(), &run).await;
    let at = journal.iter().position(|k| k == "paused").expect("paused");
    assert_eq!(
        journal[at..],
        ["paused", "signal_received", "task_completed"],
        "the wait completed, b did not start: {journal:?}"
    );
    assert!(store
        .pending_requests(run.clone())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.get_run(run.clone()).await.unwrap().unwrap().status,
        RunStatus::Paused
    );
    handle.resume().await.unwrap();
    let report = handle.wait().await.unwrap();
    assert_eq!(report.tasks[3].output, Some(json!("queued")));
    second.shutdown().await;
}
