//! `llm`: `llm.chat` against a local scripted OpenAI-compatible server (real HTTP on
//! 127.0.0.1, the one in `troupe_agents::llm::testing`), beside raw reqwest calls to the same
//! server with the same request body, so the difference is the agent: the actor hop, building
//! the prompt and the request's JSON, parsing the completion, the usage event.
//!
//! | scenario | subject | baseline |
//! |---|---|---|
//! | llm.chat call | one `llm.chat` ask (a plain answer) | one raw reqwest POST of the same body, its reply parsed |
//! | 1,000 concurrent agents | 1,000 `llm.chat` agents asked at once | 1,000 concurrent raw reqwest calls (one shared client) |
//! | 1,000 agents memory | RSS growth per `llm.chat` agent after one call each (a child process per sample) | per tokio task holding a raw call's reply |
//!
//! Budget: the call's overhead ≤ 1.1× the raw call at p50.

use std::sync::Arc;

use serde_json::{json, Value};
use troupe_agents::llm::testing::{Reply, ScriptedServer};
use troupe_runtime::{DynAgentRef, Runtime, RuntimeConfig};

use super::Context;
use crate::budget::Budget;
use crate::scenario::{reason, time_each, Plan, Prepared, Reason, Scenario, Unit, Variant};

/// Agents of the concurrency and memory scenarios.
const AGENTS: u64 = 1_000;
const ANSWER: &str = "The answer is 42.";
const QUESTION: &str = "What is the answer?";

/// The scenarios of the suite.
pub fn scenarios(ctx: &Context) -> Vec<Scenario> {
    let mem = ctx.clone();
    vec![
        Scenario::new(
            "llm",
            "llm.chat call",
            Unit::per_op("call"),
            Plan::batch(ctx.size.pick(300, 1_000)).warmup(50),
            setup_call,
        )
        .describe("one chat completion through an llm.chat agent vs a raw reqwest POST")
        .budget(Budget::RatioAtMost { max: 1.1 }),
        Scenario::new(
            "llm",
            "1,000 concurrent agents",
            Unit::batch(AGENTS, "call"),
            Plan::heavy(ctx.size.pick(3, 6)).warmup(1),
            setup_concurrent,
        )
        .describe("1,000 llm.chat agents each asked once, all at once"),
        Scenario::new(
            "llm",
            "1,000 agents memory",
            Unit::Bytes,
            Plan::heavy(2),
            move || setup_memory(mem.clone()),
        )
        .describe("RSS growth per llm.chat agent after one call each, one process per sample"),
    ]
}

/// The server answering every request with [`ANSWER`].
async fn server() -> ScriptedServer {
    let server = ScriptedServer::start().await;
    server.respond_with(|_| Reply::text(ANSWER).usage(20, 6));
    server
}

fn agent_config(server: &ScriptedServer) -> Value {
    json!({"base_url": server.base_url(), "model": "bench", "system": "Be brief.",
           "temperature": 0, "retries": 0})
}

/// The raw call: the body `llm.chat` sends for [`QUESTION`], posted and its reply parsed.
struct Raw {
    client: reqwest::Client,
    url: String,
    body: String,
}

