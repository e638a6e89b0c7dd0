//! `POST …/execute` options over real HTTP: `input_data` reaches the tasks, `retry_policy`
//! replaces the file's for that run; submitted workflows and the audit log are in the store, so
//! a second service on the same store file knows them.

mod common;

use std::time::{Duration, Instant};

use common::{start, token, TestService};
use serde_json::{json, Value};

const INPUTS: &str = r#"
workflow:
  name: inputs
  agents:
    echo: { type: util.echo }
    shout: { type: text.transform, config: { op: uppercase } }
  tasks:
    - { id: whole, agent: echo }
    - { id: part, agent: shout, input: "$input.text" }
    - { id: fixed, agent: shout, input: "fixed" }
"#;

const FLAKY: &str = r#"
workflow:
  name: flaky
  agents:
    flaky: { type: util.flaky, config: { failures: 2 } }
  tasks:
    - { id: shaky, agent: flaky, input: "x", retry_policy: none }
"#;

async fn execute(t: &TestService, id: &str, body: Value) -> (u16, Value) {
    t.post(
        &format!("/api/v1/workflows/{id}/execute"),
        body,
        &token("admin", None),
    )
    .await
}

/// The execution's status once it has finished.
async fn finished(t: &TestService, run: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, s) = t
            .get(&format!("/api/v1/executions/{run}"), &token("read", None))
            .await;
        if s["finished_at"].is_string() {
            return s;
        }
        assert!(Instant::now() < deadline, "never finished: {s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The output of `task` out of the run's journal (its `task.completed` message).
async fn output(t: &TestService, run: &str, task: &str) -> Value {
    let read = t
        .store
        .read_journal(troupe_runtime::RunId::new(run), 0)
        .await
        .unwrap();
    for e in &read.entries {
        let ev = troupe_runtime::workflow::journal::JournalEvent::decode(
            &troupe_runtime::RunId::new(run),
            e,
        )
        .unwrap();
        if let troupe_runtime::workflow::journal::JournalEvent::TaskCompleted {
            task: t,
            output,
            ..
        } = ev
        {
            if t.to_string() == task {
                return output;
            }
        }
    }
    panic!("task {task} did not complete in {run}");
}

#[tokio::test]
async fn input_data_reaches_the_tasks_and_is_journaled() {
    let t = start().await;
    let (_, w) = t.submit(INPUTS, &token("admin", None)).await;
    let id = w["workflow_id"].as_str().unwrap();
    let input = json!({"text": "hello", "n": 3});
    let (code, e) = execute(&t, id, json!({ "input_data": input })).await;
    assert_eq!(code, 202, "{e}");
    let run = e["execution_id"].as_str().unwrap();
    let s = finished(&t, run).await;
    assert_eq!(s["status"], "completed", "{s}");
    assert_eq!(
        output(&t, run, "whole").await,
        input,
        "a task without input gets it all"
    );
    assert_eq!(
        output(&t, run, "part").await,
        "HELLO",
        "$input.text is its part"
    );
    assert_eq!(
        output(&t, run, "fixed").await,
        "FIXED",
        "a task's own input stays"
    );
    // Without input_data the file runs as written.
    let (_, e) = execute(&t, id, json!({})).await;
    let run = e["execution_id"].as_str().unwrap();
    finished(&t, run).await;
    assert_eq!(output(&t, run, "whole").await, Value::Null);
    // input_data must be an object.
    let (code, err) = execute(&t, id, json!({"input_data": [1]})).await;
    assert_eq!(code, 400, "{err}");
}

#[tokio::test]
async fn retry_policy_of_the_execution_replaces_the_files() {
    let t = start().await;
    let (_, w) = t.submit(FLAKY, &token("admin", None)).await;
    let id = w["workflow_id"].as_str().unwrap();
    // As written (no retries) the first failure fails the run.
    let (_, e) = execute(&t, id, json!({})).await;
    let s = finished(&t, e["execution_id"].as_str().unwrap()).await;
    assert_eq!(s["status"], "failed", "{s}");
    // With three attempts allowed, the third succeeds (a fresh pool: two failures again).
    let policy = json!({"max_attempts": 3, "initial_backoff": "10ms", "jitter": 0.0});
    let options = json!({"execution_options": {"retry_policy": policy, "allow_concurrent": true}});
    let (code, e) = execute(&t, id, options).await;
    assert_eq!(code, 202, "{e}");
    let s = finished(&t, e["execution_id"].as_str().unwrap()).await;
    assert_eq!(s["status"], "completed", "{s}");
    assert_eq!(s["tasks"][0]["attempts"], 3, "{s}");
    // A bad policy is refused naming it.
    let bad = json!({"execution_options": {"retry_policy": {"max_attempts": 3, "backof": "1s"}, "allow_concurrent": true}});
    let (code, err) = execute(&t, id, bad).await;
    assert_eq!(code, 422, "{err}");
    assert!(err.to_string().contains("backof"), "{err}");
}

#[tokio::test]
async fn a_second_service_on_the_store_knows_the_workflows_and_the_audit_log() {
    let t = start().await;
    let admin = token("admin", None);
    let (_, w) = t.submit(INPUTS, &admin).await;
    let id = w["workflow_id"].as_str().unwrap();
    let (_, e) = execute(&t, id, json!({"input_data": {"text": "a"}})).await;
    finished(&t, e["execution_id"].as_str().unwrap()).await;
    // Another service (another runtime) over the same store.
    let other = common::start_on(t.store.clone()).await;
    let (code, s) = other
        .get(&format!("/api/v1/workflows/{id}/status"), &admin)
        .await;
    assert_eq!(code, 200, "{s}");
    assert_eq!(s["execution_id"], e["execution_id"], "{s}");
    let (code, e2) = execute(&other, id, json!({"input_data": {"text": "b"}})).await;
    assert_eq!(code, 202, "{e2}");
    let run = e2["execution_id"].as_str().unwrap();
    finished(&other, run).await;
    assert_eq!(output(&other, run, "part").await, "B");
    // Another tenant does not find it there either.
    let (code, _) = other
        .get(
            &format!("/api/v1/workflows/{id}/status"),
            &token("admin", Some("globex")),
        )
        .await;
    assert_eq!(code, 404);
    // The audit log is read from the store: the first service's calls, who and what.
    let (code, audit) = other.get("/api/v1/audit?limit=1000", &admin).await;
    assert_eq!(code, 200, "{audit}");
    let records = audit["records"].as_array().unwrap();
    let submit = records
        .iter()
        .find(|r| r["path"] == "/api/v1/workflows" && r["method"] == "POST")
        .unwrap_or_else(|| panic!("no submit in {audit}"));
    assert_eq!(submit["who"], "tester-admin");
    assert_eq!(submit["status"], 201);
    assert!(submit["at"].is_string());
    let executes = records
        .iter()
        .filter(|r| r["path"] == format!("/api/v1/workflows/{id}/execute"))
        .count();
    assert_eq!(executes, 2, "{audit}");
    // Pages: one record at a time, in order, nothing twice.
    let (_, first) = other.get("/api/v1/audit?limit=1", &admin).await;
    let next = first["next"].as_str().unwrap();
    let (_, second) = other
        .get(&format!("/api/v1/audit?limit=1&after={next}"), &admin)
        .await;
    assert_ne!(first["records"][0], second["records"][0]);
    assert_eq!(second["records"][0], records[1]);
}
