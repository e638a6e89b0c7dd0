//! `llm.chat` overhead per call against a raw reqwest call to the same local scripted server
//! (same request body, same reply), so the difference is the agent: the actor hop, prompt
//! building, the request's JSON, parsing the completion, the usage event. Budget: ≤ 1.1× the raw
//! call at the median.
//!
//!   cargo bench -p troupe-agents --bench llm_overhead

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};
use troupe_agents::llm::testing::{Reply, ScriptedServer};
use troupe_runtime::Runtime;

fn overhead(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (server, agent) = rt.block_on(async {
        let server = ScriptedServer::start().await;
        server.respond_with(|_| Reply::text("The answer is 42.").usage(20, 6));
        let runtime = Runtime::start(Default::default()).await.unwrap();
        troupe_agents::register_all(runtime.kinds());
        let config = json!({"base_url": server.base_url(), "model": "bench", "system": "Be brief.",
                            "temperature": 0});
        let agent = runtime
            .spawn_kind("llm.chat", "bench", config)
            .await
            .unwrap();
        // Keep the runtime alive for the whole bench (the agent holds it weakly).
        std::mem::forget(runtime);
        (server, agent)
    });
    let url = format!("{}/chat/completions", server.base_url());
    let client = reqwest::Client::new();
    let body = json!({"model": "bench", "temperature": 0, "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is the answer?"}]})
    .to_string();

    let mut group = c.benchmark_group("llm_call");
    group.bench_function("raw_reqwest", |b| {
        b.to_async(&rt).iter(|| async {
            let reply = client
                .post(&url)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let v: Value = serde_json::from_slice(&reply).unwrap();
            assert_eq!(v["choices"][0]["message"]["content"], "The answer is 42.");
        })
    });
    group.bench_function("llm_chat", |b| {
        b.to_async(&rt).iter(|| async {
            let v = agent
                .ask_value(json!("What is the answer?"), None)
                .await
                .unwrap();
            assert_eq!(v, json!("The answer is 42."));
        })
    });
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
