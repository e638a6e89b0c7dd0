//! A run's journal on SQLite: the cap (a run that reaches it fails with a typed error naming
//! the run, the cap and the size, and that end is journaled) and compaction (a run compacted
//! mid-way, stopped, and resumed by another runtime ends right, and its completed tasks do not
//! run again).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::Notify;
use troupe_runtime::store::testing::TempDir;
use troupe_runtime::store::{RunStatus, SqliteOptions, SqliteStore, Store};
use troupe_runtime::workflow::durable::{compact_run, Definition, Durability, JournalLimits};
use troupe_runtime::workflow::journal::{read_events, FinalStatus, JournalEvent};
use troupe_runtime::workflow::plan::plan;
use troupe_runtime::{
    parse_workflow, Agent, AgentContext, AgentError, RunId, Runtime, RuntimeConfig, Snapshot,
};

/// Counts its calls per task (the side-effect log) and, while `block` is set, never answers.
#[derive(Clone, Default)]
struct Effects {
    calls: Arc<Mutex<HashMap<String, u32>>>,
    block: Arc<Mutex<Option<String>>>,
    blocked: Arc<Notify>,
}

struct Step(Effects);

impl Agent for Step {
    type Request = Value;
    type Reply = Value;
    type State = ();

    async fn init(&self, _: &AgentContext, _: Option<Snapshot>) -> Result<(), AgentError> {
        Ok(())
    }

