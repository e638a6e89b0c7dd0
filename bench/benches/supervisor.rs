//! Coordination latency of the supervisor pattern: one unit through a coordinator and a no-op
//! (`util.echo`) worker, beside the same hops done by hand, in the same run.
//!
//! | variant | hops |
//! |---|---|
//! | `troupe_pattern` | client → `pattern.supervisor` agent (job decode, routing, re-route bookkeeping) → worker agent → back |
//! | `troupe_agents` | client → a plain forwarding agent → worker agent → back (the runtime's share of the cost) |
//! | `raw_ractor` | client → coordinator actor (`call`s the worker from its handler) → worker actor → back |
//!
//! A paired pass ([`latency::compare`]) prints p50/p99 of the pattern against raw ractor and
//! against the plain agents, with ratios; the criterion group `supervisor_one_unit` tracks the
//! medians. Everything runs as tasks on a 2-worker tokio runtime.

mod latency;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::{json, Value};
use troupe_patterns::member::MemberSpec;
use troupe_patterns::supervisor::SupervisorPattern;
use troupe_runtime::{Agent, AgentContext, AgentError, AgentRef, DynAgentRef, Runtime, Snapshot};

/// Forwards each request to one worker: the plain-agent version of a coordinator.
struct Forward {
    worker: DynAgentRef,
}

impl Agent for Forward {
    type Request = Value;
    type Reply = Value;
    type State = ();

    async fn init(&self, _: &AgentContext, _: Option<Snapshot>) -> Result<(), AgentError> {
        Ok(())
    }

    async fn handle(&self, _: &AgentContext, _: &mut (), v: Value) -> Result<Value, AgentError> {
        self.worker
            .ask_value(v, None)
            .await
            .map_err(|e| AgentError::transient(e.to_string()))
    }
}

/// Raw ractor worker: echoes.
struct RawWorker;

struct Echo(Value, RpcReplyPort<Value>);

impl ractor::Message for Echo {}

impl Actor for RawWorker {
    type Msg = Echo;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<Echo>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<Echo>,
        Echo(v, reply): Echo,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let _ = reply.send(v);
        Ok(())
    }
}

/// Raw ractor coordinator: calls the worker from its handler and replies with its answer.
struct RawCoordinator;

impl Actor for RawCoordinator {
    type Msg = Echo;
    type State = ActorRef<Echo>;
    type Arguments = ActorRef<Echo>;

    async fn pre_start(
        &self,
        _: ActorRef<Echo>,
        worker: ActorRef<Echo>,
    ) -> Result<ActorRef<Echo>, ActorProcessingErr> {
        Ok(worker)
    }

    async fn handle(
        &self,
        _: ActorRef<Echo>,
        Echo(v, reply): Echo,
        worker: &mut ActorRef<Echo>,
    ) -> Result<(), ActorProcessingErr> {
        if let CallResult::Success(answer) = worker.call(|r| Echo(v, r), None).await? {
            let _ = reply.send(answer);
        }
        Ok(())
    }
}

async fn raw_unit(coordinator: &ActorRef<Echo>) {
    match coordinator.call(|r| Echo(json!(1), r), None).await {
        Ok(CallResult::Success(v)) => {
            black_box(v);
        }
        _ => panic!("raw coordinator failed"),
    }
}

struct Setup {
    pattern: AgentRef<SupervisorPattern>,
    forward: AgentRef<Forward>,
    raw: ActorRef<Echo>,
    _rt: Runtime,
}

async fn setup() -> Setup {
    let rt = Runtime::start(Default::default()).await.expect("runtime");
    troupe_agents::register_all(rt.kinds());
    let pattern = SupervisorPattern::builder()
        .workers("echo", MemberSpec::new("util.echo", 1))
        .build()
        .expect("pattern");
    let pattern = rt.spawn("sup", pattern).await.expect("spawn pattern");
    let worker = rt
        .spawn_kind("util.echo", "worker", Value::Null)
        .await
        .expect("worker");
    let forward = rt
        .spawn("forward", Forward { worker })
        .await
        .expect("forward");
    let (raw_worker, _) = Actor::spawn(None, RawWorker, ()).await.expect("raw worker");
    let (raw, _) = Actor::spawn(None, RawCoordinator, raw_worker)
        .await
        .expect("raw coordinator");
    Setup {
        pattern,
        forward,
        raw,
        _rt: rt,
    }
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn benches(c: &mut Criterion) {
    let rt = tokio_rt();
    let s = rt.block_on(setup());
    let full = std::env::args().any(|a| a == "--bench");
    let (batches, per) = if full { (20, 1000) } else { (2, 10) };
    let (pattern, forward, raw) = (s.pattern.clone(), s.forward.clone(), s.raw.clone());
    rt.block_on(async move {
        tokio::spawn(async move {
            let unit = || async {
                black_box(pattern.ask(json!([1])).await.expect("pattern"));
            };
            latency::compare(
                "supervisor one unit vs raw ractor hops",
                batches,
                per,
                unit,
                || raw_unit(&raw),
            )
            .await;
            let hop = || async {
                black_box(forward.ask(json!(1)).await.expect("forward"));
            };
            latency::compare(
                "supervisor one unit vs plain troupe agents",
                batches,
                per,
                unit,
                hop,
            )
            .await;
        })
        .await
        .expect("paired pass");
    });

    let mut g = c.benchmark_group("supervisor_one_unit");
    g.bench_function("troupe_pattern", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(s.pattern.ask(json!([1])).await.expect("pattern")) })
    });
    g.bench_function("troupe_agents", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(s.forward.ask(json!(1)).await.expect("forward")) })
    });
    g.bench_function("raw_ractor", |b| b.to_async(&rt).iter(|| raw_unit(&s.raw)));
    g.finish();
}

criterion_group!(supervisor_benches, benches);
criterion_main!(supervisor_benches);
