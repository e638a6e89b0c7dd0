//! Workflow machinery costs, each Troupe figure beside its raw baselines in the same run.
//!
//! | group | Troupe | baselines |
//! |---|---|---|
//! | `fanout_10k` | `rt.run` of 10,000 independent tasks, and of 10,000 tasks after one root, on a pool of 2 echo agents | the same 10k calls through `AgentRef::ask` and `DynAgent::ask_value` from one task (JoinSet); one raw ractor actor per call (the task-actor shape without engine, events or report); 10k no-op tokio tasks |
//! | `chain` | a linear chain of 100 tasks; a 1-task workflow (the fixed cost of a run) | 100 sequential `ask_value` / `ask` |
//!
//! Figures are per task (criterion `Throughput::Elements`, so time / elements). Every timed
//! loop runs inside a task on a 2-worker multi-thread tokio runtime built once per group; specs
//! are built outside the timed part. After criterion, each group runs a short *paired* pass
//! (variants interleaved in rotating order, medians and median per-round ratios), because
//! absolute times drift on a shared machine. `TROUPE_PAIRED=0` skips it,
//! `TROUPE_PAIRED_ROUNDS=n` changes its length.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "harness/mod.rs"]
mod harness;

use harness::{median, on_worker, paired_rounds, tokio_rt};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use troupe_runtime::ractor::{self, Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use troupe_runtime::{
    Agent, AgentContext, AgentError, AgentRef, DynAgentExt, DynAgentRef, Outcome, PoolSpec,
    Runtime, RuntimeConfig, Snapshot, TaskSpec, WorkflowSpec,
};

/// Tasks of a `fanout_10k` workflow (besides the root of the dependent variant).
const FANOUT: usize = 10_000;
/// Tasks of a `chain` workflow.
const CHAIN: usize = 100;
/// Agents in the pool.
const POOL: usize = 2;
/// The kind the workflows use.
const ECHO: &str = "bench.echo";

/// Echoes its input: the no-op task.
struct Echo;

impl Agent for Echo {
    type Request = Value;
    type Reply = Value;
    type State = ();

    async fn init(&self, _ctx: &AgentContext, _r: Option<Snapshot>) -> Result<(), AgentError> {
        Ok(())
    }

    async fn handle(
        &self,
        _ctx: &AgentContext,
        _st: &mut (),
        input: Value,
    ) -> Result<Value, AgentError> {
        Ok(input)
    }
}

fn register_echo(rt: &Runtime) {
    rt.kinds()
        .register(ECHO, "echoes its input", |_config: &Value| Ok(Echo));
}

fn pool() -> PoolSpec {
    PoolSpec::new(ECHO, POOL)
}

fn fanout_spec(with_root: bool) -> WorkflowSpec {
    let mut b = WorkflowSpec::builder(if with_root {
        "fanout-after-root"
    } else {
        "fanout"
    })
    .pool("echo", pool());
    if with_root {
        b = b.task(TaskSpec::new("root", "echo").input(json!(0)));
    }
    for i in 0..FANOUT {
        let t = TaskSpec::new(format!("t{i}"), "echo");
        b = b.task(if with_root {
            t.after(["root"])
        } else {
            t.input(json!(i))
        });
    }
    b.build()
}

fn chain_spec(len: usize) -> WorkflowSpec {
    let mut b = WorkflowSpec::builder(format!("chain-{len}")).pool("echo", pool());
    b = b.task(TaskSpec::new("c0", "echo").input(json!(0)));
    for i in 1..len {
        b = b.task(TaskSpec::new(format!("c{i}"), "echo").after([format!("c{}", i - 1)]));
    }
    b.build()
}

async fn run_ok(rt: &Runtime, spec: WorkflowSpec, tasks: usize) {
    let report = rt.run(spec).await.expect("workflow ran");
    assert_eq!(report.outcome, Outcome::Succeeded, "workflow failed");
    assert_eq!(report.tasks.len(), tasks);
    black_box(report);
}

// ---------------------------------------------------------------------------------------------
// The raw ractor "actor per call" baseline: what a task actor does (spawned linked, sends itself
// a run message, calls the agent, reports to a collector, stops), without engine, events, spans,
// pools or report.

struct CallActor;

struct CallArgs {
    agent: DynAgentRef,
    input: Value,
    done: mpsc::UnboundedSender<Value>,
}

struct Go;

impl ractor::Message for Go {}

impl Actor for CallActor {
    type Msg = Go;
    type State = Option<CallArgs>;
    type Arguments = CallArgs;

    async fn pre_start(
        &self,
        me: ActorRef<Go>,
        args: CallArgs,
    ) -> Result<Option<CallArgs>, ActorProcessingErr> {
        me.send_message(Go)?;
        Ok(Some(args))
    }

    async fn handle(
        &self,
        me: ActorRef<Go>,
        _go: Go,
        st: &mut Option<CallArgs>,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(args) = st.take() {
            let out = args.agent.ask_value(args.input, None).await?;
            let _ = args.done.send(out);
        }
        me.stop(None);
        Ok(())
    }
}

/// A raw supervisor that ignores its children's exits (ractor's default would stop it).
struct RawSupervisor;

impl Actor for RawSupervisor {
    type Msg = Go;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _me: ActorRef<Go>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _me: ActorRef<Go>,
        event: SupervisionEvent,
        _st: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        black_box(event);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Harness helpers (the same as in benches/agent.rs).

/// One variant of a group: `run(iters)` returns the time of `iters` iterations.
struct Variant<'a> {
    name: &'static str,
    /// Elements (tasks or calls) per iteration, for criterion's throughput.
    elems: u64,
    run: Box<dyn Fn(u64) -> Duration + 'a>,
}

/// The paired pass: one discarded warm-up round that also sizes each variant's batch (enough
/// iterations for about 20 ms), then `rounds` rounds of every variant in rotating order. Prints
/// µs per element and the median per-round ratio of each `(numerator, denominator)`; returns
/// the median seconds per element of each variant.
fn paired(
    group: &str,
    variants: &[Variant<'_>],
    rounds: usize,
    ratios: &[(&str, &str)],
) -> Vec<f64> {
    const BATCH: f64 = 0.020;
    let n = variants.len();
    let mut iters = vec![1u64; n];
    let mut per_elem: Vec<Vec<f64>> = vec![Vec::new(); n];
    for round in 0..=rounds {
        for k in 0..n {
            let i = (round + k) % n;
            let v = &variants[i];
            let took = (v.run)(iters[i]).as_secs_f64();
            if round == 0 {
                iters[i] = (BATCH / took.max(1e-9)).ceil().clamp(1.0, 10_000.0) as u64;
            } else {
                per_elem[i].push(took / (iters[i] * v.elems) as f64);
            }
        }
    }
    println!("\npaired {group}: {rounds} interleaved rounds, medians");
    let mut medians = Vec::with_capacity(n);
    for (i, v) in variants.iter().enumerate() {
        let m = median(&mut per_elem[i].clone());
        medians.push(m);
        println!("  {:<28} {:.3} µs per element", v.name, m * 1e6);
    }
    for (num, den) in ratios {
        let idx = |name: &str| {
            variants
                .iter()
                .position(|v| v.name == name)
                .expect("ratio names a variant")
        };
        let (a, b) = (idx(num), idx(den));
        let mut per_round: Vec<f64> = per_elem[a]
            .iter()
            .zip(&per_elem[b])
            .map(|(x, y)| x / y)
            .collect();
        println!(
            "  time per element {num} / {den} = {:.2}×",
            median(&mut per_round)
        );
    }
    medians
}

fn bench_variants(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    variants: &[Variant<'_>],
) {
    for v in variants {
        g.throughput(Throughput::Elements(v.elems));
        g.bench_function(v.name, |b| b.iter_custom(|iters| (v.run)(iters)));
    }
}

/// The echo agents the baselines call directly (spawned once per group, like a warm pool).
async fn start_troupe(name: &str) -> (Runtime, Vec<DynAgentRef>, Vec<AgentRef<Echo>>) {
    let rt = Runtime::start(RuntimeConfig::named(name))
        .await
        .expect("troupe start");
    register_echo(&rt);
    let mut dyns = Vec::with_capacity(POOL);
    let mut typed = Vec::with_capacity(POOL);
    for i in 0..POOL {
        let d = rt
            .spawn_kind(ECHO, format!("echo-{i}"), Value::Null)
            .await
            .expect("spawn echo");
        typed.push(d.typed::<Echo>().expect("typed echo"));
        dyns.push(d);
    }
    (rt, dyns, typed)
}

// ---------------------------------------------------------------------------------------------
// Groups.

fn fanout_10k(c: &mut Criterion) {
    let rt = tokio_rt();
    let (troupe, dyns, typed) = rt.block_on(start_troupe("bench-fanout"));
    let (sup, _) = rt
        .block_on(Actor::spawn(None, RawSupervisor, ()))
        .expect("raw supervisor");
    let independent = fanout_spec(false);
    let after_root = fanout_spec(true);
    let dyns = Arc::new(dyns);
    let typed = Arc::new(typed);
    let n = FANOUT as u64;

    let variants = [
        Variant {
            name: "workflow_independent",
            elems: n,
            run: Box::new(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let spec = independent.clone();
                    let troupe = troupe.clone();
                    total += on_worker(&rt, async move {
                        let start = Instant::now();
                        run_ok(&troupe, spec, FANOUT).await;
                        start.elapsed()
                    });
                }
                total
            }),
        },
        Variant {
            name: "workflow_after_root",
            elems: n,
            run: Box::new(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let spec = after_root.clone();
                    let troupe = troupe.clone();
                    total += on_worker(&rt, async move {
                        let start = Instant::now();
                        run_ok(&troupe, spec, FANOUT + 1).await;
                        start.elapsed()
                    });
                }
                total
            }),
        },
        Variant {
            name: "agent_ask_joinset",
            elems: n,
            run: Box::new(|iters| {
                let typed = typed.clone();
                on_worker(&rt, async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let mut set = JoinSet::new();
                        for i in 0..FANOUT {
                            let a = typed[i % POOL].clone();
                            set.spawn(async move { a.ask(json!(i)).await });
                        }
                        while let Some(r) = set.join_next().await {
                            black_box(r.expect("joined").expect("ask"));
                        }
                    }
                    start.elapsed()
                })
            }),
        },
        Variant {
            name: "dyn_ask_value_joinset",
            elems: n,
            run: Box::new(|iters| {
                let dyns = dyns.clone();
                on_worker(&rt, async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let mut set = JoinSet::new();
                        for i in 0..FANOUT {
                            let a = dyns[i % POOL].clone();
                            set.spawn(async move { a.ask_value(json!(i), None).await });
                        }
                        while let Some(r) = set.join_next().await {
                            black_box(r.expect("joined").expect("ask_value"));
                        }
                    }
                    start.elapsed()
                })
            }),
        },
        Variant {
            name: "ractor_actor_per_call",
            elems: n,
            run: Box::new(|iters| {
                let dyns = dyns.clone();
                let sup = sup.get_cell();
                on_worker(&rt, async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let (tx, mut rx) = mpsc::unbounded_channel();
                        for i in 0..FANOUT {
                            let args = CallArgs {
                                agent: dyns[i % POOL].clone(),
                                input: json!(i),
                                done: tx.clone(),
                            };
                            Actor::spawn_linked(None, CallActor, args, sup.clone())
                                .await
                                .expect("spawn call actor");
                        }
                        for _ in 0..FANOUT {
                            black_box(rx.recv().await.expect("call result"));
                        }
                    }
                    start.elapsed()
                })
            }),
        },
        Variant {
            name: "tokio_tasks_noop",
            elems: n,
            run: Box::new(|iters| {
                on_worker(&rt, async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let mut set = JoinSet::new();
                        for i in 0..FANOUT {
                            set.spawn(async move { black_box(i) });
                        }
                        while let Some(r) = set.join_next().await {
                            black_box(r.expect("joined"));
                        }
                    }
                    start.elapsed()
                })
            }),
        },
    ];
    let mut g = c.benchmark_group("fanout_10k");
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);
    bench_variants(&mut g, &variants);
    g.finish();
    if let Some(rounds) = paired_rounds("fanout_10k", 7) {
        let _ = paired(
            "fanout_10k",
            &variants,
            rounds,
            &[
                ("workflow_independent", "dyn_ask_value_joinset"),
                ("workflow_independent", "ractor_actor_per_call"),
                ("workflow_after_root", "dyn_ask_value_joinset"),
                ("dyn_ask_value_joinset", "agent_ask_joinset"),
            ],
        );
    }
    drop(variants);
    rt.block_on(async {
        sup.stop(None);
        troupe.shutdown().await;
    });
}

