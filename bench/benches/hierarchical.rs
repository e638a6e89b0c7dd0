//! Coordination latency of the hierarchical pattern: one unit down a two-level tree (root team
//! → sub-team → a no-op `util.echo` leaf agent) and its answer combined back up, beside raw
//! ractor actors making the same hops (client → root actor → sub actor → leaf actor, each
//! `call`ing the next from its handler), in the same run.
//!
//! A paired pass ([`latency::compare`]) prints p50/p99 and the ratios; the criterion group
//! `hierarchical_one_unit` tracks the medians.

mod latency;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::{json, Value};
use troupe_runtime::{DynAgentRef, Runtime};

struct Echo(Value, RpcReplyPort<Value>);

impl ractor::Message for Echo {}

/// Raw ractor node: a leaf echoes; an inner node calls its child and replies with its answer.
struct RawNode;

impl Actor for RawNode {
    type Msg = Echo;
    type State = Option<ActorRef<Echo>>;
    type Arguments = Option<ActorRef<Echo>>;

    async fn pre_start(
        &self,
        _: ActorRef<Echo>,
        child: Option<ActorRef<Echo>>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(child)
    }

    async fn handle(
        &self,
        _: ActorRef<Echo>,
        Echo(v, reply): Echo,
        child: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let answer = match child {
            None => v,
            Some(child) => match child.call(|r| Echo(v, r), None).await? {
                CallResult::Success(a) => json!([a]),
                _ => return Ok(()),
            },
        };
        let _ = reply.send(answer);
        Ok(())
    }
}

async fn raw_unit(root: &ActorRef<Echo>) {
    match root.call(|r| Echo(json!(1), r), None).await {
        Ok(CallResult::Success(v)) => {
            black_box(v);
        }
        _ => panic!("raw tree failed"),
    }
}

async fn setup() -> (DynAgentRef, ActorRef<Echo>, Runtime) {
    let rt = Runtime::start(Default::default()).await.expect("runtime");
    troupe_agents::register_all(rt.kinds());
    troupe_patterns::register_all(rt.kinds());
    let config = json!({
        "members": {"sub": {"members": {"leaf": {"type": "util.echo"}}}}
    });
    let tree = rt
        .spawn_kind("pattern.hierarchical", "org", config)
        .await
        .expect("hierarchy");
    let answer = tree.ask_value(json!(1), None).await.expect("first unit");
    assert_eq!(
        answer,
        json!([[1]]),
        "one leaf, combined as arrays up two levels"
    );
    let (leaf, _) = Actor::spawn(None, RawNode, None).await.expect("raw leaf");
    let (sub, _) = Actor::spawn(None, RawNode, Some(leaf))
        .await
        .expect("raw sub");
    let (root, _) = Actor::spawn(None, RawNode, Some(sub))
        .await
        .expect("raw root");
    (tree, root, rt)
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (tree, raw, _troupe) = rt.block_on(setup());
    let full = std::env::args().any(|a| a == "--bench");
    let (batches, per) = if full { (20, 1000) } else { (2, 10) };
    let (t, r) = (tree.clone(), raw.clone());
    rt.block_on(async move {
        tokio::spawn(async move {
            let unit = || async {
                black_box(t.ask_value(json!(1), None).await.expect("tree"));
            };
            latency::compare(
                "hierarchical one unit (2 levels) vs raw ractor hops",
                batches,
                per,
                unit,
                || raw_unit(&r),
            )
            .await;
        })
        .await
        .expect("paired pass");
    });

    let mut g = c.benchmark_group("hierarchical_one_unit");
    g.bench_function("troupe_pattern", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(tree.ask_value(json!(1), None).await.expect("tree")) })
    });
    g.bench_function("raw_ractor", |b| b.to_async(&rt).iter(|| raw_unit(&raw)));
    g.finish();
}

criterion_group!(hierarchical_benches, benches);
criterion_main!(hierarchical_benches);
