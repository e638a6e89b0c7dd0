//! The kinds as a workflow uses them: registered on a real runtime, spawned by name from JSON
//! config, called with JSON requests.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use troupe_runtime::{CallError, DynAgentRef, EventKind, Runtime, SpawnError};

async fn runtime() -> Runtime {
    let runtime = Runtime::start(Default::default()).await.unwrap();
    troupe_agents::register_all(runtime.kinds());
    runtime
}

async fn spawn(runtime: &Runtime, kind: &str, id: &str, config: Value) -> DynAgentRef {
    runtime.spawn_kind(kind, id, config).await.unwrap()
}

/// The spawn error (`DynAgentRef` has no `Debug`, so no `unwrap_err`).
async fn spawn_err(runtime: &Runtime, kind: &str, config: Value) -> SpawnError {
    match runtime.spawn_kind(kind, "refused", config).await {
        Ok(_) => panic!("{kind} accepted a bad config"),
        Err(e) => e,
    }
}

async fn ask(agent: &DynAgentRef, request: Value) -> Result<Value, CallError> {
    agent.ask_value(request, None).await
}

#[tokio::test]
async fn register_all_registers_every_listed_kind() {
    let rt = runtime().await;
    let mut listed: Vec<&str> = troupe_agents::KINDS.iter().map(|(n, _)| *n).collect();
    listed.sort_unstable();
    assert_eq!(rt.kinds().names(), listed);
    for (name, description) in troupe_agents::KINDS {
        assert_eq!(rt.kinds().get(name).unwrap().description(), *description);
    }
    rt.shutdown().await;
}

