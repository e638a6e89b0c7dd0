//! Network coordination latency with no-op members, each beside raw ractor actors doing the
//! same hops in the same run.
//!
//! | group | subject | baseline |
//! |---|---|---|
//! | `network_request/one_hop` | caller → pattern agent → peer `a` (calls member `a`: "send to b") → peer `b` (calls member `b`: reply) → pattern agent → caller | raw ractor: caller `call`s actor A, which `cast`s the request (with the reply port) to actor B, which replies |
//! | `network_request/four_hops` | the same along `a -> b -> c -> d -> e` | raw ractor: a chain of 5 actors forwarding by `cast` |
//!
//! A second baseline has the same topology as the pattern in raw ractor: an entry actor, and per
//! member a peer actor that `call`s a member actor, then `cast`s on. Its ratio is what Troupe
//! adds to that topology (the JSON protocol, budgets and branch bookkeeping, the agent layer);
//! the first ratio adds the cost of the topology itself (a member `call` per hop).
//!
//! Before the criterion groups, a paired pass ([`latency::compare`]) prints p50/p99 and the
//! ratios to each baseline. Everything runs as tasks on a 2-worker tokio runtime; the timed
//! loops of the criterion groups too.

mod latency;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::{json, Value};
use troupe_patterns::network::{self, NetworkConfig, NetworkPattern, Step};
use troupe_runtime::{AgentRef, Runtime};

// ---------------------------------------------------------------------------------------------
// The raw baseline: actors forwarding a request (and its reply port) along a chain.

struct Hop(u64, RpcReplyPort<u64>);
impl ractor::Message for Hop {}

/// A chain node; with a member, it `call`s the member before passing on (the pattern's
/// topology: a peer and its member).
struct RawNode {
    next: Option<ActorRef<Hop>>,
    member: Option<ActorRef<Hop>>,
}

impl Actor for RawNode {
    type Msg = Hop;
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<Hop>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
    async fn handle(
        &self,
        _: ActorRef<Hop>,
        Hop(n, reply): Hop,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let n = match &self.member {
            Some(member) => match member.call(|r| Hop(n, r), None).await? {
                CallResult::Success(v) => v,
                _ => return Err("member failed".into()),
            },
            None => n,
        };
        match &self.next {
            Some(next) => next.cast(Hop(n, reply))?,
            None => {
                let _ = reply.send(n);
            }
        }
        Ok(())
    }
}

/// A chain of `hops + 1` raw actors; returns its head. With `topology`, each node calls a
/// member actor of its own, and an entry actor heads the chain.
async fn raw_chain(hops: usize, topology: bool) -> ActorRef<Hop> {
    let spawn = |next, member| async move {
        let node = RawNode { next, member };
        Actor::spawn(None, node, ()).await.expect("raw node").0
    };
    let mut next = None;
    for _ in 0..=hops {
        let member = match topology {
            true => Some(spawn(None, None).await),
            false => None,
        };
        next = Some(spawn(next, member).await);
    }
    match topology {
        true => spawn(next, None).await,
        false => next.expect("at least one node"),
    }
}

async fn raw_request(head: &ActorRef<Hop>) {
    match head.call(|r| Hop(1, r), None).await {
        Ok(CallResult::Success(v)) => {
            black_box(v);
        }
        _ => panic!("raw chain failed"),
    }
}

// ---------------------------------------------------------------------------------------------
// The Troupe subjects.

const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];

struct Setup {
    one_hop: AgentRef<NetworkPattern>,
    four_hops: AgentRef<NetworkPattern>,
    raw_one_hop: ActorRef<Hop>,
    raw_four_hops: ActorRef<Hop>,
    topo_one_hop: ActorRef<Hop>,
    topo_four_hops: ActorRef<Hop>,
    _rt: Runtime,
}

/// A network whose members forward along `a -> b -> ...` for `hops` hops, the last replying.
fn chain(hops: usize) -> NetworkConfig {
    (0..=hops).fold(NetworkConfig::new("a"), |config, i| {
        let kind = if i == hops {
            "bench.reply".to_string()
        } else {
            format!("bench.to_{}", NAMES[i + 1])
        };
        config.member(NAMES[i], &kind, Value::Null)
    })
}

async fn setup() -> Setup {
    let rt = Runtime::start(Default::default()).await.expect("runtime");
    let kinds = rt.kinds();
    network::register_member(kinds, "bench.reply", "no-op", |i| {
        Ok(Step::reply(i.message))
    });
    for to in &NAMES[1..] {
        let kind = format!("bench.to_{to}");
        network::register_member(kinds, &kind, "no-op", move |_| Ok(Step::forward(*to)));
    }
    let pattern = |c| NetworkPattern::new(c).expect("config");
    Setup {
        one_hop: rt.spawn("one_hop", pattern(chain(1))).await.expect("spawn"),
        four_hops: rt
            .spawn("four_hops", pattern(chain(4)))
            .await
            .expect("spawn"),
        raw_one_hop: raw_chain(1, false).await,
        raw_four_hops: raw_chain(4, false).await,
        topo_one_hop: raw_chain(1, true).await,
        topo_four_hops: raw_chain(4, true).await,
        _rt: rt,
    }
}

async fn request(pattern: &AgentRef<NetworkPattern>) {
    black_box(pattern.ask(json!(1)).await.expect("network"));
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
    let (one, four) = (s.one_hop.clone(), s.four_hops.clone());
    let (raw_one, raw_four) = (s.raw_one_hop.clone(), s.raw_four_hops.clone());
    let (topo_one, topo_four) = (s.topo_one_hop.clone(), s.topo_four_hops.clone());
    rt.block_on(async move {
        tokio::spawn(async move {
            let label = "network, one hop vs raw ractor chain";
            latency::compare(
                label,
                batches,
                per,
                || request(&one),
                || raw_request(&raw_one),
            )
            .await;
            let label = "network, one hop vs raw same topology";
            latency::compare(
                label,
                batches,
                per,
                || request(&one),
                || raw_request(&topo_one),
            )
            .await;
            let label = "network, 4 hops vs raw ractor chain";
            latency::compare(
                label,
                batches,
                per,
                || request(&four),
                || raw_request(&raw_four),
            )
            .await;
            let label = "network, 4 hops vs raw same topology";
            latency::compare(
                label,
                batches,
                per,
                || request(&four),
                || raw_request(&topo_four),
            )
            .await;
        })
        .await
        .expect("paired pass");
    });

    let mut g = c.benchmark_group("network_request");
    let troupe = [
        ("troupe_one_hop", &s.one_hop),
        ("troupe_four_hops", &s.four_hops),
    ];
    for (name, pattern) in troupe {
        g.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let p = pattern.clone();
                on_worker(iters, move || {
                    let p = p.clone();
                    async move { request(&p).await }
                })
            })
        });
    }
    let raw = [
        ("raw_ractor_one_hop", &s.raw_one_hop),
        ("raw_topology_one_hop", &s.topo_one_hop),
        ("raw_ractor_four_hops", &s.raw_four_hops),
        ("raw_topology_four_hops", &s.topo_four_hops),
    ];
    for (name, head) in raw {
        g.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let h = head.clone();
                on_worker(iters, move || {
                    let h = h.clone();
                    async move { raw_request(&h).await }
                })
            })
        });
    }
    g.finish();
}

criterion_group!(network_benches, benches);
criterion_main!(network_benches);
