//! `llm.chat` with MCP tools: the repository's `troupe-mcp-demo` server runs as a real child
//! process over stdio (rmcp), beside an agent tool, against the scripted endpoint.

use serde_json::{json, Value};
use troupe_agents::llm::testing::{Reply, ScriptedServer};
use troupe_runtime::Runtime;

#[tokio::test]
async fn a_tool_loop_calls_an_agent_tool_and_mcp_tools_and_a_replay_repeats_neither() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mcp.log");
    let server = ScriptedServer::start().await;
    server.push(Reply::tool_calls([
        ("m1", "demo__word_count", json!({"text": "one two three"})),
        ("m2", "demo__append_line", json!({"line": "hello"})),
        ("a1", "shout", json!({"input": "quiet"})),
    ]));
    server.push(Reply::status(400)); // the attempt fails after the tools ran
    let rt = Runtime::start(Default::default()).await.unwrap();
    troupe_agents::register_all(rt.kinds());
    rt.spawn_kind("text.transform", "shout", json!({"op": "uppercase"}))
        .await
        .unwrap();
    let config = json!({
        "base_url": server.base_url(), "model": "m", "reply": "full", "retry_backoff": "10ms",
        "tools": ["shout"],
        "mcp": [{"name": "demo", "command": [env!("CARGO_BIN_EXE_troupe-mcp-demo")],
                 "env": {"TROUPE_MCP_DEMO_LOG": log.to_str().unwrap()}}],
        "journal_dir": dir.path().join("journal"),
    });
    let agent = rt.spawn_kind("llm.chat", "mcp-user", config).await.unwrap();
    let key = "run-9/task/1";
    agent
        .ask_value_keyed(json!("go"), key, None)
        .await
        .unwrap_err();

    // The MCP server's tools were offered with their own schemas.
    let requests = server.requests();
    let names: Vec<&str> = requests[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["shout", "demo__word_count", "demo__append_line"]);
    assert_eq!(
        requests[0].body["tools"][1]["function"]["parameters"]["required"],
        json!(["text"])
    );
    let results: Vec<(Value, Value)> = requests[1].body["messages"].as_array().unwrap()[2..]
        .iter()
        .map(|m| (m["tool_call_id"].clone(), m["content"].clone()))
        .collect();
    assert_eq!(
        results,
        [
            (json!("m1"), json!(r#"{"words":3}"#)),
            (json!("m2"), json!(r#""appended""#)),
            (json!("a1"), json!(r#""QUIET""#)),
        ]
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "hello\n");

    server.push(Reply::text("done"));
    let reply = agent.ask_value_keyed(json!("go"), key, None).await.unwrap();
    assert_eq!(reply["content"], "done");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "hello\n",
        "the MCP side effect ran once"
    );
    assert_eq!(server.requests().len(), 3);
    rt.shutdown().await;
}

#[tokio::test]
async fn an_mcp_server_that_cannot_start_is_a_typed_error_naming_it() {
    let server = ScriptedServer::start().await;
    let rt = Runtime::start(Default::default()).await.unwrap();
    troupe_agents::register_all(rt.kinds());
    let config = json!({"base_url": server.base_url(), "model": "m", "retries": 0,
        "mcp": [{"name": "ghost", "command": ["/nonexistent/troupe-mcp-ghost"]}]});
    let agent = rt.spawn_kind("llm.chat", "lonely", config).await.unwrap();
    let err = agent
        .ask_value(json!("hi"), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("MCP server `ghost`") && err.contains("troupe-mcp-ghost"),
        "{err}"
    );
    assert!(
        server.requests().is_empty(),
        "no model call without its tools"
    );
    rt.shutdown().await;
}
