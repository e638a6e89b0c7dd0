//! Resuming reads the definition from the parsed tree journaled with the submission (no YAML
//! parse); journals written before the tree was kept still resume from the definition's text.

mod common;

use std::sync::Arc;

use common::register_test_kinds;
use serde_json::{json, Value};
use troupe_runtime::store::{MemoryStore, NewRun, RunStatus, Store, Timestamp};
use troupe_runtime::workflow::durable::{Definition, Durability, DurableError};
use troupe_runtime::workflow::journal::{append_events, read_events, JournalEvent};
use troupe_runtime::workflow::plan::plan;
use troupe_runtime::{parse_workflow, RunId, Runtime, RuntimeConfig};

const PAIR: &str = r#"
workflow:
  name: pair
  version: 1.10
  agents:
    echo: { type: test.op, config: { mode: echo } }
  tasks:
    - { id: a, agent: echo, input: 1 }
    - { id: b, agent: echo, depends_on: [a] }
"#;

async fn runtime() -> Runtime {
    let rt = Runtime::start(RuntimeConfig::named("resume-tree"))
        .await
        .unwrap();
    register_test_kinds(&rt);
    rt
}

/// The `submitted` event a real durable submission of [`PAIR`] journals.
async fn submitted_event(rt: &Runtime) -> JournalEvent {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let plan = Arc::new(plan(parse_workflow(PAIR, "pair.yaml").unwrap(), rt.kinds()).unwrap());
    let definition = Definition {
        text: PAIR.into(),
        source: "pair.yaml".into(),
    };
    let handle = rt
        .submit_durable(plan, definition, Durability::new(store.clone(), "me"))
        .await
        .unwrap();
    let run = handle.run_id().clone();
    assert!(handle.wait().await.unwrap().succeeded());
    let history = read_events(store.as_ref(), &run, 1).await.unwrap();
    history.events[0].1.clone()
}

/// A run whose stored definition text is `stored_text` and whose journal holds `submitted`
/// and nothing else (its driver died before any task started).
async fn stored_run(store: &dyn Store, stored_text: &str, submitted: JournalEvent) -> RunId {
    let run = RunId::new("pair-stored");
    let now = Timestamp::now();
    store
        .create_run(
            NewRun::new(run.clone(), "pair", now)
                .definition(stored_text, "v1")
                .options(json!({"seed": 3})),
        )
        .await
        .unwrap();
    append_events(store, &run, None, now, &[submitted])
        .await
        .unwrap();
    store
        .set_run_status(run.clone(), RunStatus::Running, now)
        .await
        .unwrap();
    run
}

#[tokio::test]
async fn a_submission_journals_the_parsed_tree_and_a_resume_reads_it_instead_of_the_yaml() {
    let rt = runtime().await;
    let submitted = submitted_event(&rt).await;
    let JournalEvent::Submitted { tree, .. } = &submitted else {
        panic!("the first event is {submitted:?}");
    };
    assert!(tree.is_some(), "the submission keeps the parsed tree");
    // The run's stored text is not YAML at all: only the journaled tree can define the run.
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let run = stored_run(store.as_ref(), "workflow: [not yaml", submitted).await;
    let handle = rt
        .resume_durable(run.clone(), Durability::new(store.clone(), "me"))
        .await
        .expect("resumed from the tree");
    let report = handle.wait().await.unwrap();
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(report.output("a"), Some(&json!(1)));
    assert_eq!(report.output("b"), Some(&json!(1)));
    rt.shutdown().await;
}

#[tokio::test]
async fn a_journal_without_a_tree_resumes_from_the_definition_text() {
    let rt = runtime().await;
    let mut submitted = submitted_event(&rt).await;
    if let JournalEvent::Submitted { tree, .. } = &mut submitted {
        *tree = None;
    }
    // Without a tree the text is what is read: a good one resumes ...
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let run = stored_run(store.as_ref(), PAIR, submitted.clone()).await;
    let handle = rt
        .resume_durable(run, Durability::new(store.clone(), "me"))
        .await
        .expect("resumed from the text");
    assert!(handle.wait().await.unwrap().succeeded());
    // ... and a broken one is refused naming the run and where the YAML is wrong.
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let run = stored_run(store.as_ref(), "workflow: [not yaml", submitted).await;
    let err = rt
        .resume_durable(run, Durability::new(store.clone(), "me"))
        .await
        .expect_err("a broken stored definition does not resume");
    assert!(matches!(err, DurableError::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("run pair-stored"), "{err}");
    rt.shutdown().await;
}

#[tokio::test]
async fn a_journaled_tree_in_an_unknown_format_falls_back_to_the_text() {
    let rt = runtime().await;
    let submitted = submitted_event(&rt).await;
    // The same event with the tree's format number raised past what this build reads.
    let mut value: Value = serde_json::to_value(&submitted).unwrap();
    value["tree"]["v"] = json!(99);
    let newer: JournalEvent = serde_json::from_value(value).unwrap();
    assert_ne!(newer, submitted);
    // The stored text differs from the tree in a's input: the output says which was read.
    let text = PAIR.replace("input: 1", "input: 3");
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let run = stored_run(store.as_ref(), &text, newer).await;
    let handle = rt
        .resume_durable(run, Durability::new(store.clone(), "me"))
        .await
        .expect("resumed from the text");
    let report = handle.wait().await.unwrap();
    assert_eq!(report.output("a"), Some(&json!(3)), "read from the text");
    rt.shutdown().await;
}
