//! An LLM coordinator of a supervisor pattern: an `llm.chat` member with `supervisor:` tools
//! splits a question into units for the team through `assign_units` and ends the job with
//! `finish`, against the scripted OpenAI-compatible server (real HTTP); the workers are
//! `llm.chat` agents too.

use serde_json::{json, Value};
use troupe_agents::llm::testing::{Reply, ScriptedServer};
use troupe_runtime::Runtime;

fn system_of(request: &Value) -> String {
    request["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn last_user(request: &Value) -> String {
    request["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn an_llm_coordinator_assigns_units_to_llm_workers_and_finishes_with_their_results() {
    let server = ScriptedServer::start().await;
    server.respond_with(|request| {
        let system = system_of(request);
        let user = last_user(request);
        if system.contains("coordinator") {
            if user.starts_with("Round 1 is done") {
                // The model saw the results: it finishes with them.
                Reply::tool_calls([(
                    "f",
                    "finish",
                    json!({"answer": format!("summary of {}", user.contains("answer to rust"))}),
                )])
            } else {
                Reply::tool_calls([(
                    "a",
                    "assign_units",
                    json!({"units": [
                        {"input": "rust", "capability": "research"},
                        {"input": "actors", "capability": "research"}
                    ]}),
                )])
            }
        } else {
            Reply::text(format!("answer to {user}"))
        }
    });
    let rt = Runtime::start(Default::default()).await.unwrap();
    troupe_agents::register_all(rt.kinds());
    troupe_patterns::register_all(rt.kinds());
    let llm = |system: &str, extra: Value| {
        let mut c = json!({"base_url": server.base_url(), "model": "m", "system": system});
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c
    };
    let config = json!({
        "members": {
            "plan": {"type": "llm.chat", "config": llm("You are the coordinator.", json!({"supervisor": {"capabilities": ["research"]}}))},
            "research": {"type": "llm.chat", "count": 2, "capabilities": ["research"], "config": llm("You research.", json!({}))}
        },
        "coordinator": "plan",
        "rounds": 2,
        "report": true
    });
    let desk = rt
        .spawn_kind("pattern.supervisor", "desk", config)
        .await
        .unwrap();
    let out = desk
        .ask_value(json!("What are Rust actors?"), None)
        .await
        .unwrap();
    assert_eq!(out["result"], json!("summary of true"));
    let rounds = out["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 1, "one round of units ran: {out}");
    let workers: Vec<_> = rounds[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["worker"].as_str().unwrap().to_string())
        .collect();
    assert!(
        workers.iter().all(|w| w.starts_with("desk/research/")),
        "units went to workers, not the coordinator: {workers:?}"
    );

    let requests = server.requests();
    let coordinator: Vec<_> = requests
        .iter()
        .filter(|r| system_of(&r.body).contains("coordinator"))
        .collect();
    assert_eq!(coordinator.len(), 2, "plan, then judge");
    let tools: Vec<_> = coordinator[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].clone())
        .collect();
    assert_eq!(tools, [json!("assign_units"), json!("finish")]);
    assert_eq!(last_user(&coordinator[0].body), "What are Rust actors?");
    let report = last_user(&coordinator[1].body);
    assert!(
        report.contains(r#"{"input":"rust","result":"answer to rust"}"#)
            && report.contains(r#"{"input":"actors","result":"answer to actors"}"#),
        "{report}"
    );
    let mut asked: Vec<_> = requests
        .iter()
        .filter(|r| system_of(&r.body).contains("research"))
        .map(|r| last_user(&r.body))
        .collect();
    asked.sort();
    assert_eq!(asked, ["actors", "rust"]);
    rt.shutdown().await;
}

#[tokio::test]
async fn a_unit_with_an_unknown_capability_goes_back_to_the_model_as_the_tool_error() {
    let server = ScriptedServer::start().await;
    server.push(Reply::tool_calls([(
        "a",
        "assign_units",
        json!({"units": [{"input": "x", "capability": "nope"}]}),
    )]));
    server.push(Reply::text("I give up"));
    let rt = Runtime::start(Default::default()).await.unwrap();
    troupe_agents::register_all(rt.kinds());
    troupe_patterns::register_all(rt.kinds());
    let config = json!({
        "members": {
            "plan": {"type": "llm.chat", "config": {"base_url": server.base_url(), "model": "m", "supervisor": {"capabilities": ["research"]}}},
            "w": {"type": "util.echo"}
        },
        "coordinator": "plan"
    });
    let desk = rt
        .spawn_kind("pattern.supervisor", "desk", config)
        .await
        .unwrap();
    // The bad capability goes back to the model as the tool's error; its plain answer is then
    // the job's answer ({"done": text}).
    let out = desk.ask_value(json!("q"), None).await.unwrap();
    assert_eq!(out, json!("I give up"));
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let tool = requests[1].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(tool.contains("capability \"nope\" is not one of"), "{tool}");
    rt.shutdown().await;
}
