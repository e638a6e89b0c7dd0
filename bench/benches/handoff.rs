//! Handoff coordination latency with no-op members, each beside raw ractor actors doing the
//! same calls in the same run.
//!
//! | group | subject | baseline |
//! |---|---|---|
//! | `handoff_turn/reply` | a turn answered by the start member: caller → pattern agent → member → pattern agent → caller | raw ractor: caller → coordinator actor → member actor `call` → caller |
//! | `handoff_turn/one_hop` | a turn with one handoff: member `a` hands off to `b`, which hands back with the reply (the next turn starts at `a` again) | raw ractor: the coordinator calls member A, which answers "go to B", then calls B |
//!
//! Before the criterion groups, a paired pass ([`latency::compare`]) prints p50/p99 and the
//! ratios to the baseline. Everything runs as tasks on a 2-worker tokio runtime; the timed
//! loops of the criterion groups too. The Troupe
//! figures include the JSON protocol (the members' inputs and turns are JSON values, decoded and
//! encoded by the function members) and the conversation's bookkeeping (context, stack,
//! history).

mod latency;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::{json, Value};
use troupe_patterns::handoff::{self, HandoffConfig, HandoffPattern, Turn};
use troupe_runtime::{AgentRef, Runtime};

// ---------------------------------------------------------------------------------------------
// The raw baseline: a coordinator actor calling member actors.

/// A raw member's answer.
enum RawTurn {
    Reply(u64),
    Handoff(usize),
}

struct RawMemberMsg(u64, RpcReplyPort<RawTurn>);
impl ractor::Message for RawMemberMsg {}

/// Answers with a fixed handoff, or replies.
struct RawMember {
    handoff_to: Option<usize>,
}

impl Actor for RawMember {
    type Msg = RawMemberMsg;
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<RawMemberMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
    async fn handle(
        &self,
        _: ActorRef<RawMemberMsg>,
        RawMemberMsg(n, reply): RawMemberMsg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let _ = reply.send(match self.handoff_to {
            Some(to) => RawTurn::Handoff(to),
            None => RawTurn::Reply(n),
        });
        Ok(())
    }
}

struct CoordMsg(u64, RpcReplyPort<u64>);
impl ractor::Message for CoordMsg {}

/// Calls the start member, follows handoffs, replies.
struct RawCoordinator {
    members: Vec<ActorRef<RawMemberMsg>>,
    start: usize,
}

impl Actor for RawCoordinator {
    type Msg = CoordMsg;
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<CoordMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
    async fn handle(
        &self,
        _: ActorRef<CoordMsg>,
        CoordMsg(n, reply): CoordMsg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let mut at = self.start;
        loop {
            match self.members[at].call(|r| RawMemberMsg(n, r), None).await? {
                CallResult::Success(RawTurn::Handoff(to)) => at = to,
                CallResult::Success(RawTurn::Reply(v)) => {
                    let _ = reply.send(v);
                    return Ok(());
                }
                _ => return Err("member failed".into()),
            }
        }
    }
}

async fn raw_coordinator(start: usize) -> ActorRef<CoordMsg> {
    let (a, _) = Actor::spawn(
        None,
        RawMember {
            handoff_to: Some(1),
        },
        (),
    )
    .await
    .expect("a");
    let (b, _) = Actor::spawn(None, RawMember { handoff_to: None }, ())
        .await
        .expect("b");
    let coord = RawCoordinator {
        members: vec![a, b],
        start,
    };
    Actor::spawn(None, coord, ()).await.expect("coordinator").0
}

async fn raw_turn(coord: &ActorRef<CoordMsg>) {
    match coord.call(|r| CoordMsg(1, r), None).await {
        Ok(CallResult::Success(v)) => {
            black_box(v);
        }
        _ => panic!("raw coordinator failed"),
    }
}

// ---------------------------------------------------------------------------------------------
// The Troupe subjects.

struct Setup {
    reply: AgentRef<HandoffPattern>,
    one_hop: AgentRef<HandoffPattern>,
    raw_reply: ActorRef<CoordMsg>,
    raw_one_hop: ActorRef<CoordMsg>,
    _rt: Runtime,
}

async fn setup() -> Setup {
    let rt = Runtime::start(Default::default()).await.expect("runtime");
    let kinds = rt.kinds();
    handoff::register_member(kinds, "bench.reply", "no-op", |i| {
        Ok(Turn::reply(i.message))
    });
    handoff::register_member(kinds, "bench.to_b", "no-op", |_| {
        Ok(Turn::handoff("b", Value::Null))
    });
    handoff::register_member(kinds, "bench.back", "no-op", |i| {
        Ok(Turn::handback().with_reply(i.message))
    });
    let reply = HandoffConfig::new("a").member("a", "bench.reply", Value::Null);
    let one_hop = HandoffConfig::new("a")
        .member("a", "bench.to_b", Value::Null)
        .member("b", "bench.back", Value::Null);
    let pattern = |c| HandoffPattern::new(c).expect("config");
    Setup {
        reply: rt.spawn("reply", pattern(reply)).await.expect("spawn"),
        one_hop: rt.spawn("one_hop", pattern(one_hop)).await.expect("spawn"),
        raw_reply: raw_coordinator(1).await,
        raw_one_hop: raw_coordinator(0).await,
        _rt: rt,
    }
}

async fn turn(pattern: &AgentRef<HandoffPattern>) {
    let request = json!({"conversation": "c", "message": 1});
    black_box(pattern.ask(request).await.expect("turn"));
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Times `iters` runs of `op` in a task on a worker thread (as agents calling agents run).
async fn on_worker<F, Fut>(iters: u64, op: F) -> Duration
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let start = Instant::now();
        for _ in 0..iters {
            op().await;
        }
        start.elapsed()
    })
    .await
    .expect("bench task")
}

fn benches(c: &mut Criterion) {
    let rt = tokio_rt();
    let s = rt.block_on(setup());
    let full = std::env::args().any(|a| a == "--bench");
    let (batches, per) = if full { (20, 500) } else { (2, 10) };
    let (reply, one_hop) = (s.reply.clone(), s.one_hop.clone());
    let (raw_reply, raw_one_hop) = (s.raw_reply.clone(), s.raw_one_hop.clone());
    rt.block_on(async move {
        tokio::spawn(async move {
            let subject = || turn(&reply);
            let label = "handoff turn, reply (0 hops) vs raw ractor";
            latency::compare(label, batches, per, subject, || raw_turn(&raw_reply)).await;
            let subject = || turn(&one_hop);
            let label = "handoff turn, one hop vs raw ractor";
            latency::compare(label, batches, per, subject, || raw_turn(&raw_one_hop)).await;
        })
        .await
        .expect("paired pass");
    });

    let mut g = c.benchmark_group("handoff_turn");
    for (name, pattern) in [("troupe_reply", &s.reply), ("troupe_one_hop", &s.one_hop)] {
        g.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let p = pattern.clone();
                on_worker(iters, move || {
                    let p = p.clone();
                    async move { turn(&p).await }
                })
            })
        });
    }
    let raw = [
        ("raw_ractor_reply", &s.raw_reply),
        ("raw_ractor_one_hop", &s.raw_one_hop),
    ];
    for (name, coord) in raw {
        g.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let c = coord.clone();
                on_worker(iters, move || {
                    let c = c.clone();
                    async move { raw_turn(&c).await }
                })
            })
        });
    }
    g.finish();
}

criterion_group!(handoff_benches, benches);
criterion_main!(handoff_benches);
