//! `llm.chat`'s tool loop, journal, memory and budgets against the scripted server (real HTTP).

use std::sync::Arc;

use serde_json::{json, Value};
use troupe_agents::llm::testing::{Reply, ScriptedServer};
use troupe_runtime::{Agent, AgentContext, AgentError, Runtime, Snapshot, SpawnOptions};

async fn runtime() -> Runtime {
    let rt = Runtime::start(Default::default()).await.unwrap();
    troupe_agents::register_all(rt.kinds());
    rt
}

fn config(server: &ScriptedServer, extra: Value) -> Value {
    let mut c = json!({"base_url": server.base_url(), "model": "m", "retry_backoff": "10ms", "reply": "full"});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

/// A tool that answers only once `n` calls are inside it at the same time: sequential calls
/// would never get past it (their tool deadline would fail them).
struct Rendezvous(Arc<tokio::sync::Barrier>);

impl Agent for Rendezvous {
    type Request = Value;
    type Reply = Value;
    type State = ();
    async fn init(&self, _: &AgentContext, _: Option<Snapshot>) -> Result<(), AgentError> {
        Ok(())
    }
    async fn handle(
        &self,
        _: &AgentContext,
        _: &mut (),
        request: Value,
    ) -> Result<Value, AgentError> {
        self.0.wait().await;
        Ok(json!({"met": request}))
    }
}

#[tokio::test]
async fn tool_calls_of_one_turn_run_concurrently_and_their_results_go_back_to_the_model() {
    let server = ScriptedServer::start().await;
    server.push(Reply::tool_calls([
        ("c1", "left", json!({"input": "L"})),
        ("c2", "right", json!({"input": "R"})),
        ("c3", "shout", json!({"input": "hi"})),
    ]));
    server.push(Reply::text("all done"));
    let rt = runtime().await;
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    rt.kinds().register("test.meet", "meets", move |_| {
        Ok(Rendezvous(barrier.clone()))
    });
    rt.spawn_kind("test.meet", "left", Value::Null)
        .await
        .unwrap();
    rt.spawn_kind("test.meet", "right", Value::Null)
        .await
        .unwrap();
    rt.spawn_kind("text.transform", "shout", json!({"op": "uppercase"}))
        .await
        .unwrap();
    let cfg = config(
        &server,
        json!({"tools": ["left", "right", {"agent": "shout", "description": "uppercases"}], "tool_timeout": "20s"}),
    );
    let agent = rt.spawn_kind("llm.chat", "caller", cfg).await.unwrap();
    let reply = agent.ask_value(json!("go"), None).await.unwrap();
    assert_eq!(reply["content"], "all done");
    assert_eq!(reply["steps"], 2);
    let failed: Vec<_> = reply["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["failed"].clone())
        .collect();
    assert_eq!(
        failed,
        [json!(false), json!(false), json!(false)],
        "{reply}"
    );

    let requests = server.requests();
    let tools = &requests[0].body["tools"];
    assert_eq!(tools[0]["function"]["name"], "left");
    assert_eq!(tools[2]["function"]["description"], "uppercases");
    let messages = requests[1].body["messages"].as_array().unwrap().clone();
    assert_eq!(messages[1]["tool_calls"][0]["function"]["name"], "left");
    let results: Vec<(Value, Value)> = messages[2..]
        .iter()
        .map(|m| (m["tool_call_id"].clone(), m["content"].clone()))
        .collect();
    assert_eq!(
        results,
        [
            (json!("c1"), json!(r#"{"met":"L"}"#)),
            (json!("c2"), json!(r#"{"met":"R"}"#)),
            (json!("c3"), json!(r#""HI""#)),
        ]
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn failing_slow_and_unknown_tools_are_reported_to_the_model_and_the_step_budget_is_typed() {
    let server = ScriptedServer::start().await;
    server.push(Reply::tool_calls([
        ("a", "slow", json!({"input": 1})),
        ("b", "broken", json!({"input": 2})),
        ("c", "nowhere", json!({})),
    ]));
    server.push(Reply::text("coped"));
    let rt = runtime().await;
    rt.spawn_kind("util.sleep", "slow", json!({"duration": "1h"}))
        .await
        .unwrap();
    rt.spawn_kind("util.fail", "broken", json!({"message": "disk on fire"}))
        .await
        .unwrap();
    let cfg = config(
        &server,
        json!({"tools": ["slow", "broken"], "tool_timeout": "200ms"}),
    );
    let agent = rt.spawn_kind("llm.chat", "coper", cfg).await.unwrap();
    let reply = agent.ask_value(json!("go"), None).await.unwrap();
    assert_eq!(reply["content"], "coped");
    let results: Vec<String> = reply["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["result"].as_str().unwrap().to_string())
        .collect();
    assert!(
        results[0].contains("slow did not reply within 200ms"),
        "{results:?}"
    );
    assert!(results[1].contains("disk on fire"), "{results:?}");
    assert!(results[2].contains("no tool `nowhere`"), "{results:?}");

    server.respond_with(|_| Reply::tool_calls([("x", "broken", json!({"input": 0}))]));
    let cfg = config(&server, json!({"tools": ["broken"], "max_steps": 3}));
    let looper = rt.spawn_kind("llm.chat", "looper", cfg).await.unwrap();
    let before = server.requests().len();
    let err = looper
        .ask_value(json!("loop"), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no final answer within 3 model turns (config `max_steps`)"),
        "{err}"
    );
    assert_eq!(server.requests().len() - before, 3);
    rt.shutdown().await;
}

#[tokio::test]
async fn a_repeated_keyed_call_replays_its_journal_and_never_repeats_a_completed_tool_call() {
    let dir = tempfile::tempdir().unwrap();
    let effects = dir.path().join("effects.txt");
    let server = ScriptedServer::start().await;
    server.push(Reply::tool_calls([(
        "w1",
        "write",
        json!({"input": ["first"]}),
    )]));
    server.push(Reply::status(400)); // the attempt fails after the tool ran
    let rt = runtime().await;
    let script = format!("echo \"$1\" >> {}; echo wrote", effects.display());
    rt.spawn_kind(
        "cmd.run",
        "write",
        json!({"program": script, "shell": true}),
    )
    .await
    .unwrap();
    let cfg = config(
        &server,
        json!({"tools": ["write"], "journal_dir": dir.path().join("journal")}),
    );
    let agent = rt.spawn_kind("llm.chat", "writer", cfg).await.unwrap();
    let key = "run-7/task/1";
    let err = agent
        .ask_value_keyed(json!("write it"), key, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("answered 400"), "{err}");
    assert_eq!(std::fs::read_to_string(&effects).unwrap(), "first\n");

    // The same attempt again (a resumed run repeats the in-flight attempt with its key): the
    // model's first turn and the tool's result come from the journal.
    server.push(Reply::text("written once"));
    let reply = agent
        .ask_value_keyed(json!("write it"), key, None)
        .await
        .unwrap();
    assert_eq!(reply["content"], "written once");
    assert_eq!(
        std::fs::read_to_string(&effects).unwrap(),
        "first\n",
        "the tool did not run again"
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "turn 0 was replayed, not asked again");
    let last = requests[2].body["messages"].as_array().unwrap();
    assert_eq!(last.last().unwrap()["tool_call_id"], "w1");
    assert!(last.last().unwrap()["content"]
        .as_str()
        .unwrap()
        .contains("wrote"));

    // Another key is another call: the tool runs.
    server.push(Reply::tool_calls([(
        "w1",
        "write",
        json!({"input": ["second"]}),
    )]));
    server.push(Reply::text("again"));
    agent
        .ask_value_keyed(json!("write it"), "run-7/task/2", None)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&effects).unwrap(),
        "first\nsecond\n"
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn memory_carries_the_conversation_and_survives_in_the_snapshot() {
    let server = ScriptedServer::start().await;
    server.push(Reply::text("Hello Ann"));
    server.push(Reply::text("Your name is Ann"));
    server.push(Reply::text("Still Ann"));
    let rt = runtime().await;
    let cfg = config(
        &server,
        json!({"system": "Be kind.", "memory": {"max_messages": 4}, "reply": "content"}),
    );
    let agent = rt
        .spawn_kind("llm.chat", "friend", cfg.clone())
        .await
        .unwrap();
    agent.ask_value(json!("I am Ann"), None).await.unwrap();
    agent.ask_value(json!("Who am I?"), None).await.unwrap();
    let contents = |i: usize| -> Vec<String> {
        server.requests()[i].body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        contents(1),
        ["Be kind.", "I am Ann", "Hello Ann", "Who am I?"]
    );

    let snapshot = agent
        .snapshot()
        .await
        .unwrap()
        .expect("memory is snapshotted");
    rt.stop_agent("friend").await;
    let options = SpawnOptions::default().from_snapshot(snapshot);
    let again = rt
        .spawn_kind_with("llm.chat", "friend", cfg, options)
        .await
        .unwrap();
    again.ask_value(json!("And now?"), None).await.unwrap();
    assert_eq!(
        contents(2),
        [
            "Be kind.",
            "I am Ann",
            "Hello Ann",
            "Who am I?",
            "Your name is Ann",
            "And now?"
        ],
        "the restored agent remembers"
    );
    server.push(Reply::text("Bye"));
    again.ask_value(json!("Bye"), None).await.unwrap();
    // max_messages 4: the oldest exchange went first.
    assert_eq!(
        contents(3),
        [
            "Be kind.",
            "Who am I?",
            "Your name is Ann",
            "And now?",
            "Still Ann",
            "Bye"
        ]
    );
    rt.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn twenty_agents_sharing_a_budget_never_exceed_it() {
    const RPM: usize = 5;
    const TPM: u64 = 40;
    let server = ScriptedServer::start().await;
    server.respond_with(|_| Reply::text("ok").usage(4, 4)); // 8 tokens a call
    let rt = runtime().await;
    let cfg = config(
        &server,
        json!({"timeout": "1h", "max_tokens": 1, "budget": {"requests_per_minute": RPM, "tokens_per_minute": TPM}}),
    );
    let mut agents = Vec::new();
    for i in 0..20 {
        agents.push(
            rt.spawn_kind("llm.chat", format!("a{i}"), cfg.clone())
                .await
                .unwrap(),
        );
    }
    let mut calls = tokio::task::JoinSet::new();
    for (i, a) in agents.into_iter().enumerate() {
        calls.spawn(async move { a.ask_value(json!(format!("q{i}")), None).await });
    }
    while let Some(r) = calls.join_next().await {
        r.unwrap().unwrap();
    }
    let requests = server.requests();
    assert_eq!(requests.len(), 20);
    let window = std::time::Duration::from_secs(60);
    for r in &requests {
        let inside: Vec<_> = requests
            .iter()
            .filter(|o| o.at >= r.at && o.at - r.at < window)
            .collect();
        assert!(
            inside.len() <= RPM,
            "{} requests within a minute",
            inside.len()
        );
        assert!(
            inside.len() as u64 * 8 <= TPM,
            "{} tokens within a minute",
            inside.len() * 8
        );
    }
    let span = requests.last().unwrap().at - requests[0].at;
    assert!(
        span >= window * 3,
        "20 calls at 5 a minute span at least 3 minutes: {span:?}"
    );
    rt.shutdown().await;
}