    async fn handle(
        &self,
        ctx: &AgentContext,
        _: &mut (),
        input: Value,
    ) -> Result<Value, AgentError> {
        let key = ctx.idempotency_key().unwrap_or("?").to_string();
        let task = key.split('/').nth(1).unwrap_or("?").to_string();
        *self.0.calls.lock().entry(task.clone()).or_default() += 1;
        if self.0.block.lock().as_deref() == Some(task.as_str()) {
            self.0.blocked.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(json!({ "task": task, "input": input, "pad": "x".repeat(200) }))
    }
}

const CHAIN: &str = r#"
workflow:
  name: chain
  agents:
    step: { type: test.step }
  tasks:
    - { id: a, agent: step, input: 1 }
    - { id: b, agent: step, depends_on: [a] }
    - { id: c, agent: step, depends_on: [b] }
    - { id: d, agent: step, depends_on: [c] }
"#;

async fn runtime(effects: &Effects) -> Runtime {
    let rt = Runtime::start(RuntimeConfig::named("limits"))
        .await
        .unwrap();
    let effects = effects.clone();
    rt.kinds()
        .register("test.step", "counts its calls", move |_: &Value| {
            Ok(Step(effects.clone()))
        });
    rt
}

async fn sqlite(dir: &TempDir) -> Arc<dyn Store> {
    Arc::new(
        SqliteStore::open(dir.path().join("store.db"), SqliteOptions::default())
            .await
            .unwrap(),
    )
}

fn durability(store: &Arc<dyn Store>, owner: &str, limits: JournalLimits) -> Durability {
    let mut d = Durability::new(store.clone(), owner);
    d.limits = limits;
    d
}

async fn submit(
    rt: &Runtime,
    store: &Arc<dyn Store>,
    limits: JournalLimits,
) -> troupe_runtime::WorkflowHandle {
    let plan = Arc::new(plan(parse_workflow(CHAIN, "chain").unwrap(), rt.kinds()).unwrap());
    let definition = Definition {
        text: CHAIN.into(),
        source: "test".into(),
    };
    rt.submit_durable(plan, definition, durability(store, "first", limits))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_over_its_journal_cap_fails_naming_the_cap_and_its_end_is_journaled() {
    let dir = TempDir::new("troupe-journal-cap").unwrap();
    let store = sqlite(&dir).await;
    let effects = Effects::default();
    let rt = runtime(&effects).await;
    // The submitted event (with the definition) and two padded results fit; the third does not.
    let limits = JournalLimits {
        cap_bytes: 1400,
        compact_after: None,
    };
    let handle = submit(&rt, &store, limits).await;
    let run = handle.run_id().clone();
    let report = handle.wait().await.unwrap();
    assert!(!report.succeeded(), "{report:?}");
    let record = store.get_run(run.clone()).await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Failed);
    let history = read_events(store.as_ref(), &run, 1).await.unwrap();
    let Some((_, JournalEvent::RunFinished { status, error })) = history.events.last() else {
        panic!("the journal ends with run_finished: {:?}", history.events);
    };
    assert_eq!(*status, FinalStatus::Failed);
    let cause = error.as_ref().unwrap().messages.join(" ");
    assert!(
        cause.contains(run.as_str()) && cause.contains("cap of 1400 bytes"),
        "the cause names the run and the cap: {cause}"
    );
    assert!(record.journal_bytes > 0);
    // Nothing was dropped silently: every result journaled is a whole event, in order.
    let completed = history
        .events
        .iter()
        .filter(|(_, e)| matches!(e, JournalEvent::TaskCompleted { .. }))
        .count();
    assert!(completed < 4, "the cap stopped the run before its end");
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_compacted_mid_way_then_stopped_resumes_without_rerunning_completed_tasks() {
    let dir = TempDir::new("troupe-journal-compact").unwrap();
    let store = sqlite(&dir).await;
    let effects = Effects::default();
    *effects.block.lock() = Some("c".into());
    let limits = JournalLimits {
        compact_after: None,
        ..JournalLimits::default()
    };
    let run: RunId;
    {
        let rt = runtime(&effects).await;
        let handle = submit(&rt, &store, limits).await;
        run = handle.run_id().clone();
        // c is in flight (its agent was called and holds on): a and b are journaled.
        effects.blocked.notified().await;
        let done = compact_run(store.as_ref(), &run).await.unwrap().unwrap();
        assert!(
            done.entries >= 5,
            "submitted + a and b started/completed + c started: {done:?}"
        );
        assert!(
            done.kept < done.entries + 1,
            "the starts of a and b were dropped: {done:?}"
        );
        let read = store.read_journal(run.clone(), 1).await.unwrap();
        assert_eq!(read.snapshot.as_ref().map(|s| s.seq), Some(done.seq));
        assert!(
            read.entries.is_empty(),
            "every entry is behind the snapshot"
        );
        // The driver goes away mid-run (as a killed process would: nothing more is written).
        rt.shutdown().await;
        let _ = handle.wait().await;
    }
    *effects.block.lock() = None;
    let rt = runtime(&effects).await;
    let handle = rt
        .resume_durable(run.clone(), durability(&store, "second", limits))
        .await
        .unwrap();
    let report = handle.wait().await.unwrap();
    assert!(report.succeeded(), "{report:?}");
    let calls = effects.calls.lock().clone();
    assert_eq!(
        calls.get("a"),
        Some(&1),
        "a completed before: not run again"
    );
    assert_eq!(
        calls.get("b"),
        Some(&1),
        "b completed before: not run again"
    );
    assert_eq!(calls.get("c"), Some(&2), "c was in flight: run again once");
    assert_eq!(calls.get("d"), Some(&1));
    assert_eq!(report.output("b").unwrap()["input"]["task"], json!("a"));
    assert_eq!(
        store.get_run(run).await.unwrap().unwrap().status,
        RunStatus::Completed
    );
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_run_is_compacted_on_its_own_and_its_journal_shrinks() {
    let dir = TempDir::new("troupe-journal-auto").unwrap();
    let store = sqlite(&dir).await;
    let effects = Effects::default();
    let rt = runtime(&effects).await;
    let limits = JournalLimits {
        compact_after: Some(4),
        ..JournalLimits::default()
    };
    let handle = submit(&rt, &store, limits).await;
    let run = handle.run_id().clone();
    let report = handle.wait().await.unwrap();
    assert!(report.succeeded(), "{report:?}");
    // The compaction runs beside the run; the run's end does not wait for it. It is one store
    // transaction: poll the store (bounded) until it is in.
    let mut snapshot = None;
    for _ in 0..200 {
        snapshot = store.read_journal(run.clone(), 1).await.unwrap().snapshot;
        if snapshot.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let snapshot = snapshot.expect("compacted after 4 live entries");
    let events_in = troupe_runtime::workflow::durable::snapshot_events(&run, &snapshot).unwrap();
    assert!(
        !events_in.iter().any(
            |e| matches!(e, JournalEvent::AttemptStarted { task, .. } if task.as_str() == "a")
        ),
        "a's start is not needed once its result is in: {events_in:?}"
    );
    rt.shutdown().await;
}