#[tokio::test]
async fn word_count_pipeline_read_split_count_merge_pick() {
    let rt = runtime().await;
    let path = std::env::temp_dir().join(format!("troupe-agents-e2e-{}.txt", std::process::id()));
    std::fs::write(&path, "The cat sat.\nThe dog sat.\n\nA bird, the end.\n").unwrap();

    let read = spawn(&rt, "text.read", "read", json!({"path": path})).await;
    let split = spawn(&rt, "text.split", "split", json!({"by": "paragraphs"})).await;
    let count = spawn(
        &rt,
        "text.count",
        "count",
        json!({"top": 2, "counts": true}),
    )
    .await;
    let merge = spawn(&rt, "text.merge_counts", "merge", json!({"top": 3})).await;
    let pick = spawn(
        &rt,
        "json.pick",
        "pick",
        json!({"fields": {"words": "words", "best": "top.0"}}),
    )
    .await;

    let text = ask(&read, Value::Null).await.unwrap();
    let chunks = ask(&split, text).await.unwrap();
    assert_eq!(
        chunks,
        json!(["The cat sat.\nThe dog sat.", "A bird, the end."])
    );
    // What a `parallel: true` task does: one request per element, replies gathered in order.
    let mut counts = Vec::new();
    for chunk in chunks.as_array().unwrap() {
        counts.push(ask(&count, chunk.clone()).await.unwrap());
    }
    assert_eq!(counts[1]["top"], json!([["a", 1], ["bird", 1]]));
    let total = ask(&merge, Value::Array(counts)).await.unwrap();
    assert_eq!(total["top"], json!([["the", 3], ["sat", 2], ["a", 1]]));
    assert_eq!(
        (total["words"].clone(), total["lines"].clone()),
        (json!(10), json!(3))
    );
    assert_eq!(
        ask(&pick, total).await.unwrap(),
        json!({"words": 10, "best": ["the", 3]})
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn bad_config_is_refused_at_spawn_naming_the_field() {
    let rt = runtime().await;
    let err = spawn_err(&rt, "text.split", json!({"size": "ten"})).await;
    match &err {
        SpawnError::BadConfig(e) => {
            assert_eq!((e.kind.as_str(), e.path.as_str()), ("text.split", "/size"));
            assert!(e.reason.starts_with("invalid type: string \"ten\""), "{e}");
        }
        other => panic!("expected BadConfig, got {other:?}"),
    }
    let err = spawn_err(&rt, "cmd.run", json!({"args": ["x"]})).await;
    assert_eq!(
        err.to_string(),
        "agent kind cmd.run: bad config: missing field `program`"
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn bad_requests_are_refused_with_what_fits() {
    let rt = runtime().await;
    let split = spawn(&rt, "text.split", "split", Value::Null).await;
    let err = ask(&split, json!(42)).await.unwrap_err();
    assert!(matches!(err, CallError::BadRequest { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("expected text (a string, or an object {\"text\": \"...\"}), got a number"),
        "{err}"
    );
    assert!(!err.is_retryable());

    let upper = spawn(&rt, "text.transform", "upper", json!({"op": "uppercase"})).await;
    let err = ask(&upper, json!(["ok", 1])).await.unwrap_err();
    assert_eq!(err.class(), "permanent");
    assert!(
        err.to_string()
            .ends_with("element 1: expected a string or an array of strings, got a number"),
        "{err}"
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn cmd_run_replies_with_status_and_output() {
    let rt = runtime().await;
    let cat = spawn(&rt, "cmd.run", "cat", json!({"program": "cat"})).await;
    assert_eq!(
        ask(&cat, json!("piped")).await.unwrap(),
        json!({"status": 0, "stdout": "piped", "stderr": "", "truncated": false})
    );
    let exit3 = spawn(
        &rt,
        "cmd.run",
        "exit3",
        json!({"program": "sh", "args": ["-c", "exit 3"]}),
    )
    .await;
    let err = ask(&exit3, Value::Null).await.unwrap_err();
    assert_eq!(err.class(), "transient");
    assert!(
        err.to_string().ends_with("`sh` exited with status 3"),
        "{err}"
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn http_request_calls_a_loopback_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/status", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let mut seen = Vec::new();
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = sock.read(&mut buf).await.unwrap();
            assert!(n > 0, "client closed early");
            seen.extend_from_slice(&buf[..n]);
        }
        let body = b"{\"up\":true}";
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        sock.write_all(head.as_bytes()).await.unwrap();
        sock.write_all(body).await.unwrap();
    });
    let rt = runtime().await;
    let http = spawn(&rt, "http.request", "http", Value::Null).await;
    let reply = ask(&http, json!(url)).await.unwrap();
    assert_eq!(reply["status"], json!(200));
    assert_eq!(reply["body"], json!({"up": true}));
    assert_eq!(reply["headers"]["content-type"], json!("application/json"));
    server.await.unwrap();
    rt.shutdown().await;
}

#[tokio::test]
async fn http_request_with_an_unreadable_ca_file_is_refused_at_spawn() {
    let rt = runtime().await;
    let config = json!({"url": "https://example.test/", "ca_file": "/nonexistent/ca.pem"});
    let err = spawn_err(&rt, "http.request", config).await;
    let text = err.to_string();
    assert!(matches!(err, SpawnError::BadConfig { .. }), "{text}");
    assert!(
        text.contains("at /ca_file:") && text.contains("cannot read `/nonexistent/ca.pem`"),
        "{text}"
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn util_kinds_echo_fail_and_flake() {
    let rt = runtime().await;
    let echo = spawn(&rt, "util.echo", "echo", Value::Null).await;
    assert_eq!(
        ask(&echo, json!({"a": [1, 2]})).await.unwrap(),
        json!({"a": [1, 2]})
    );

    let fail = spawn(&rt, "util.fail", "fail", json!({"message": "nope"})).await;
    let err = ask(&fail, Value::Null).await.unwrap_err();
    assert_eq!(
        (err.class(), err.to_string()),
        ("permanent", "agent fail: nope".to_owned())
    );

    let flaky = spawn(&rt, "util.flaky", "flaky", json!({"failures": 2})).await;
    for call in 1..=2 {
        let err = ask(&flaky, json!("x")).await.unwrap_err();
        assert!(err.is_retryable(), "call {call}: {err}");
        assert!(
            err.to_string()
                .contains(&format!("call {call} of 2 failing")),
            "{err}"
        );
    }
    assert_eq!(ask(&flaky, json!("x")).await.unwrap(), json!("x"));

    let sleep = spawn(&rt, "util.sleep", "sleep", json!({"duration": "1ms"})).await;
    assert_eq!(ask(&sleep, json!(7)).await.unwrap(), json!(7));
    rt.shutdown().await;
}

#[tokio::test]
async fn util_crash_crashes_until_restarted_enough() {
    let rt = runtime().await;
    let mut events = rt.subscribe();
    let crash = spawn(&rt, "util.crash", "crash", json!({"starts": 1})).await;
    let err = ask(&crash, json!("hi")).await.unwrap_err();
    assert!(matches!(err, CallError::AgentFailed { .. }), "{err:?}");
    // Wait for the supervisor's restart (bounded, so a missing restart fails instead of hanging).
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let e = events.recv().await.unwrap();
            if e.agent.as_ref().is_some_and(|a| a.as_str() == "crash")
                && matches!(e.kind, EventKind::AgentRestarted { .. })
            {
                break;
            }
        }
    })
    .await
    .expect("util.crash was not restarted");
    assert_eq!(ask(&crash, json!("hi")).await.unwrap(), json!("hi"));
    rt.shutdown().await;
}