impl Raw {
    fn new(server: &ScriptedServer) -> Self {
        let body = json!({"model": "bench", "temperature": 0, "messages": [
            {"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION}]});
        Self {
            client: reqwest::Client::new(),
            url: format!("{}/chat/completions", server.base_url()),
            body: body.to_string(),
        }
    }

    async fn call(&self) -> Result<(), Reason> {
        let reply = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(self.body.clone())
            .send()
            .await
            .map_err(reason)?
            .bytes()
            .await
            .map_err(reason)?;
        let v: Value = serde_json::from_slice(&reply).map_err(reason)?;
        check(&v["choices"][0]["message"]["content"])
    }
}

fn check(content: &Value) -> Result<(), Reason> {
    match content.as_str() {
        Some(ANSWER) => Ok(()),
        _ => Err(format!("unexpected answer {content}")),
    }
}

async fn runtime_with_agents(
    server: &ScriptedServer,
    n: u64,
) -> Result<(Runtime, Vec<DynAgentRef>), Reason> {
    let rt = Runtime::start(RuntimeConfig::named("bench-llm"))
        .await
        .map_err(reason)?;
    troupe_agents::register_all(rt.kinds());
    let mut agents = Vec::with_capacity(n as usize);
    for i in 0..n {
        let a = rt
            .spawn_kind(
                "llm.chat",
                format!("llm-{i}").as_str(),
                agent_config(server),
            )
            .await
            .map_err(reason)?;
        agents.push(a);
    }
    Ok((rt, agents))
}

async fn setup_call() -> Result<Prepared, Reason> {
    let server = Arc::new(server().await);
    let (rt, agents) = runtime_with_agents(&server, 1).await?;
    let agent = agents[0].clone();
    let raw = Arc::new(Raw::new(&server));
    let s = server.clone();
    Ok(Prepared::new(vec![
        Variant::subject("llm.chat ask", move |ops| {
            let (agent, s) = (agent.clone(), s.clone());
            async move {
                let samples = time_each!(ops, |_i| {
                    let v = agent
                        .ask_value(json!(QUESTION), None)
                        .await
                        .map_err(reason)?;
                    check(&v)?
                });
                s.clear_requests();
                Ok(samples)
            }
        }),
        Variant::baseline("raw reqwest", move |ops| {
            let (raw, s) = (raw.clone(), server.clone());
            async move {
                let samples = time_each!(ops, |_i| raw.call().await?);
                s.clear_requests();
                Ok(samples)
            }
        }),
    ])
    .teardown(async move { rt.shutdown().await }))
}

async fn setup_concurrent() -> Result<Prepared, Reason> {
    let server = Arc::new(server().await);
    let (rt, agents) = runtime_with_agents(&server, AGENTS).await?;
    let agents = Arc::new(agents);
    let raw = Arc::new(Raw::new(&server));
    let s = server.clone();
    Ok(Prepared::new(vec![
        Variant::subject("1,000 llm.chat agents", move |ops| {
            let (agents, s) = (agents.clone(), s.clone());
            async move {
                let samples = time_each!(ops, |_i| {
                    let mut calls = tokio::task::JoinSet::new();
                    for a in agents.iter() {
                        let a = a.clone();
                        calls.spawn(async move { a.ask_value(json!(QUESTION), None).await });
                    }
                    while let Some(r) = calls.join_next().await {
                        check(&r.map_err(reason)?.map_err(reason)?)?;
                    }
                });
                s.clear_requests();
                Ok(samples)
            }
        }),
        Variant::baseline("1,000 raw reqwest calls", move |ops| {
            let (raw, s) = (raw.clone(), server.clone());
            async move {
                let samples = time_each!(ops, |_i| {
                    let mut calls = tokio::task::JoinSet::new();
                    for _ in 0..AGENTS {
                        let raw = raw.clone();
                        calls.spawn(async move { raw.call().await });
                    }
                    while let Some(r) = calls.join_next().await {
                        r.map_err(reason)??;
                    }
                });
                s.clear_requests();
                Ok(samples)
            }
        }),
    ])
    .teardown(async move { rt.shutdown().await }))
}

async fn setup_memory(ctx: Context) -> Result<Prepared, Reason> {
    let exe = ctx.exe()?;
    let e = exe.clone();
    Ok(Prepared::new(vec![
        Variant::subject("llm.chat agent", move |ops| {
            super::memory::sample(e.clone(), "llm", AGENTS, ops)
        }),
        Variant::baseline("tokio task + raw call", move |ops| {
            super::memory::sample(exe.clone(), "llm-raw", AGENTS, ops)
        }),
    ]))
}

/// The memory probe of a child process (`troupe bench-peer --memory llm|llm-raw`): RSS before
/// and after `n` units each made one call (the server runs in the probe too; warmed by one
/// call first).
pub async fn probe(variant: &str, n: u64) -> Result<(u64, u64), Reason> {
    let server = server().await;
    match variant {
        "llm" => {
            let (rt, warm) = runtime_with_agents(&server, 1).await?;
            check(
                &warm[0]
                    .ask_value(json!(QUESTION), None)
                    .await
                    .map_err(reason)?,
            )?;
            server.clear_requests();
            let before = super::memory::rss_kb()?;
            let mut agents = Vec::with_capacity(n as usize);
            for i in 0..n {
                let a = rt
                    .spawn_kind("llm.chat", format!("m-{i}").as_str(), agent_config(&server))
                    .await
                    .map_err(reason)?;
                agents.push(a);
            }
            let mut calls = tokio::task::JoinSet::new();
            for a in &agents {
                let a = a.clone();
                calls.spawn(async move { a.ask_value(json!(QUESTION), None).await });
            }
            while let Some(r) = calls.join_next().await {
                check(&r.map_err(reason)?.map_err(reason)?)?;
            }
            server.clear_requests();
            let after = super::memory::rss_kb()?;
            std::mem::forget((rt, warm, agents, server));
            Ok((before, after))
        }
        "llm-raw" => {
            let raw = Arc::new(Raw::new(&server));
            raw.call().await?;
            server.clear_requests();
            let before = super::memory::rss_kb()?;
            let mut tasks = Vec::with_capacity(n as usize);
            let mut done = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                let (ok_tx, ok_rx) = tokio::sync::oneshot::channel::<Result<(), Reason>>();
                let raw = raw.clone();
                tasks.push(tokio::spawn(async move {
                    let _ = ok_tx.send(raw.call().await);
                    let _ = rx.await;
                }));
                done.push((tx, ok_rx));
            }
            let mut senders = Vec::with_capacity(n as usize);
            for (tx, ok) in done {
                ok.await.map_err(reason)??;
                senders.push(tx);
            }
            server.clear_requests();
            let after = super::memory::rss_kb()?;
            std::mem::forget((tasks, senders, raw, server));
            Ok((before, after))
        }
        other => Err(format!(
            "unknown llm memory variant {other:?} (llm, llm-raw)"
        )),
    }
}
