//! LLM members of a handoff pattern: `llm.chat` agents with `transfer_to_<member>` tools, against
//! the scripted OpenAI-compatible server (real HTTP), really hand a conversation off.

use serde_json::json;
use troupe_agents::llm::testing::{Reply, ScriptedServer};
use troupe_patterns::handoff::{HandoffClient, HandoffConfig};
use troupe_runtime::Runtime;

#[tokio::test]
async fn an_llm_triage_member_transfers_to_an_llm_billing_member() {
    let server = ScriptedServer::start().await;
    server.respond_with(|request| {
        let system = request["messages"][0]["content"]
            .as_str()
            .unwrap_or_default();
        if system.contains("triage") {
            Reply::tool_calls([(
                "t1",
                "transfer_to_billing",
                json!({"message": "refund the double charge", "context": {"topic": "refund"}}),
            )])
        } else {
            let user = request["messages"].as_array().unwrap().last().unwrap()["content"].clone();
            Reply::text(format!(
                "billing handled: {}",
                user.as_str().unwrap_or_default()
            ))
        }
    });
    let rt = Runtime::start(Default::default()).await.unwrap();
    troupe_agents::register_all(rt.kinds());
    troupe_patterns::register_all(rt.kinds());
    let member = |system: &str, handoff: serde_json::Value| json!({"base_url": server.base_url(), "model": "m", "system": system, "handoff": handoff});
    let config = HandoffConfig::new("triage")
        .member(
            "triage",
            "llm.chat",
            member("You are triage.", json!({"members": ["billing"]})),
        )
        .member(
            "billing",
            "llm.chat",
            member("You are billing.", json!({"members": ["triage"]})),
        );
    let desk = HandoffClient::spawn(&rt, "desk", config).await.unwrap();
    let out = desk.turn("c1", "I was charged twice").await.unwrap();
    assert_eq!(
        out.reply,
        json!("billing handled: refund the double charge")
    );
    assert_eq!(out.active, "billing");
    assert_eq!(out.context["topic"], "refund");

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let tools: Vec<_> = requests[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].clone())
        .collect();
    assert_eq!(tools, [json!("transfer_to_billing")]);
    assert_eq!(
        requests[0].body["messages"][1]["content"],
        "I was charged twice"
    );
    // billing saw the context the handoff added.
    let billing = requests[1].body["messages"].as_array().unwrap();
    assert!(
        billing[1]["content"]
            .as_str()
            .unwrap()
            .contains("\"topic\":\"refund\""),
        "{billing:?}"
    );
    rt.shutdown().await;
}
