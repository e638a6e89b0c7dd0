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
//! The trees are `troupe_bench::skynet`, shared with the `tree` suite of `troupe bench` and
//! `examples/skynet.rs`. Before the criterion groups, a paired pass ([`latency::compare`])
//! prints the medians and their ratios against each baseline. The 1M-leaf figures (with peak
//! RSS, one process per variant) come from `cargo run --release --example skynet`.

mod latency;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use serde_json::json;
use troupe_bench::skynet::{ractor_skynet, skynet_spec, tokio_skynet};
use troupe_patterns::hierarchical::HierarchicalPattern;
use troupe_runtime::Runtime;

async fn troupe(leaves: u64) -> u64 {
    let rt = Runtime::start(Default::default()).await.expect("runtime");
    let pattern = HierarchicalPattern::new(skynet_spec(leaves)).expect("spec");
    let tree = rt.spawn("skynet", pattern).await.expect("spawn");
    let sum = tree.ask(json!([0, leaves])).await.expect("job");
    rt.shutdown().await;
    sum.as_u64().expect("a number")
}

async fn raw_ractor(leaves: u64) -> u64 {
    ractor_skynet(leaves).await.expect("raw ractor tree")
}

fn tokio_tasks(
    num: u64,
    size: u64,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = u64> + Send>> {
    tokio_skynet(num, size)
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
