//! Planner benchmarks.
//!
//! - `plan/N`: validation + planning ([`plan`]) of a layered random DAG of N tasks (about three
//!   dependencies each, seeded), N = 1k, 10k, 100k.
//! - `toposort/N`: the baseline, in the same run: petgraph's `toposort` of the same graph, already
//!   built. The report gives plan / toposort per size.
//! - `parse_yaml/1000`: [`parse_workflow`] of a 1k-task YAML file; baseline `yaml_to_value/1000`:
//!   serde-saphyr reading the same text into a `serde_json::Value`.
//!
//! Run: `cargo bench -p troupe-runtime --bench planner -- --quick`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use petgraph::graph::{DiGraph, NodeIndex};
use troupe_runtime::workflow::file::parse_workflow;
use troupe_runtime::workflow::plan::plan;
use troupe_runtime::workflow::spec::{PoolSpec, TaskSpec, WorkflowSpec};

const KINDS: &[&str] = &["work"];
const LAYER_WIDTH: usize = 100;

/// A layered DAG: layers of [`LAYER_WIDTH`] tasks; each task past the first layer depends on up
/// to three distinct tasks of the two layers before it. Returns the dependencies per task.
fn layered_dag(n: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n)
        .map(|i| {
            let layer = i / LAYER_WIDTH;
            if layer == 0 {
                return Vec::new();
            }
            let from = layer.saturating_sub(2) * LAYER_WIDTH;
            let to = layer * LAYER_WIDTH;
            let mut deps = Vec::with_capacity(3);
            while deps.len() < 3 {
                let d = rng.usize(from..to);
                if !deps.contains(&d) {
                    deps.push(d);
                }
            }
            deps
        })
        .collect()
}

fn spec_of(deps: &[Vec<usize>]) -> WorkflowSpec {
    let mut b = WorkflowSpec::builder("bench").pool("workers", PoolSpec::new("work", 4));
    for (i, ds) in deps.iter().enumerate() {
        let after = ds.iter().map(|d| format!("t{d}"));
        b = b.task(TaskSpec::new(format!("t{i}"), "workers").after(after));
    }
    b.build()
}

fn graph_of(deps: &[Vec<usize>]) -> DiGraph<(), ()> {
    let mut g = DiGraph::with_capacity(deps.len(), deps.len() * 3);
    for _ in deps {
        g.add_node(());
    }
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            g.add_edge(NodeIndex::new(d), NodeIndex::new(i), ());
        }
    }
    g
}

fn yaml_of(deps: &[Vec<usize>]) -> String {
    let mut text = String::from(
        "workflow:\n  name: bench\n  version: \"1\"\n  agents:\n    workers: { type: work, count: 4 }\n  tasks:\n",
    );
    for (i, ds) in deps.iter().enumerate() {
        let list: Vec<String> = ds.iter().map(|d| format!("t{d}")).collect();
        text.push_str(&format!(
            "    - {{ id: t{i}, agent: workers, depends_on: [{}], timeout: 30s, retry_policy: exponential_backoff }}\n",
            list.join(", ")
        ));
    }
    text
}

fn planner(c: &mut Criterion) {
    let mut group = c.benchmark_group("planner");
    for n in [1_000, 10_000, 100_000] {
        let deps = layered_dag(n, 42);
        let spec = spec_of(&deps);
        let graph = graph_of(&deps);
        // Both sides must agree that this is a valid DAG before being timed.
        let planned = plan(spec.clone(), KINDS).expect("generated DAG plans");
        assert_eq!(planned.topo.len(), n);
        assert!(petgraph::algo::toposort(&graph, None).is_ok());

        group.bench_with_input(BenchmarkId::new("plan", n), &spec, |b, spec| {
            b.iter_batched(
                || spec.clone(),
                |s| plan(s, KINDS).expect("valid"),
                BatchSize::LargeInput,
            )
        });
        group.bench_with_input(BenchmarkId::new("toposort", n), &graph, |b, g| {
            b.iter(|| petgraph::algo::toposort(black_box(g), None).expect("acyclic"))
        });
    }
    let text = yaml_of(&layered_dag(1_000, 7));
    let parsed = parse_workflow(&text, "bench.yaml").expect("generated YAML parses");
    assert_eq!(parsed.tasks.len(), 1_000);
    group.bench_with_input(BenchmarkId::new("parse_yaml", 1_000), &text, |b, text| {
        b.iter(|| parse_workflow(black_box(text), "bench.yaml").expect("valid"))
    });
    // Baseline: the same text into a plain `serde_json::Value` (no positions, no checks).
    group.bench_with_input(
        BenchmarkId::new("yaml_to_value", 1_000),
        &text,
        |b, text| {
            b.iter(|| serde_saphyr::from_str::<serde_json::Value>(black_box(text)).expect("valid"))
        },
    );
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3));
    targets = planner
}
criterion_main!(benches);
