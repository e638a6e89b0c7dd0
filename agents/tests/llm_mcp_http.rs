//! `llm.chat` with an MCP server over streamable HTTP: the repository's `troupe-mcp-demo` runs
//! as a real process serving `/mcp` on 127.0.0.1 (rmcp's transport on both sides), against the
//! scripted endpoint.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::json;
use troupe_agents::llm::testing::{Reply, ScriptedServer};
use troupe_runtime::Runtime;

/// The demo server over HTTP, killed when dropped.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the demo server on a free port; its URL from its first line.
fn start_demo(log: &std::path::Path) -> (Demo, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_troupe-mcp-demo"))
        .args(["--http", "127.0.0.1:0"])
        .env("TROUPE_MCP_DEMO_LOG", log)
        .stdout(Stdio::piped())
        .spawn()
        .expect("troupe-mcp-demo starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (Demo(child), url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_loop_calls_mcp_tools_over_streamable_http() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mcp.log");
    let (_demo, url) = start_demo(&log);
    let server = ScriptedServer::start().await;
    server.push(Reply::tool_calls([
        (
            "m1",
            "web__word_count",
            json!({"text": "one two three four"}),
        ),
        ("m2", "web__append_line", json!({"line": "over http"})),
    ]));
    server.push(Reply::text("four words, logged"));
    let rt = Runtime::start(Default::default()).await.unwrap();
    troupe_agents::register_all(rt.kinds());
    let config = json!({
        "base_url": server.base_url(), "model": "m", "reply": "full",
        "mcp": [{"name": "web", "url": url}],
    });
    let agent = rt.spawn_kind("llm.chat", "http-mcp", config).await.unwrap();
    let reply = agent.ask_value(json!("count"), None).await.unwrap();
    assert_eq!(reply["content"], "four words, logged");
    assert_eq!(reply["steps"], 2);

    let requests = server.requests();
    let names: Vec<&str> = requests[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web__word_count", "web__append_line"]);
    let results: Vec<_> = requests[1].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| (m["tool_call_id"].clone(), m["content"].clone()))
        .collect();
    assert_eq!(
        results,
        [
            (json!("m1"), json!(r#"{"words":4}"#)),
            (json!("m2"), json!(r#""appended""#)),
        ]
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "over http\n");
    rt.shutdown().await;
}

#[tokio::test]
async fn an_mcp_url_nobody_serves_is_a_typed_error_naming_the_server() {
    let server = ScriptedServer::start().await;
    let rt = Runtime::start(Default::default()).await.unwrap();
    troupe_agents::register_all(rt.kinds());
    // A port that was free a moment ago: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = json!({"base_url": server.base_url(), "model": "m", "retries": 0,
        "mcp": [{"name": "gone", "url": format!("http://127.0.0.1:{port}/mcp")}]});
    let agent = rt.spawn_kind("llm.chat", "lonely", config).await.unwrap();
    let err = agent
        .ask_value(json!("hi"), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("MCP server `gone`") && err.contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert!(server.requests().is_empty());
    let bad = json!({"base_url": server.base_url(), "model": "m",
        "mcp": [{"name": "x", "url": "ftp://h/mcp"}]});
    let e = rt
        .spawn_kind("llm.chat", "bad", bad)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("/mcp/0/url"), "{e}");
    rt.shutdown().await;
}
