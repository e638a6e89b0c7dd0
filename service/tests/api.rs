//! The v1 API over real HTTP: submit (validation, 422 with every problem, 400, 507), execute
//! (202, 409), status, pause, resume, signals, cancel, the list, dead letters, /health,
//! /ready, and the JSON error shape.

mod common;

use common::{start, start_with, token, GATE};
use serde_json::json;
use troupe_runtime::workflow::resources::Capacity;
use troupe_service::Auth;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_validates_and_reports_every_problem_with_its_position() {
    let t = start().await;
    let tok = token("submit", None);
    let (status, body) = t.submit(GATE, &tok).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "validated");
    assert_eq!(body["workflow_id"].as_str().unwrap().len(), 36);
    assert_eq!(body["validation_report"]["tasks"], 3);
    assert!(body["validation_report"]["warnings"].is_array());
    assert_eq!(body["estimated_resources"]["agents"], 1);

    // Two problems at once, each with its line.
    let bad = "workflow:\n  name: bad\n  agents:\n    a: { type: no.such.kind }\n  tasks:\n    - { id: x, agent: a, depends_on: [nope] }\n";
    let (status, body) = t.submit(bad, &tok).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_workflow");
    let problems = body["error"]["details"]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{body}");
    assert!(
        problems.iter().all(|p| p["line"].as_u64().unwrap() > 0),
        "{body}"
    );

    // A syntax error: line and column.
    let (status, body) = t.submit("workflow:\n  name: [unclosed\n", &tok).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["details"]["problems"][0]["line"]
            .as_u64()
            .unwrap()
            > 0
    );

    // An orchestration pattern that is not registered: 400.
    let pattern = "workflow:\n  name: p\n  orchestration_pattern: telepathy\n  agents:\n    a: { type: util.echo }\n  tasks:\n    - { id: x, agent: a }\n";
    let (status, body) = t.submit(pattern, &tok).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "unsupported_pattern");

    // JSON is accepted too.
    let as_json = json!({"workflow": {"name": "j", "agents": {"a": {"type": "util.echo"}}, "tasks": [{"id": "x", "agent": "a", "input": 1}]}});
    let (status, body) = t.submit(&as_json.to_string(), &tok).await;
    assert_eq!(status, 201, "{body}");

    // Empty body: 400 naming what is missing.
    let (status, body) = t.submit("  ", &tok).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("empty"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_refuses_what_the_capacity_cannot_hold_with_507() {
    let small = Capacity {
        cpu_millis: 1000,
        memory_bytes: 1 << 30,
    };
    let t = start_with(Some(small), Auth::hs256(common::SECRET)).await;
    let big = "workflow:\n  name: big\n  agents:\n    a: { type: util.echo, count: 4, resources: { cpu: 2 cores, memory: 1GB } }\n  tasks:\n    - { id: x, agent: a }\n";
    let (status, body) = t.submit(big, &token("submit", None)).await;
    assert_eq!(status, 507, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_resources");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_pause_signal_resume_and_finish() {
    let t = start().await;
    let tok = token("operate", None);
    let (_, wf) = t.submit(GATE, &tok).await;
    let id = wf["workflow_id"].as_str().unwrap();

    let (status, _) = t
        .post(
            "/api/v1/workflows/nope/execute",
            json!({"input_data": {}}),
            &tok,
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = t
        .post(
            &format!("/api/v1/workflows/{id}/execute"),
            json!({"input_data": {"q": 1}}),
            &tok,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "planning");
    let run = body["execution_id"].as_str().unwrap().to_string();
    assert_eq!(body["execution_url"], format!("/api/v1/executions/{run}"));
    assert_eq!(body["allocated_agents"][0]["kind"], "text.transform");

    // A second execution while the first runs: 409 (unless allowed).
    let (status, body) = t
        .post(&format!("/api/v1/workflows/{id}/execute"), json!({}), &tok)
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");

    // A bad body names the field.
    let (status, body) = t
        .post(
            &format!("/api/v1/workflows/{id}/execute"),
            json!({"input_dta": {}}),
            &tok,
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("input_dta"),
        "{body}"
    );

    // Pause applies before the answer: paused.
    let (status, body) = t
        .post(&format!("/api/v1/workflows/{id}/pause"), json!({}), &tok)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "paused");
    assert_eq!(
        body["resume_url"],
        format!("/api/v1/executions/{run}/resume")
    );
    let (_, st) = t.get(&format!("/api/v1/workflows/{id}/status"), &tok).await;
    assert_eq!(st["current_phase"], "paused", "{st}");
    assert_eq!(st["execution_id"], run);

    // A signal nobody awaits: 409 naming the awaited ones.
    let (status, body) = t
        .post(
            &format!("/api/v1/executions/{run}/signals/nope"),
            json!({"value": 1}),
            &tok,
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("approval"));

    let (status, body) = t
        .post(
            &format!("/api/v1/executions/{run}/signals/approval"),
            json!({"value": "yes"}),
            &tok,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = t
        .post(&format!("/api/v1/executions/{run}/resume"), json!({}), &tok)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "running");

    // The SSE stream ends after the run's last entry.
    let mut events = common::sse(
        &t.http,
        &format!("{}/api/v1/executions/{run}/events", t.base),
        &tok,
        None,
    )
    .await;
    let mut last = None;
    while let Some(e) = events.next().await {
        last = Some(e);
    }
    let last = last.unwrap();
    assert_eq!(last.data["data"]["status"], "completed", "{:?}", last);

    let (status, st) = t.get(&format!("/api/v1/executions/{run}"), &tok).await;
    assert_eq!(status, 200);
    assert_eq!(st["status"], "completed", "{st}");
    let tasks = st["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 3);
    assert!(tasks.iter().all(|t| t["state"] == "completed"), "{st}");
    assert_eq!(tasks[0]["attempts"], 1);
    assert!(tasks[0]["duration_ms"].is_u64());

    // Finished: pause and cancel are conflicts.
    let (status, _) = t
        .post(&format!("/api/v1/executions/{run}/pause"), json!({}), &tok)
        .await;
    assert_eq!(status, 409);
    let (status, _) = t
        .post(&format!("/api/v1/executions/{run}/cancel"), json!({}), &tok)
        .await;
    assert_eq!(status, 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_timeout_cancels_the_run_and_unsupported_options_are_refused() {
    let t = start().await;
    let tok = token("operate", None);
    let (_, wf) = t.submit(GATE, &tok).await;
    let id = wf["workflow_id"].as_str().unwrap();
    let (status, body) = t
        .post(
            &format!("/api/v1/workflows/{id}/execute"),
            json!({"execution_options": {"resource_constraints": {"cpu_millis": 1}}}),
            &tok,
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("resource_constraints"),
        "{body}"
    );
    // The run waits for a signal that never comes: its 1 s timeout cancels it.
    let (status, ex) = t
        .post(
            &format!("/api/v1/workflows/{id}/execute"),
            json!({"execution_options": {"timeout": 1}}),
            &tok,
        )
        .await;
    assert_eq!(status, 202, "{ex}");
    let run = ex["execution_id"].as_str().unwrap();
    let mut events = common::sse(
        &t.http,
        &format!("{}/api/v1/executions/{run}/events", t.base),
        &tok,
        None,
    )
    .await;
    let mut last = None;
    while let Some(e) = events.next().await {
        last = Some(e);
    }
    assert_eq!(last.unwrap().data["data"]["status"], "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_list_with_filters_and_pages() {
    let t = start().await;
    let tok = token("operate", None);
    let (_, wf) = t.submit(GATE, &tok).await;
    let id = wf["workflow_id"].as_str().unwrap();
    let mut runs = Vec::new();
    for _ in 0..3 {
        let (status, body) = t
            .post(
                &format!("/api/v1/workflows/{id}/execute"),
                json!({"execution_options": {"allow_concurrent": true}}),
                &tok,
            )
            .await;
        assert_eq!(status, 202, "{body}");
        runs.push(body["execution_id"].as_str().unwrap().to_string());
    }
    let (status, body) = t
        .post(
            &format!("/api/v1/executions/{}/cancel", runs[0]),
            json!({}),
            &tok,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "cancelled");
    // The cancelled run's stream ends with its final status.
    let mut events = common::sse(
        &t.http,
        &format!("{}/api/v1/executions/{}/events", t.base, runs[0]),
        &tok,
        None,
    )
    .await;
    let mut last = None;
    while let Some(e) = events.next().await {
        last = Some(e);
    }
    assert_eq!(last.unwrap().data["data"]["status"], "cancelled");

    let (_, page) = t.get("/api/v1/executions?status=cancelled", &tok).await;
    let listed: Vec<_> = page["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["execution_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, vec![runs[0].clone()]);

    let (_, first) = t.get("/api/v1/executions?limit=2", &tok).await;
    assert_eq!(first["executions"].as_array().unwrap().len(), 2);
    let next = first["next"].as_u64().unwrap();
    let (_, second) = t
        .get(&format!("/api/v1/executions?limit=2&after={next}"), &tok)
        .await;
    assert_eq!(second["executions"].as_array().unwrap().len(), 1);
    assert!(second["next"].is_null());

    let (status, body) = t.get("/api/v1/executions?status=sleepy", &tok).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("sleepy"));
    let (status, body) = t.get("/api/v1/executions/nope", &tok).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_list_and_drop_and_health() {
    let t = start().await;
    let tok = token("operate", None);
    let letter = troupe_runtime::store::NewDeadLetter {
        run: None,
        task: None,
        input: json!("lost"),
        errors: vec!["gave up".into()],
        attempts: 3,
        at: troupe_runtime::store::Timestamp::now(),
    };
    let d = t.store.put_dead_letter(letter).await.unwrap();
    let (status, body) = t.get("/api/v1/dead-letters", &tok).await;
    assert_eq!(status, 200);
    assert_eq!(body["dead_letters"][0]["id"], d.id);
    assert_eq!(body["dead_letters"][0]["errors"][0], "gave up");
    let (status, body) = t
        .post(
            &format!("/api/v1/dead-letters/{}/replay", d.id),
            json!({}),
            &tok,
        )
        .await;
    assert_eq!(status, 501, "{body}");
    let r = t
        .req(
            reqwest::Method::DELETE,
            &format!("/api/v1/dead-letters/{}", d.id),
            &tok,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (status, _) = t
        .get(&format!("/api/v1/dead-letters/{}/replay", d.id), &tok)
        .await;
    assert_eq!(status, 405);
    let r = t
        .req(
            reqwest::Method::DELETE,
            &format!("/api/v1/dead-letters/{}", d.id),
            &tok,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    let (status, body) = t.get("/health", "").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = t.get("/ready", "").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ready");
}
