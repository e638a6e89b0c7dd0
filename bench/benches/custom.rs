//! Custom-topology coordination cost: one message through a 3-node chain of no-op members
//! (`a -> b -> c`), beside a raw ractor entry actor that calls three raw member actors in turn,
//! in the same run.
//!
//! A paired pass ([`latency::compare`]) prints p50/p99 and ratios; the criterion group
//! `custom_chain3` tracks the medians. Everything runs on a 2-worker tokio runtime.

mod latency;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::{json, Value};
use troupe_patterns::custom::{Custom, NodeSpec};
use troupe_runtime::{Agent, AgentContext, AgentError, AgentRef, Runtime, Snapshot};

/// Replies with the request.
struct Noop;

impl Agent for Noop {
    type Request = Value;
    type Reply = Value;
    type State = ();
    async fn init(&self, _: &AgentContext, _: Option<Snapshot>) -> Result<(), AgentError> {
        Ok(())
    }
    async fn handle(&self, _: &AgentContext, _: &mut (), v: Value) -> Result<Value, AgentError> {
        Ok(v)
    }
}

/// A request and its reply port.
struct Call(Value, RpcReplyPort<Value>);

impl ractor::Message for Call {}

struct RawNode;

impl Actor for RawNode {
    type Msg = Call;
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<Call>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
    async fn handle(
        &self,
        _: ActorRef<Call>,
        Call(v, r): Call,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let _ = r.send(v);
        Ok(())
    }
}

/// Calls its nodes one after the other, feeding each the previous output.
struct RawChain;

impl Actor for RawChain {
    type Msg = Call;
    type State = Vec<ActorRef<Call>>;
    type Arguments = Vec<ActorRef<Call>>;
    async fn pre_start(
        &self,
        _: ActorRef<Call>,
        nodes: Vec<ActorRef<Call>>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(nodes)
    }
    async fn handle(
        &self,
        _: ActorRef<Call>,
        Call(mut v, r): Call,
        nodes: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        for n in nodes.iter() {
            match n.call(|p| Call(v, p), None).await? {
                CallResult::Success(out) => v = out,
                _ => return Err("node call failed".into()),
            }
        }
        let _ = r.send(v);
        Ok(())
    }
}

async fn raw_chain() -> ActorRef<Call> {
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(Actor::spawn(None, RawNode, ()).await.expect("node").0);
    }
    Actor::spawn(None, RawChain, nodes).await.expect("chain").0
}

async fn raw_message(chain: &ActorRef<Call>) {
    match chain.call(|p| Call(json!(1), p), None).await {
        Ok(CallResult::Success(v)) => {
            black_box(v);
        }
        _ => panic!("raw chain failed"),
    }
}

async fn setup() -> (Runtime, AgentRef<Custom>, ActorRef<Call>) {
    let rt = Runtime::start(Default::default()).await.expect("runtime");
    rt.kinds().register("bench.noop", "no-op", |_| Ok(Noop));
    let chain = Custom::builder()
        .node("a", NodeSpec::new("bench.noop"))
        .node("b", NodeSpec::new("bench.noop"))
        .node("c", NodeSpec::new("bench.noop"))
        .edge("a", "b")
        .edge("b", "c")
        .build()
        .expect("chain");
    let chain = rt.spawn("chain", chain).await.expect("spawn");
    (rt, chain, raw_chain().await)
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (_troupe, chain, raw) = rt.block_on(setup());
    let full = std::env::args().any(|a| a == "--bench");
    let (batches, per) = if full { (20, 500) } else { (2, 10) };
    let (ch, rw) = (chain.clone(), raw.clone());
    rt.block_on(async move {
        tokio::spawn(async move {
            let subject = || async {
                black_box(ch.ask(json!(1)).await.expect("chain"));
            };
            latency::compare(
                "custom 3-node chain vs raw ractor",
                batches,
                per,
                subject,
                || raw_message(&rw),
            )
            .await;
        })
        .await
        .expect("paired pass");
    });
    let mut g = c.benchmark_group("custom_chain3");
    g.bench_function("troupe_custom", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(chain.ask(json!(1)).await.expect("chain")) })
    });
    g.bench_function("raw_ractor_chain", |b| {
        b.to_async(&rt).iter(|| raw_message(&raw))
    });
    g.finish();
}

criterion_group!(custom_benches, benches);
criterion_main!(custom_benches);
