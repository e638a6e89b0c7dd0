//! Metrics over real HTTP: a known workload, a scrape of `GET /metrics` on a loopback socket,
//! the values asserted and the text checked by `promtool check metrics`; the alert rules in
//! `deploy/prometheus/` checked by `promtool check rules` and unit-tested by `promtool test
//! rules`. promtool comes from Debian's `prometheus` package (`.ci/run` installs it); without
//! it these checks print `SKIPPED`, and with `CI=true` they fail.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{register_test_kinds, wait_for};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use troupe_runtime::metrics::Metrics;
use troupe_runtime::policy::RetryPolicy;
use troupe_runtime::{EventKind, PoolSpec, Runtime, RuntimeConfig, TaskSpec, WorkflowSpec};

fn op(mode: &str, n: u64, count: usize) -> PoolSpec {
    PoolSpec::new("test.op", count).config(json!({"mode": mode, "n": n}))
}

/// Runs promtool with `args` (and `stdin`); `None` when promtool is not installed (outside CI).
fn promtool(args: &[&str], stdin: Option<&str>) -> Option<std::process::Output> {
    let child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "promtool is not installed and CI=true: install Debian's prometheus package"
            );
            eprintln!(
                "SKIPPED: promtool {} (install prometheus: apt-get install prometheus)",
                args.join(" ")
            );
            return None;
        }
        Err(e) => panic!("promtool could not start: {e}"),
    };
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    Some(child.wait_with_output().unwrap())
}

fn assert_promtool_ok(args: &[&str], stdin: Option<&str>) {
    if let Some(out) = promtool(args, stdin) {
        assert!(
            out.status.success(),
            "promtool {} failed:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// One HTTP/1.1 GET over a plain TCP stream: (status line, content type, body).
async fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head.lines().next().unwrap().to_string();
    let ctype = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap_or("")
        .to_string();
    (status, ctype, body.to_string())
}

/// The value of the series whose line starts with `name{` and holds every label in `labels`.
fn value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| labels.iter().all(|lab| l.contains(lab)))
        .and_then(|l| l.rsplit(' ').next())
        .map(|v| v.parse().unwrap())
}

