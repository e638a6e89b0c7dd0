//! Two hot paths of a call that `agent.rs` leaves out, each beside the plain typed `ask` of the
//! same agent in the same run:
//!
//! | group | variants | what the ratio shows |
//! |---|---|---|
//! | `ask_value` | `AgentRef::ask` vs `DynAgentRef::ask_value` (JSON in, JSON out) on one agent | the JSON layer every workflow task and pattern member goes through |
//! | `persistent_ask` | an agent with `Persistence::Never` vs one with `Persistence::AfterEachRequest` | a snapshot (rmp-serde) kept after every request |
//!
//! As in `agent.rs`, every timed loop runs inside a task on a 2-worker tokio runtime, and each
//! group ends with a paired pass: interleaved rounds, medians and the median per-round ratio
//! (`TROUPE_PAIRED=0` skips it, `TROUPE_PAIRED_ROUNDS=n` changes its length).

use std::hint::black_box;
use std::time::{Duration, Instant};

#[path = "harness/mod.rs"]
mod harness;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use harness::{median, on_worker, paired_rounds, tokio_rt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use troupe_runtime::{
    Agent, AgentContext, AgentError, AgentRef, DynAgentRef, Persistence, Runtime, RuntimeConfig,
    Snapshot,
};

/// A counter: adds the request to its total and answers the total. Persistent or not.
struct Tally {
    persist: bool,
}

/// Its state: a few fields, so that the snapshot is not trivially small.
#[derive(Default, Serialize, Deserialize)]
struct Totals {
    total: u64,
    requests: u64,
    last: u64,
}

impl Agent for Tally {
    type Request = u64;
    type Reply = u64;
    type State = Totals;

    async fn init(
        &self,
        _: &AgentContext,
        restored: Option<Snapshot>,
    ) -> Result<Totals, AgentError> {
        match restored {
            Some(s) => s.decode().map_err(|e| AgentError::permanent(e.to_string())),
            None => Ok(Totals::default()),
        }
    }

    async fn handle(&self, _: &AgentContext, st: &mut Totals, n: u64) -> Result<u64, AgentError> {
        st.total += n;
        st.requests += 1;
        st.last = n;
        Ok(st.total)
    }

    fn snapshot(&self, st: &Totals) -> Result<Option<Snapshot>, AgentError> {
        Snapshot::encode(st)
            .map(Some)
            .map_err(|e| AgentError::permanent(e.to_string()))
    }

    fn persistence(&self) -> Persistence {
        if self.persist {
            Persistence::AfterEachRequest
        } else {
            Persistence::Never
        }
    }
}

type Run<'a> = Box<dyn Fn(u64) -> Duration + 'a>;

fn typed<'a>(rt: &'a tokio::runtime::Runtime, agent: &AgentRef<Tally>) -> Run<'a> {
    let agent = agent.clone();
    Box::new(move |iters| {
        let a = agent.clone();
        on_worker(rt, async move {
            let start = Instant::now();
            for i in 0..iters {
                black_box(a.ask(i).await.expect("ask"));
            }
            start.elapsed()
        })
    })
}

fn dynamic<'a>(rt: &'a tokio::runtime::Runtime, agent: &DynAgentRef) -> Run<'a> {
    let agent = agent.clone();
    Box::new(move |iters| {
        let a = agent.clone();
        on_worker(rt, async move {
            let start = Instant::now();
            for i in 0..iters {
                black_box(a.ask_value(json!(i), None).await.expect("ask_value"));
            }
            start.elapsed()
        })
    })
}

/// Interleaved rounds of `(name, run)`; prints the medians (µs per call) and `a ÷ b` per
/// round's median.
fn paired(group: &str, variants: &[(&str, Run<'_>)], iters: u64, rounds: usize) {
    let mut per_call: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for round in 0..=rounds {
        for k in 0..variants.len() {
            let i = (round + k) % variants.len();
            let took = (variants[i].1)(iters).as_secs_f64();
            if round > 0 {
                per_call[i].push(took / iters as f64);
            }
        }
    }
    println!("\npaired {group}: {rounds} interleaved rounds × {iters} calls, medians");
    for (i, (name, _)) in variants.iter().enumerate() {
        println!(
            "  {name:<24} {:.3} µs",
            median(&mut per_call[i].clone()) * 1e6
        );
    }
    let mut ratios: Vec<f64> = per_call[1]
        .iter()
        .zip(&per_call[0])
        .map(|(a, b)| a / b)
        .collect();
    println!(
        "  time {} / {} = {:.2}×",
        variants[1].0,
        variants[0].0,
        median(&mut ratios)
    );
}

fn setup(rt: &tokio::runtime::Runtime) -> (Runtime, AgentRef<Tally>, AgentRef<Tally>, DynAgentRef) {
    rt.block_on(async {
        let troupe = Runtime::start(RuntimeConfig::named("bench-calls"))
            .await
            .expect("start");
        troupe
            .kinds()
            .register("bench.tally", "a counter", |_| Ok(Tally { persist: false }));
        let plain = troupe
            .spawn("plain", Tally { persist: false })
            .await
            .expect("spawn");
        let persistent = troupe
            .spawn("persistent", Tally { persist: true })
            .await
            .expect("spawn");
        let dynamic = troupe
            .spawn_kind("bench.tally", "dynamic", serde_json::Value::Null)
            .await
            .expect("spawn_kind");
        (troupe, plain, persistent, dynamic)
    })
}

fn benches(c: &mut Criterion) {
    let rt = tokio_rt();
    let (troupe, plain, persistent, dynamic_agent) = setup(&rt);
    let typed_dynamic: AgentRef<Tally> = troupe.agent("dynamic").expect("typed handle");

    let ask_value = [
        ("typed_ask", typed(&rt, &typed_dynamic)),
        ("dyn_ask_value", dynamic(&rt, &dynamic_agent)),
    ];
    let mut g = c.benchmark_group("ask_value");
    g.throughput(Throughput::Elements(1));
    for (name, run) in &ask_value {
        g.bench_function(*name, |b| b.iter_custom(run));
    }
    g.finish();
    if let Some(rounds) = paired_rounds("ask_value", 15) {
        paired("ask_value", &ask_value, 20_000, rounds);
    }

    let persistent_ask = [
        ("never", typed(&rt, &plain)),
        ("after_each_request", typed(&rt, &persistent)),
    ];
    let mut g = c.benchmark_group("persistent_ask");
    g.throughput(Throughput::Elements(1));
    for (name, run) in &persistent_ask {
        g.bench_function(*name, |b| b.iter_custom(run));
    }
    g.finish();
    if let Some(rounds) = paired_rounds("persistent_ask", 15) {
        paired("persistent_ask", &persistent_ask, 20_000, rounds);
    }
    rt.block_on(troupe.shutdown());
}

criterion_group!(calls, benches);
criterion_main!(calls);
