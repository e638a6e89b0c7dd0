//! `llm.chat` against the scripted OpenAI-compatible server, over real HTTP on 127.0.0.1.

use serde_json::{json, Value};
use troupe_agents::llm::testing::{Reply, ScriptedServer};
use troupe_runtime::{EventKind, Runtime};

async fn runtime() -> Runtime {
    let rt = Runtime::start(Default::default()).await.unwrap();
    troupe_agents::register_all(rt.kinds());
    rt
}

fn config(server: &ScriptedServer, extra: Value) -> Value {
    let mut c =
        json!({"base_url": server.base_url(), "model": "test-model", "retry_backoff": "10ms"});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

#[tokio::test]
async fn a_plain_answer_sends_the_prompt_settings_and_key_and_reports_usage() {
    // A variable only this test reads.
    std::env::set_var("TROUPE_TEST_LLM_KEY_PLAIN", "sk-secret-123");
    let server = ScriptedServer::start().await;
    server.push(Reply::text("Paris").usage(12, 1));
    let rt = runtime().await;
    let mut events = rt.subscribe();
    let cfg = config(
        &server,
        json!({"api_key_env": "TROUPE_TEST_LLM_KEY_PLAIN", "system": "Answer briefly.",
               "prompt": "Capital of {input.country}?", "temperature": 0.2, "max_tokens": 5, "top_p": 0.9}),
    );
    let agent = rt.spawn_kind("llm.chat", "geo", cfg).await.unwrap();
    let reply = agent
        .ask_value(json!({"country": "France"}), None)
        .await
        .unwrap();
    assert_eq!(reply, json!("Paris"));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let body = &requests[0].body;
    assert_eq!(body["model"], "test-model");
    assert_eq!(
        body["messages"],
        json!([{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Capital of France?"}])
    );
    assert_eq!(
        (
            body["temperature"].clone(),
            body["max_tokens"].clone(),
            body["top_p"].clone()
        ),
        (json!(0.2), json!(5), json!(0.9))
    );
    assert_eq!(requests[0].headers["authorization"], "Bearer sk-secret-123");
    assert!(body.get("stream").is_none() && body.get("tools").is_none());

    let usage = loop {
        let e = events.recv().await.unwrap();
        if let EventKind::LlmUsage { .. } = &e.kind {
            break e;
        }
    };
    assert_eq!(usage.agent.as_ref().map(|a| a.as_str()), Some("geo"));
    assert_eq!(
        usage.kind,
        EventKind::LlmUsage {
            call: "geo#1".into(),
            model: "test-model".into(),
            prompt_tokens: 12,
            completion_tokens: 1,
            total_tokens: 13
        }
    );
    // The key is in no config, reply or Debug output.
    let llm = troupe_agents::LlmChat::from_config(
        &config(&server, json!({"api_key_env": "TROUPE_TEST_LLM_KEY_PLAIN"})),
        &Default::default(),
    )
    .unwrap();
    assert!(!format!("{llm:?}").contains("sk-secret-123"), "{llm:?}");
    rt.shutdown().await;
}

#[tokio::test]
async fn structured_output_is_the_parsed_json_and_a_misfit_names_the_path() {
    let server = ScriptedServer::start().await;
    server.push(Reply::text(r#"{"sub_questions": ["a?", "b?"]}"#));
    server.push(Reply::text(r#"{"sub_questions": ["a?", 7]}"#));
    server.push(Reply::text("Sure! Here are the questions"));
    let rt = runtime().await;
    let schema = json!({"type": "object", "required": ["sub_questions"],
        "properties": {"sub_questions": {"type": "array", "items": {"type": "string"}}}});
    let cfg = config(
        &server,
        json!({"response_format": {"name": "plan", "schema": schema}, "reply": "full"}),
    );
    let agent = rt.spawn_kind("llm.chat", "planner", cfg).await.unwrap();

    let reply = agent.ask_value(json!("split it"), None).await.unwrap();
    assert_eq!(reply["content"], json!({"sub_questions": ["a?", "b?"]}));
    assert_eq!(reply["steps"], 1);
    assert!(reply["usage"]["total_tokens"].as_u64().unwrap() > 0);
    let sent = &server.requests()[0].body["response_format"];
    assert_eq!(sent["type"], "json_schema");
    assert_eq!(sent["json_schema"]["name"], "plan");
    assert_eq!(sent["json_schema"]["schema"], schema);

    let misfit = agent
        .ask_value(json!("again"), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        misfit.contains("/sub_questions/1: expected string, got a number"),
        "{misfit}"
    );
    let prose = agent
        .ask_value(json!("again"), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        prose.contains("response_format") && prose.contains("not JSON"),
        "{prose}"
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn streamed_tokens_arrive_as_events_in_order() {
    let server = ScriptedServer::start().await;
    let text = "Actors share nothing and talk by messages";
    server.push(Reply::text(text).usage(9, 7));
    let rt = runtime().await;
    let mut events = rt.subscribe();
    let agent = rt
        .spawn_kind(
            "llm.chat",
            "streamer",
            config(&server, json!({"stream": true})),
        )
        .await
        .unwrap();
    let reply = agent
        .ask_value(json!("explain actors"), None)
        .await
        .unwrap();
    assert_eq!(reply, json!(text));
    assert_eq!(server.requests()[0].body["stream"], true);

    let mut tokens = Vec::new();
    loop {
        let e = events.recv().await.unwrap();
        match e.kind {
            EventKind::LlmToken { index, text, .. } => tokens.push((index, text)),
            EventKind::LlmUsage { total_tokens, .. } => {
                assert_eq!(total_tokens, 16);
                break;
            }
            _ => {}
        }
    }
    let indices: Vec<u64> = tokens.iter().map(|(i, _)| *i).collect();
    assert_eq!(indices, (0..7).collect::<Vec<_>>());
    let joined: String = tokens.into_iter().map(|(_, t)| t).collect();
    assert_eq!(joined, text);
    rt.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_obeyed_on_429_and_5xx_is_retried_but_4xx_is_not() {
    let server = ScriptedServer::start().await;
    server.push(Reply::status(429).retry_after(7));
    server.push(Reply::status(503));
    server.push(Reply::text("finally"));
    let rt = runtime().await;
    let agent = rt
        .spawn_kind(
            "llm.chat",
            "patient",
            config(&server, json!({"retry_backoff": "2s", "timeout": "1h"})),
        )
        .await
        .unwrap();
    assert_eq!(
        agent.ask_value(json!("hi"), None).await.unwrap(),
        json!("finally")
    );
    let at: Vec<_> = server.requests().iter().map(|r| r.at).collect();
    assert_eq!(at.len(), 3);
    // Paused clock: the waits are exactly what the server and the backoff said.
    assert!(
        at[1] - at[0] >= std::time::Duration::from_secs(7),
        "{:?}",
        at[1] - at[0]
    );
    assert!(
        at[2] - at[1] >= std::time::Duration::from_secs(2),
        "{:?}",
        at[2] - at[1]
    );

    server.push(Reply::status(400));
    let err = agent
        .ask_value(json!("bad"), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("answered 400"), "{err}");
    assert_eq!(server.requests().len(), 4, "a 400 is not retried");

    for _ in 0..3 {
        server.push(Reply::status(500));
    }
    let cfg = config(
        &server,
        json!({"retries": 2, "retry_backoff": "1s", "timeout": "1h"}),
    );
    let quick = rt.spawn_kind("llm.chat", "quick", cfg).await.unwrap();
    let err = quick
        .ask_value(json!("x"), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("answered 500"), "{err}");
    assert_eq!(
        server.requests().len(),
        7,
        "the first attempt and 2 retries"
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn bad_configs_are_refused_with_the_field() {
    let rt = runtime().await;
    let kind = rt.kinds().get("llm.chat").unwrap();
    let cases = [
        (json!({"model": "m"}), "/base_url"),
        (json!({"base_url": "ftp://x/v1", "model": "m"}), "/base_url"),
        (json!({"base_url": "http://127.0.0.1:1/v1"}), "/model"),
        (
            json!({"base_url": "http://127.0.0.1:1/v1", "model": "m", "api_key_env": "TROUPE_TEST_UNSET_VAR_42"}),
            "/api_key_env",
        ),
        (
            json!({"base_url": "http://127.0.0.1:1/v1", "model": "m", "temprature": 1}),
            "",
        ),
        (
            json!({"base_url": "http://127.0.0.1:1/v1", "model": "m", "max_steps": 0}),
            "/max_steps",
        ),
        (
            json!({"base_url": "http://127.0.0.1:1/v1", "model": "m", "tools": ["bad name"]}),
            "/tools/0",
        ),
        (
            json!({"base_url": "http://127.0.0.1:1/v1", "model": "m", "response_format": {"schema": 3}}),
            "/response_format/schema",
        ),
        (
            json!({"base_url": "http://127.0.0.1:1/v1", "model": "m", "prompt": "{nope}"}),
            "/prompt",
        ),
    ];
    for (config, path) in cases {
        let e = kind.validate(&config).unwrap_err();
        assert_eq!(e.kind, "llm.chat", "{e}");
        assert!(e.path.starts_with(path), "{config}: {e}");
        if path.is_empty() {
            assert!(e.to_string().contains("temprature"), "{e}");
        }
    }
    rt.shutdown().await;
}