#[tokio::test]
async fn a_scrape_after_a_known_workload_counts_it_and_passes_promtool() {
    let metrics = Metrics::new("m1");
    let config = RuntimeConfig {
        metrics: Some(metrics.clone()),
        ..RuntimeConfig::named("m1")
    };
    let rt = Runtime::start(config).await.unwrap();
    register_test_kinds(&rt);
    let store: std::sync::Arc<dyn troupe_runtime::Store> =
        std::sync::Arc::new(troupe_runtime::store::MemoryStore::new());
    metrics.observe_store(store.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(troupe_runtime::metrics::http::serve(
        listener,
        metrics.clone(),
    ));

    // Five tasks in a chain, the last failing once before it succeeds.
    let retry = RetryPolicy {
        jitter: 0.0,
        ..RetryPolicy::exponential_backoff().with_max_attempts(2)
    };
    let mut events = rt.subscribe();
    let spec = WorkflowSpec::builder("metrics")
        .pool("echo", op("echo", 0, 2))
        .pool("flaky", op("fail_first", 1, 1))
        .task(TaskSpec::new("a", "echo").input(json!(1)))
        .task(TaskSpec::new("b", "echo").after(["a"]))
        .task(TaskSpec::new("c", "echo").after(["b"]))
        .task(TaskSpec::new("d", "echo").after(["c"]))
        .task(TaskSpec::new("e", "flaky").after(["d"]).retry(retry))
        .build();
    let report = rt.submit(spec).await.unwrap().wait().await.unwrap();
    assert!(report.succeeded());
    let done = wait_for(&mut events, |e| {
        matches!(e.kind, EventKind::WorkflowCompleted { .. })
    })
    .await;
    metrics.caught_up(done.seq).await;

    let (status, ctype, text) = http_get(addr, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let wf = r#"workflow="metrics""#;
    let node = r#"node="m1""#;
    assert_eq!(
        value(&text, "troupe_tasks_completed_total", &[wf, node]),
        Some(5.0),
        "{text}"
    );
    assert_eq!(value(&text, "troupe_task_attempts_total", &[wf]), Some(6.0));
    assert_eq!(value(&text, "troupe_task_failures_total", &[wf]), Some(1.0));
    assert_eq!(value(&text, "troupe_task_retries_total", &[wf]), Some(1.0));
    assert_eq!(
        value(
            &text,
            "troupe_workflows_finished_total",
            &[wf, r#"outcome="completed""#]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "troupe_task_duration_seconds_count", &[wf]),
        Some(5.0)
    );
    assert_eq!(
        value(&text, "troupe_coordination_latency_seconds_count", &[]),
        Some(5.0)
    );
    let ok = [r#"kind="test.op""#, r#"outcome="ok""#];
    let err = [r#"kind="test.op""#, r#"outcome="error""#];
    let calls = "troupe_agent_call_duration_seconds_count";
    assert_eq!(value(&text, calls, &ok), Some(5.0), "{text}");
    assert_eq!(value(&text, calls, &err), Some(1.0));
    // The store's counters are read at the scrape (nothing journaled to this one).
    assert_eq!(
        value(&text, "troupe_store_commits_total", &[]),
        Some(store.stats().commits as f64)
    );
    assert_eq!(value(&text, "troupe_tasks_running", &[]), Some(0.0));
    assert_eq!(value(&text, "troupe_tasks_queued", &[]), Some(0.0));
    assert_eq!(value(&text, "troupe_workflows_running", &[]), Some(0.0));
    assert!(
        text.contains("# TYPE troupe_task_duration_seconds histogram"),
        "{text}"
    );
    assert!(text.contains("# HELP troupe_tasks_completed_total Tasks completed."));
    assert_promtool_ok(&["check", "metrics"], Some(&text));
    rt.shutdown().await;
}

#[tokio::test]
async fn two_runtimes_in_one_process_keep_their_own_figures() {
    let mut texts = Vec::new();
    for (name, tasks) in [("n1", 1usize), ("n2", 3)] {
        let rt = Runtime::start(RuntimeConfig::named(name)).await.unwrap();
        register_test_kinds(&rt);
        let metrics = Metrics::new(name);
        metrics.observe(&rt);
        let mut events = rt.subscribe();
        let mut b = WorkflowSpec::builder("solo").pool("echo", op("echo", 0, 1));
        for t in 0..tasks {
            b = b.task(TaskSpec::new(format!("t{t}"), "echo").input(json!(t)));
        }
        rt.submit(b.build()).await.unwrap().wait().await.unwrap();
        let done = wait_for(&mut events, |e| {
            matches!(e.kind, EventKind::WorkflowCompleted { .. })
        })
        .await;
        metrics.caught_up(done.seq).await;
        texts.push((tasks, metrics));
        rt.shutdown().await;
    }
    for (tasks, metrics) in texts {
        let text = metrics.render();
        assert_eq!(
            value(&text, "troupe_tasks_completed_total", &[]),
            Some(tasks as f64),
            "{text}"
        );
    }
}

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

#[test]
fn the_alert_rules_pass_promtool_check_and_their_unit_tests() {
    let rules = deploy().join("prometheus/alerts.yml");
    assert_promtool_ok(&["check", "rules", rules.to_str().unwrap()], None);
    let tests = deploy().join("prometheus/alerts_test.yml");
    assert_promtool_ok(&["test", "rules", tests.to_str().unwrap()], None);
}

#[test]
fn the_dashboard_is_json_and_queries_only_series_the_runtime_exports() {
    let text = std::fs::read_to_string(deploy().join("grafana/troupe.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let panels = dash["panels"].as_array().expect("panels");
    assert!(panels.len() >= 6);
    let exported = include_str!("../src/metrics/consumer.rs").to_string()
        + include_str!("../../cluster/src/metrics.rs");
    for p in panels {
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().unwrap();
            for name in expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("troupe_"))
            {
                let base = name
                    .trim_end_matches("_bucket")
                    .trim_end_matches("_count")
                    .trim_end_matches("_sum");
                assert!(
                    exported.contains(&format!("\"{base}\"")),
                    "{name} in {expr}"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_store_commit_is_one_observation_of_the_fsync_histogram() {
    use troupe_runtime::store::{KeyedRecord, SqliteOptions, SqliteStore, Store, Timestamp};
    let dir = troupe_runtime::store::testing::TempDir::new("fsync-metric").unwrap();
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(
        SqliteStore::open(dir.path().join("m.db"), SqliteOptions::default())
            .await
            .unwrap(),
    );
    let metrics = Metrics::new("fsync");
    metrics.observe_store(store.clone());
    for i in 0..5 {
        let r = KeyedRecord::new("k", format!("{i}"), json!(i), Timestamp::from_millis(1));
        store.put_keyed(r).await.unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(troupe_runtime::metrics::http::serve(
        listener,
        metrics.clone(),
    ));
    let (_, _, text) = http_get(addr, "/metrics").await;
    let commits = store.stats().commits as f64;
    assert!(commits >= 5.0, "{commits}");
    assert_eq!(
        value(&text, "troupe_journal_fsync_seconds_count", &[]),
        Some(commits),
        "{text}"
    );
    assert!(value(&text, "troupe_journal_fsync_seconds_sum", &[]).unwrap() > 0.0);
    assert!(
        text.contains("# TYPE troupe_journal_fsync_seconds histogram"),
        "{text}"
    );
    assert_promtool_ok(&["check", "metrics"], Some(&text));
    // Taken once: a second scrape adds nothing without new commits.
    let (_, _, again) = http_get(addr, "/metrics").await;
    assert_eq!(
        value(&again, "troupe_journal_fsync_seconds_count", &[]),
        Some(commits)
    );
}
