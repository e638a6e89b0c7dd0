//! Skynet at 10k and 100k leaves: the hierarchical pattern beside raw ractor actors and plain
//! tokio tasks building the same 10-ary tree (leaves answer their index, inner nodes sum ten
//! children), each iteration the whole life of a tree: build, one job, tear down.
//!
//! | variant | tree |
//! |---|---|
//! | `troupe` | `pattern.hierarchical`: every inner node a supervised team agent, leaves function leaves run as tasks of their team |
//! | `raw_ractor` | one actor per node, leaves included; each spawns its ten children linked, sums their replies, stops |
//! | `tokio` | one task per node |
//!
//! Before the criterion groups, a paired pass ([`latency::compare`]) prints the medians and
//! their ratios against each baseline. The 1M-leaf figures (with peak RSS, one process per
//! variant) come from `cargo run --release --example skynet`.

#[path = "latency/mod.rs"]
mod latency;

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use serde_json::json;
use tokio::sync::oneshot;
use troupe_patterns::hierarchical::{Combine, FunctionLeaf, HierarchicalPattern, Split, TeamSpec};
use troupe_runtime::Runtime;

/// The tree for `leaves` leaves (a power of ten): a team's input is `[start, size]`, child k
/// gets `[start + k*size/10, size/10]`, a leaf answers `start`.
fn skynet_spec(leaves: u64) -> TeamSpec {
    let split = Split::custom(|input, children| {
        let start = input[0].as_u64().ok_or("input[0] must be a number")?;
        let size = input[1].as_u64().ok_or("input[1] must be a number")?;
        let part = size / children.len() as u64;
        Ok((0..children.len() as u64)
            .map(|k| json!([start + k * part, part]))
            .collect())
    });
    let leaf = FunctionLeaf::sync(|call| Ok(call.input[0].clone()));
    let mut spec = TeamSpec::new()
        .split(split.clone())
        .combine(Combine::Sum)
        .functions("l", 10, leaf);
    let mut size = 10;
    while size < leaves {
        spec = TeamSpec::new()
            .split(split.clone())
            .combine(Combine::Sum)
            .teams("t", 10, spec);
        size *= 10;
    }
    spec
}

async fn troupe(leaves: u64) -> u64 {
    let rt = Runtime::start(Default::default()).await.expect("runtime");
    let pattern = HierarchicalPattern::new(skynet_spec(leaves)).expect("spec");
    let tree = rt.spawn("skynet", pattern).await.expect("spawn");
    let sum = tree.ask(json!([0, leaves])).await.expect("job");
    rt.shutdown().await;
    sum.as_u64().expect("a number")
}

struct Node;

enum NodeMsg {
    Result(u64),
}

impl ractor::Message for NodeMsg {}

enum Parent {
    Actor(ActorRef<NodeMsg>),
    Root(oneshot::Sender<u64>),
}

impl Parent {
    fn report(self, value: u64) {
        match self {
            Parent::Actor(a) => {
                let _ = a.cast(NodeMsg::Result(value));
            }
            Parent::Root(tx) => {
                let _ = tx.send(value);
            }
        }
    }
}

struct NodeState {
    num: u64,
    size: u64,
    pending: u32,
    sum: u64,
    parent: Option<Parent>,
}

impl Actor for Node {
    type Msg = NodeMsg;
    type State = NodeState;
    type Arguments = (u64, u64, Parent);

    async fn pre_start(
        &self,
        _: ActorRef<NodeMsg>,
        (num, size, parent): (u64, u64, Parent),
    ) -> Result<NodeState, ActorProcessingErr> {
        Ok(NodeState {
            num,
            size,
            pending: 0,
            sum: 0,
            parent: Some(parent),
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<NodeMsg>,
        st: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        if st.size == 1 {
            if let Some(parent) = st.parent.take() {
                parent.report(st.num);
            }
            myself.stop(None);
            return Ok(());
        }
        let part = st.size / 10;
        for k in 0..10 {
            let args = (st.num + k * part, part, Parent::Actor(myself.clone()));
            Actor::spawn_linked(None, Node, args, myself.get_cell()).await?;
        }
        st.pending = 10;
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<NodeMsg>,
        event: SupervisionEvent,
        _: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(_, reason) => Err(reason),
            _ => Ok(()),
        }
    }

    async fn handle(
        &self,
        myself: ActorRef<NodeMsg>,
        msg: NodeMsg,
        st: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        let NodeMsg::Result(v) = msg;
        st.sum += v;
        st.pending -= 1;
        if st.pending == 0 {
            if let Some(parent) = st.parent.take() {
                parent.report(st.sum);
            }
            myself.stop(None);
        }
        Ok(())
    }
}

async fn raw_ractor(leaves: u64) -> u64 {
    let (tx, rx) = oneshot::channel();
    let (_root, handle) = Actor::spawn(None, Node, (0, leaves, Parent::Root(tx)))
        .await
        .expect("spawn");
    let sum = rx.await.expect("sum");
    handle.await.expect("root");
    sum
}

fn tokio_tasks(num: u64, size: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if size == 1 {
            return num;
        }
        let part = size / 10;
        let children: Vec<_> = (0..10)
            .map(|k| tokio::spawn(tokio_tasks(num + k * part, part)))
            .collect();
        let mut sum = 0;
        for child in children {
            sum += child.await.expect("task");
        }
        sum
    })
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
    let full = std::env::args().any(|a| a == "--bench");
    for n in [10_000u64, 100_000] {
        let expected = n * (n - 1) / 2;
        let (batches, per) = match (full, n) {
            (false, _) => (1, 1),
            (true, 10_000) => (5, 4),
            (true, _) => (3, 2),
        };
        rt.block_on(async move {
            tokio::spawn(async move {
                let t = || async move { assert_eq!(troupe(n).await, expected) };
                let r = || async move { assert_eq!(raw_ractor(n).await, expected) };
                let k = || async move { assert_eq!(tokio_tasks(0, n).await, expected) };
                latency::compare(
                    &format!("skynet {n} troupe vs raw ractor"),
                    batches,
                    per,
                    t,
                    r,
                )
                .await;
                latency::compare(&format!("skynet {n} troupe vs tokio"), batches, per, t, k).await;
            })
            .await
            .expect("paired pass");
        });
    }

    let mut g = c.benchmark_group("skynet");
    g.sample_size(10);
    for n in [10_000u64, 100_000] {
        g.bench_with_input(BenchmarkId::new("troupe", n), &n, |b, &n| {
            b.to_async(&rt)
                .iter(|| async move { black_box(troupe(n).await) })
        });
        g.bench_with_input(BenchmarkId::new("raw_ractor", n), &n, |b, &n| {
            b.to_async(&rt)
                .iter(|| async move { black_box(raw_ractor(n).await) })
        });
        g.bench_with_input(BenchmarkId::new("tokio", n), &n, |b, &n| {
            b.to_async(&rt)
                .iter(|| async move { black_box(tokio_tasks(0, n).await) })
        });
    }
    g.finish();
}

criterion_group!(skynet_benches, benches);
criterion_main!(skynet_benches);
