//! `troupe serve` as a real process: submit, execute, watch the SSE stream, pause, signal,
//! resume and cancel over HTTP with the admin token it prints; then `kill -9` it while a run
//! waits for a signal, start it again on the same store, and the run is resumed at start
//! (its first task, a shell task appending to a side-effect log, ran once).

#[path = "common/durable.rs"]
mod common;

use std::path::Path;

use futures_util::StreamExt;
use serde_json::{json, Value};

use common::{count, scratch, serve, shell_pool, troupe, Serve};

impl Serve {
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body.to_string()))
            .await
    }

    /// Reads the execution's SSE stream after `last` until `stop` holds for an event's message
    /// (or the stream ends); returns the messages and the last event id.
    async fn watch(
        &self,
        run: &str,
        last: u64,
        stop: impl Fn(&Value) -> bool,
    ) -> (Vec<Value>, u64) {
        let r = reqwest::Client::new()
            .get(format!("{}/api/v1/executions/{run}/events", self.base))
            .bearer_auth(&self.token)
            .header("Last-Event-ID", last.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let mut body = r.bytes_stream();
        let (mut buf, mut seen, mut last) = (String::new(), Vec::new(), last);
        while let Some(chunk) = body.next().await {
            buf.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            while let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                let Some(data) = block.lines().find_map(|l| l.strip_prefix("data:")) else {
                    continue;
                };
                let m: Value = serde_json::from_str(data.trim()).unwrap();
                let seq = m["seq"].as_u64().unwrap();
                assert!(seq > last, "event {seq} after {last}: seen twice");
                last = seq;
                let done = stop(&m);
                seen.push(m);
                if done {
                    return (seen, last);
                }
            }
        }
        (seen, last)
    }
}

fn workflow(dir: &Path) -> String {
    format!(
        "workflow:\n  name: served\n  agents:\n{}  tasks:\n    - {{ id: first, agent: first }}\n    - {{ id: approve, await_signal: approval, depends_on: [first] }}\n    - {{ id: last, agent: last, depends_on: [approve] }}\n",
        [shell_pool(dir, "first", None), shell_pool(dir, "last", None)].concat()
    )
}

fn completed(task: &'static str) -> impl Fn(&Value) -> bool {
    move |m| m["type"] == "task.completed" && m["data"]["task"] == task
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_drives_runs_over_http_and_resumes_them_after_kill_9() {
    let dir = scratch("serve");
    let mut s = serve(&dir, &[]);
    let (status, health) = s.call(reqwest::Method::GET, "/health", None).await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));

    let (status, wf) = s
        .call(
            reqwest::Method::POST,
            "/api/v1/workflows",
            Some(workflow(&dir)),
        )
        .await;
    assert_eq!(status, 201, "{wf}");
    let id = wf["workflow_id"].as_str().unwrap().to_string();
    let (status, ex) = s
        .post(
            &format!("/api/v1/workflows/{id}/execute"),
            json!({"input_data": {}}),
        )
        .await;
    assert_eq!(status, 202, "{ex}");
    let run = ex["execution_id"].as_str().unwrap().to_string();

    // Watch until the first task is done (the run then waits for its signal), pause it.
    let (_, last) = s.watch(&run, 0, completed("first")).await;
    let (status, paused) = s
        .post(&format!("/api/v1/executions/{run}/pause"), json!({}))
        .await;
    assert_eq!(
        (status, paused["status"].as_str()),
        (200, Some("paused")),
        "{paused}"
    );
    let (status, _) = s
        .post(
            &format!("/api/v1/executions/{run}/signals/approval"),
            json!({"value": "ok"}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, st) = s
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/executions/{run}"),
            None,
        )
        .await;
    assert_eq!(st["current_phase"], "paused", "{st}");
    let (status, _) = s
        .post(&format!("/api/v1/executions/{run}/resume"), json!({}))
        .await;
    assert_eq!(status, 200);
    let (rest, _) = s.watch(&run, last, |m| m["data"]["final"] == true).await;
    assert_eq!(rest.last().unwrap()["data"]["status"], "completed");
    assert!(rest.iter().any(|m| m["type"] == "signal.received"));
    assert_eq!(count(&dir, "last"), 1);

    // Cancel a second execution while it waits for its signal.
    let (_, ex2) = s
        .post(&format!("/api/v1/workflows/{id}/execute"), json!({}))
        .await;
    let run2 = ex2["execution_id"].as_str().unwrap().to_string();
    s.watch(&run2, 0, completed("first")).await;
    let (status, c) = s
        .post(&format!("/api/v1/executions/{run2}/cancel"), json!({}))
        .await;
    assert_eq!(
        (status, c["status"].as_str()),
        (200, Some("cancelled")),
        "{c}"
    );

    // A third waits for its signal when the server is killed.
    let (_, ex3) = s
        .post(&format!("/api/v1/workflows/{id}/execute"), json!({}))
        .await;
    let run3 = ex3["execution_id"].as_str().unwrap().to_string();
    s.watch(&run3, 0, completed("first")).await;
    let firsts = count(&dir, "first");
    s.child.kill().unwrap();
    s.child.wait().unwrap();

    // Started again on the same store: the run is resumed at start and driven here.
    let mut s = serve(&dir, &[]);
    let (status, _) = s
        .post(
            &format!("/api/v1/executions/{run3}/signals/approval"),
            json!({"value": "late"}),
        )
        .await;
    assert_eq!(status, 200);
    let (rest, _) = s.watch(&run3, 0, |m| m["data"]["final"] == true).await;
    assert_eq!(rest.last().unwrap()["data"]["status"], "completed");
    assert_eq!(
        count(&dir, "first"),
        firsts,
        "the first task did not run again"
    );
    assert_eq!(count(&dir, "last"), 2);
    let (_, list) = s
        .call(
            reqwest::Method::GET,
            "/api/v1/executions?status=cancelled",
            None,
        )
        .await;
    assert_eq!(list["executions"][0]["execution_id"], run2);
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_without_auth_refuses_an_address_that_is_not_loopback() {
    let dir = scratch("serve-open");
    let out = common::output(troupe(&dir).args(["serve", "--listen", "0.0.0.0:0"]));
    assert_eq!(out.status.code(), Some(2));
    let err = common::text(&out.stderr);
    assert!(
        err.contains("no auth configured") && err.contains("0.0.0.0:0"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_names_a_secret_file_it_cannot_read() {
    let dir = scratch("serve-secret");
    let out = common::output(troupe(&dir).args(["serve", "--jwt-secret-file", "nope"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(common::text(&out.stderr).contains("--jwt-secret-file nope"));
    let _ = std::fs::remove_dir_all(&dir);
}
