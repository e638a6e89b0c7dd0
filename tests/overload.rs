//! `troupe serve` as a real process offered far more work than its admission limits: `/health`
//! keeps answering, the excess is refused with 429 (a tenant over its share) or 503 (the node
//! full) and `Retry-After`, every admitted run finishes (its side effect logged once), and the
//! process's resident memory stays bounded.

#[path = "common/durable.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use troupe_service::auth::{expiry_in, sign_hs256};
use troupe_service::Claims;

use common::{count, scratch, troupe, PATIENCE};

const SECRET: &[u8] = b"overload-test-secret";
/// The node's limits: 4 executions at once, 2 per tenant.
const MAX_RUNS: usize = 4;
const PER_TENANT: usize = 2;

struct Serve {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path) -> Serve {
    std::fs::write(dir.join("secret"), SECRET).unwrap();
    let mut c = troupe(dir);
    c.args(["serve", "--listen", "127.0.0.1:0", "--jwt-secret-file"])
        .arg(dir.join("secret"))
        .args(["--max-runs", &MAX_RUNS.to_string()])
        .args(["--max-runs-per-tenant", &PER_TENANT.to_string()])
        .args(["--retry-after", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().expect("troupe serve starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a line").unwrap();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    Serve {
        child,
        base,
        http: reqwest::Client::new(),
    }
}

fn token(tenant: &str) -> String {
    let claims = Claims {
        sub: format!("user-of-{tenant}"),
        scope: "operate".into(),
        tenant: Some(tenant.into()),
        exp: expiry_in(Duration::from_secs(3600)),
    };
    sign_hs256(&claims, SECRET).unwrap()
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// A status, the `Retry-After` header and the body of one call.
async fn call(
    s: &Serve,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Option<String>, Value) {
    let url = format!("{}{path}", s.base);
    let r = match body {
        Some(b) => s.http.post(url).body(b.to_string()),
        None => s.http.get(url),
    };
    let r = r.bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    let after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, after, r.json().await.unwrap_or(Value::Null))
}

/// Each run waits for signal `go`, then its shell task appends `work` to the log.
fn workflow(dir: &Path) -> String {
    format!(
        "workflow:\n  name: held\n  agents:\n    work: {{ type: cmd.run, config: {{ shell: true, timeout: 120s, program: \"echo work >> {}\" }} }}\n  tasks:\n    - {{ id: hold, await_signal: go }}\n    - {{ id: work, agent: work, depends_on: [hold] }}\n",
        dir.join("log").display()
    )
}

/// Offers `n` executions of `workflow` at once; returns the admitted run ids and the refusals
/// by status (each refusal checked for its `Retry-After` and error code).
async fn offer(s: &Serve, token: &str, workflow: &str, n: usize) -> (Vec<String>, Vec<u16>) {
    let path = format!("/api/v1/workflows/{workflow}/execute");
    let body = json!({"execution_options": {"allow_concurrent": true}});
    let calls = (0..n).map(|_| call(s, token, &path, Some(body.clone())));
    let mut admitted = Vec::new();
    let mut refused = Vec::new();
    for (status, after, body) in futures_util::future::join_all(calls).await {
        match status {
            202 => admitted.push(body["execution_id"].as_str().unwrap().to_string()),
            429 | 503 => {
                assert_eq!(after.as_deref(), Some("2"), "Retry-After of a {status}");
                let code = if status == 429 {
                    "too_many_requests"
                } else {
                    "overloaded"
                };
                assert_eq!(body["error"]["code"], code, "{body}");
                refused.push(status);
            }
            other => panic!("execute answered {other}: {body}"),
        }
    }
    (admitted, refused)
}

async fn submit(s: &Serve, token: &str, dir: &Path) -> String {
    let r = s
        .http
        .post(format!("{}/api/v1/workflows", s.base))
        .bearer_auth(token)
        .body(workflow(dir))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let body: Value = r.json().await.unwrap();
    body["workflow_id"].as_str().unwrap().to_string()
}

/// Signals `run` and waits until it completed.
async fn finish(s: &Serve, token: &str, run: &str) {
    let (status, _, body) = call(
        s,
        token,
        &format!("/api/v1/executions/{run}/signals/go"),
        Some(json!({"value": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (_, _, st) = call(s, token, &format!("/api/v1/executions/{run}"), None).await;
        match st["status"].as_str() {
            Some("completed") => return,
            Some("failed" | "cancelled") => panic!("admitted run {run} did not finish: {st}"),
            _ => {}
        }
        assert!(Instant::now() < deadline, "run {run} never completed: {st}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_ten_times_its_capacity_a_node_answers_health_refuses_the_excess_and_finishes_what_it_admitted(
) {
    let dir = scratch("overload");
    let s = serve(&dir);
    let pid = s.child.id();
    let tokens: Vec<String> = ["a", "b", "c"].iter().map(|t| token(t)).collect();
    let mut workflows = Vec::new();
    for t in &tokens {
        workflows.push(submit(&s, t, &dir).await);
    }
    let rss_start = rss_kib(pid);

    // `/health` is polled all along the flood; every answer must be 200.
    let stop = Arc::new(AtomicBool::new(false));
    let (health_ok, health_bad) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let poller = {
        let (stop, ok, bad) = (stop.clone(), health_ok.clone(), health_bad.clone());
        let (http, url) = (s.http.clone(), format!("{}/health", s.base));
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                match http.get(&url).send().await {
                    Ok(r) if r.status().as_u16() == 200 => ok.fetch_add(1, Ordering::SeqCst),
                    _ => bad.fetch_add(1, Ordering::SeqCst),
                };
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    // Tenants a and b each offer 10x their share: each gets its share, the rest is 429.
    let mut admitted = Vec::new();
    for i in 0..2 {
        let (runs, refused) = offer(&s, &tokens[i], &workflows[i], 10 * PER_TENANT).await;
        assert_eq!(runs.len(), PER_TENANT, "tenant {i}: admitted {runs:?}");
        assert_eq!(refused.len(), 9 * PER_TENANT);
        assert!(refused.iter().all(|&st| st == 429), "{refused:?}");
        admitted.extend(runs.into_iter().map(|r| (i, r)));
    }
    // The node is full: tenant c, within its share, is refused with 503 — five waves of 10x
    // the node's capacity.
    let mut offered = 2 * 10 * PER_TENANT;
    for _ in 0..5 {
        let (runs, refused) = offer(&s, &tokens[2], &workflows[2], 10 * MAX_RUNS).await;
        assert!(runs.is_empty(), "a full node admitted {runs:?}");
        assert!(refused.iter().all(|&st| st == 503), "{refused:?}");
        offered += 10 * MAX_RUNS;
    }
    stop.store(true, Ordering::SeqCst);
    poller.await.unwrap();
    assert!(
        health_ok.load(Ordering::SeqCst) > 0,
        "/health was never polled"
    );
    assert_eq!(
        health_bad.load(Ordering::SeqCst),
        0,
        "/health failed under load"
    );
    let rss_flooded = rss_kib(pid);
    eprintln!(
        "offered {offered} executions to a node admitting {MAX_RUNS}: {} admitted; VmRSS {rss_start} KiB -> {rss_flooded} KiB",
        admitted.len()
    );
    assert!(
        rss_flooded < rss_start * 3 + 64 * 1024,
        "resident memory grew from {rss_start} KiB to {rss_flooded} KiB under refused load"
    );

    // Every admitted run finishes, its side effect done once.
    for (i, run) in &admitted {
        finish(&s, &tokens[*i], run).await;
    }
    assert_eq!(count(&dir, "work"), MAX_RUNS);
    // Their places are given back: tenant c gets in now, and its run finishes too.
    let (runs, refused) = offer(&s, &tokens[2], &workflows[2], 1).await;
    assert_eq!(
        (runs.len(), refused.len()),
        (1, 0),
        "room after the admitted runs ended"
    );
    finish(&s, &tokens[2], &runs[0]).await;
    assert_eq!(count(&dir, "work"), MAX_RUNS + 1);
}