fn chain(c: &mut Criterion) {
    let rt = tokio_rt();
    let (troupe, dyns, typed) = rt.block_on(start_troupe("bench-chain"));
    let chain = chain_spec(CHAIN);
    let single = chain_spec(1);
    let dyn0 = dyns[0].clone();
    let typed0 = typed[0].clone();
    let workflow = |spec: &WorkflowSpec, tasks: usize| {
        let rt = &rt;
        let troupe = &troupe;
        let spec = spec.clone();
        Box::new(move |iters: u64| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let spec = spec.clone();
                let troupe = troupe.clone();
                total += on_worker(rt, async move {
                    let start = Instant::now();
                    run_ok(&troupe, spec, tasks).await;
                    start.elapsed()
                });
            }
            total
        })
    };
    let variants = [
        Variant {
            name: "workflow_chain_100",
            elems: CHAIN as u64,
            run: workflow(&chain, CHAIN),
        },
        Variant {
            name: "workflow_1_task",
            elems: 1,
            run: workflow(&single, 1),
        },
        Variant {
            name: "dyn_ask_value_seq_100",
            elems: CHAIN as u64,
            run: Box::new(|iters| {
                let a = dyn0.clone();
                on_worker(&rt, async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let mut v = json!(0);
                        for _ in 0..CHAIN {
                            v = a.ask_value(v, None).await.expect("ask_value");
                        }
                        black_box(v);
                    }
                    start.elapsed()
                })
            }),
        },
        Variant {
            name: "agent_ask_seq_100",
            elems: CHAIN as u64,
            run: Box::new(|iters| {
                let a = typed0.clone();
                on_worker(&rt, async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let mut v = json!(0);
                        for _ in 0..CHAIN {
                            v = a.ask(v).await.expect("ask");
                        }
                        black_box(v);
                    }
                    start.elapsed()
                })
            }),
        },
    ];
    let mut g = c.benchmark_group("chain");
    bench_variants(&mut g, &variants);
    g.finish();
    if let Some(rounds) = paired_rounds("chain", 31) {
        let m = paired(
            "chain",
            &variants,
            rounds,
            &[
                ("workflow_chain_100", "dyn_ask_value_seq_100"),
                ("dyn_ask_value_seq_100", "agent_ask_seq_100"),
            ],
        );
        // Per hop without the run's fixed cost: (chain - 1-task run) / (CHAIN - 1).
        let hop = (m[0] * CHAIN as f64 - m[1]) / (CHAIN - 1) as f64;
        println!(
            "  per hop net of the fixed run cost: {:.3} µs ({:.2}× an ask_value)",
            hop * 1e6,
            hop / m[2]
        );
    }
    drop(variants);
    rt.block_on(troupe.shutdown());
}

criterion_group!(benches, fanout_10k, chain);
criterion_main!(benches);
