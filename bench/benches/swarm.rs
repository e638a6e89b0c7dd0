//! Swarm coordination costs, each beside a raw baseline in the same run.
//!
//! | group | subject | baseline |
//! |---|---|---|
//! | `swarm_one_item` | one item through a swarm of 1 (and 4) peers with a no-op member: entry → peer → member → peer → entry, termination detected | raw ractor: caller → peer actor → task → member actor `call` → peer actor → caller |
//! | `swarm_10k` | a tree of 10 100 items (1 → 100 → 10 000) spawned by no-op members over 4 peers | raw tokio tasks spawning the same tree |
//!
//! Before the criterion groups, a paired pass ([`latency::compare`]) prints p50/p99 of the
//! single-item latency against the raw ractor pipeline, and ratios. Everything runs as tasks on
//! a 2-worker tokio runtime.

mod latency;

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use troupe_patterns::member::MemberSpec;
use troupe_patterns::swarm::{Directive, Reducer, Swarm};
use troupe_runtime::{Agent, AgentContext, AgentError, AgentRef, Runtime, Snapshot};

/// Replies `{"result": item}`.
struct Noop;

impl Agent for Noop {
    type Request = Value;
    type Reply = Value;
    type State = ();
    async fn init(&self, _: &AgentContext, _: Option<Snapshot>) -> Result<(), AgentError> {
        Ok(())
    }
    async fn handle(&self, _: &AgentContext, _: &mut (), v: Value) -> Result<Value, AgentError> {
        Ok(Directive::result(v).into_value())
    }
}

/// `"root"` spawns 100 `"mid"`, each `"mid"` spawns 100 leaves, a leaf's result is 1.
struct Tree;

impl Agent for Tree {
    type Request = Value;
    type Reply = Value;
    type State = ();
    async fn init(&self, _: &AgentContext, _: Option<Snapshot>) -> Result<(), AgentError> {
        Ok(())
    }
    async fn handle(&self, _: &AgentContext, _: &mut (), v: Value) -> Result<Value, AgentError> {
        Ok(match v.as_str() {
            Some("root") => Directive::spawn((0..100).map(|_| json!("mid"))),
            Some("mid") => Directive::spawn((0..100).map(|_| json!(0))),
            _ => Directive::result(1),
        }
        .into_value())
    }
}

// ---- raw ractor pipeline: caller → peer → task → member call → peer → caller ----------------

struct RawMember;

/// A request and its reply port.
struct Call(Value, RpcReplyPort<Value>);

impl ractor::Message for Call {}

impl Actor for RawMember {
    type Msg = Call;
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<Self::Msg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
    async fn handle(
        &self,
        _: ActorRef<Self::Msg>,
        Call(v, reply): Call,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let _ = reply.send(v);
        Ok(())
    }
}

enum PeerMsg {
    Item(Value, oneshot::Sender<Value>),
    Finished(Value, oneshot::Sender<Value>),
}

impl ractor::Message for PeerMsg {}

struct RawPeer;

impl Actor for RawPeer {
    type Msg = PeerMsg;
    type State = ActorRef<Call>;
    type Arguments = ActorRef<Call>;
    async fn pre_start(
        &self,
        _: ActorRef<PeerMsg>,
        member: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(member)
    }
    async fn handle(
        &self,
        me: ActorRef<PeerMsg>,
        msg: PeerMsg,
        member: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PeerMsg::Item(v, done) => {
                let member = member.clone();
                tokio::spawn(async move {
                    if let Ok(CallResult::Success(r)) = member.call(|p| Call(v, p), None).await {
                        let _ = me.send_message(PeerMsg::Finished(r, done));
                    }
                });
            }
            PeerMsg::Finished(v, done) => {
                let _ = done.send(v);
            }
        }
        Ok(())
    }
}

async fn raw_pipeline() -> ActorRef<PeerMsg> {
    let (member, _) = Actor::spawn(None, RawMember, ()).await.expect("member");
    let (peer, _) = Actor::spawn(None, RawPeer, member).await.expect("peer");
    peer
}

async fn raw_item(peer: &ActorRef<PeerMsg>) {
    let (tx, rx) = oneshot::channel();
    peer.send_message(PeerMsg::Item(json!(1), tx))
        .expect("send");
    black_box(rx.await.expect("reply"));
}

/// The same tree as [`Tree`] on raw tokio tasks: 100 tasks, each spawning 100.
async fn tokio_tree() -> u64 {
    let mids: Vec<_> = (0..100)
        .map(|_| {
            tokio::spawn(async {
                let leaves: Vec<_> = (0..100).map(|_| tokio::spawn(async { 1u64 })).collect();
                let mut sum = 0;
                for l in leaves {
                    sum += l.await.expect("leaf");
                }
                sum
            })
        })
        .collect();
    let mut sum = 0;
    for m in mids {
        sum += m.await.expect("mid");
    }
    sum
}

// ---- setup -------------------------------------------------------------------------------

struct Setup {
    swarm1: AgentRef<Swarm>,
    swarm4: AgentRef<Swarm>,
    tree: AgentRef<Swarm>,
    raw: ActorRef<PeerMsg>,
    _rt: Runtime,
}

async fn setup() -> Setup {
    let rt = Runtime::start(Default::default()).await.expect("runtime");
    rt.kinds().register("bench.noop", "no-op", |_| Ok(Noop));
    rt.kinds().register("bench.tree", "tree", |_| Ok(Tree));
    let swarm = |n, kind: &str, reducer| {
        Swarm::builder()
            .members("w", MemberSpec::new(kind, n))
            .reducer(reducer)
            .build()
            .expect("swarm")
    };
    Setup {
        swarm1: rt
            .spawn("s1", swarm(1, "bench.noop", Reducer::Collect))
            .await
            .expect("spawn"),
        swarm4: rt
            .spawn("s4", swarm(4, "bench.noop", Reducer::Collect))
            .await
            .expect("spawn"),
        tree: rt
            .spawn("tree", swarm(4, "bench.tree", Reducer::Count))
            .await
            .expect("spawn"),
        raw: raw_pipeline().await,
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
    let (batches, per) = if full { (20, 500) } else { (2, 10) };
    let (s1, s4, raw, tree) = (
        s.swarm1.clone(),
        s.swarm4.clone(),
        s.raw.clone(),
        s.tree.clone(),
    );
    rt.block_on(async move {
        tokio::spawn(async move {
            let one = || async {
                black_box(s1.ask(json!(1)).await.expect("swarm"));
            };
            latency::compare(
                "swarm one item, 1 peer vs raw ractor",
                batches,
                per,
                one,
                || raw_item(&raw),
            )
            .await;
            let four = || async {
                black_box(s4.ask(json!(1)).await.expect("swarm"));
            };
            latency::compare(
                "swarm one item, 4 peers vs raw ractor",
                batches,
                per,
                four,
                || raw_item(&raw),
            )
            .await;
            let tree_batches = if full { 10 } else { 1 };
            let t = || async {
                assert_eq!(tree.ask(json!("root")).await.expect("tree"), json!(10_000));
            };
            let tk = || async {
                assert_eq!(tokio_tree().await, 10_000);
            };
            latency::compare(
                "swarm 10k spawned items, 4 peers vs tokio",
                tree_batches,
                3,
                t,
                tk,
            )
            .await;
        })
        .await
        .expect("paired pass");
    });

    let mut g = c.benchmark_group("swarm_one_item");
    g.bench_function("troupe_swarm_1_peer", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(s.swarm1.ask(json!(1)).await.expect("swarm")) })
    });
    g.bench_function("troupe_swarm_4_peers", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(s.swarm4.ask(json!(1)).await.expect("swarm")) })
    });
    g.bench_function("raw_ractor_pipeline", |b| {
        b.to_async(&rt).iter(|| raw_item(&s.raw))
    });
    g.finish();

    let mut g = c.benchmark_group("swarm_10k");
    g.sample_size(10);
    g.bench_function("troupe_swarm_4_peers", |b| {
        b.to_async(&rt).iter(|| async {
            let start = Instant::now();
            black_box(s.tree.ask(json!("root")).await.expect("tree"));
            start.elapsed()
        })
    });
    g.bench_function("tokio_tasks", |b| b.to_async(&rt).iter(tokio_tree));
    g.finish();
}

criterion_group!(swarm_benches, benches);
criterion_main!(swarm_benches);
