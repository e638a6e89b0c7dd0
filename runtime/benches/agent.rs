//! Agent-level coordination costs, each Troupe figure beside its raw baselines in the same run.
//!
//! | group | variants | budget (ARCHITECTURE.md) |
//! |---|---|---|
//! | `ask_round_trip` | tokio mpsc+oneshot, ractor `call`, Troupe `AgentRef::ask` | Troupe ≤ 1.2× ractor |
//! | `one_way` | 10k sends + one round trip: tokio mpsc, ractor `cast`, Troupe `tell` | Troupe ≥ 0.9× ractor |
//! | `spawn` | spawn then stop N=1000: tokio task, ractor `spawn`, ractor `spawn_linked`, Troupe `spawn` | Troupe ≤ 1.2× ractor |
//!
//! Every timed loop runs inside a task on a 2-worker multi-thread tokio runtime (built once per
//! group), so callers and actors share workers the way agents calling agents do.
//!
//! Criterion runs the variants of a group one after the other. Because absolute times on a shared
//! machine drift by ±30%, each group then runs a short *paired* pass: rounds in which every
//! variant runs the same number of iterations, in rotating order, and prints the median per-op
//! figures and the median of the per-round ratios. Set `TROUPE_PAIRED=0` to skip it, or
//! `TROUPE_PAIRED_ROUNDS=n` to change its length.
//!
//! Spawn fairness: every variant spawns its N actors one after the other (each awaited until it
//! runs), then stops them one after the other, each stop awaited until the actor is gone. Troupe
//! stops with `Runtime::stop_agent` (what a user does to remove one agent); shutting down a fresh
//! runtime instead would not be comparable, since ractor kills a stopped supervisor's children
//! without waiting for them. The paired pass also splits spawn from stop.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "harness/mod.rs"]
mod harness;

use harness::{median, on_worker, paired_rounds, tokio_rt};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use tokio::sync::{mpsc, oneshot};
use troupe_runtime::ractor::{
    self, Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent,
};
use troupe_runtime::{Agent, AgentContext, AgentError, Runtime, RuntimeConfig, Snapshot};

/// Messages per `one_way` iteration.
const ONE_WAY: u64 = 10_000;
/// Actors per `spawn` iteration.
const SPAWN_N: usize = 1_000;

// ---------------------------------------------------------------------------------------------
// The three servers: the same work (reply with request + 1, count one-way messages) on each layer.

/// Troupe agent.
struct Plus1;

impl Agent for Plus1 {
    type Request = u64;
    type Reply = u64;
    type State = u64;

    async fn init(&self, _ctx: &AgentContext, _r: Option<Snapshot>) -> Result<u64, AgentError> {
        Ok(0)
    }

    async fn handle(&self, _ctx: &AgentContext, seen: &mut u64, n: u64) -> Result<u64, AgentError> {
        *seen += 1;
        Ok(n + 1)
    }
}

/// Raw ractor actor.
struct RawPlus1;

enum RawMsg {
    Ask(u64, RpcReplyPort<u64>),
    Tell(u64),
}

impl ractor::Message for RawMsg {}

impl Actor for RawPlus1 {
    type Msg = RawMsg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, _me: ActorRef<RawMsg>, _: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _me: ActorRef<RawMsg>,
        msg: RawMsg,
        seen: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        *seen += 1;
        match msg {
            RawMsg::Ask(n, reply) => {
                let _ = reply.send(n + 1);
            }
            RawMsg::Tell(n) => {
                black_box(n);
            }
        }
        Ok(())
    }
}

/// Raw tokio task.
enum TokioMsg {
    Ask(u64, oneshot::Sender<u64>),
    Tell(u64),
}

fn spawn_tokio_server() -> mpsc::UnboundedSender<TokioMsg> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut seen = 0u64;
        while let Some(msg) = rx.recv().await {
            seen += 1;
            match msg {
                TokioMsg::Ask(n, reply) => {
                    let _ = reply.send(n + 1);
                }
                TokioMsg::Tell(n) => {
                    black_box(n);
                }
            }
        }
        black_box(seen);
    });
    tx
}

async fn tokio_ask(tx: &mpsc::UnboundedSender<TokioMsg>, n: u64) -> u64 {
    let (reply, rx) = oneshot::channel();
    tx.send(TokioMsg::Ask(n, reply)).expect("tokio server gone");
    rx.await.expect("tokio server dropped the reply")
}

async fn ractor_ask(actor: &ActorRef<RawMsg>, n: u64) -> u64 {
    match actor.call(|r| RawMsg::Ask(n, r), None).await {
        Ok(ractor::rpc::CallResult::Success(v)) => v,
        _ => panic!("ractor call failed"),
    }
}

/// An actor that does nothing: what `spawn` creates.
struct Idle;

impl Actor for Idle {
    type Msg = RawMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _me: ActorRef<RawMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

/// A raw ractor supervisor that ignores its children's exits (ractor's default would stop it).
struct RawSupervisor;

impl Actor for RawSupervisor {
    type Msg = RawMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _me: ActorRef<RawMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _me: ActorRef<RawMsg>,
        event: SupervisionEvent,
        _st: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        black_box(event);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Harness helpers.

/// One variant of a group: `run(iters)` returns the time of `iters` iterations.
struct Variant<'a> {
    name: &'static str,
    run: Box<dyn Fn(u64) -> Duration + 'a>,
    /// For `spawn`: nanoseconds the last `run` spent spawning (the rest was stopping).
    spawn_ns: Option<Arc<AtomicU64>>,
}

/// How the paired pass prints a figure.
#[derive(Clone, Copy)]
enum Unit {
    /// µs per element (`elems` elements per iteration).
    MicrosPer { elems: u64 },
    /// Millions of elements per second.
    MegaPerSec { elems: u64 },
}

/// The paired pass: one discarded warm-up round, then `rounds` rounds of every variant in
/// rotating order, `iters` iterations each. Prints medians and the median per-round ratio of
/// each `(numerator, denominator, budget)`.
fn paired(
    group: &str,
    variants: &[Variant<'_>],
    iters: u64,
    rounds: usize,
    unit: Unit,
    ratios: &[(&str, &str, &str)],
) {
    let n = variants.len();
    let mut secs_per_iter: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut spawn_share: Vec<Vec<f64>> = vec![Vec::new(); n];
    for round in 0..=rounds {
        for k in 0..n {
            let i = (round + k) % n;
            let v = &variants[i];
            if let Some(s) = &v.spawn_ns {
                s.store(0, Ordering::Relaxed);
            }
            let took = (v.run)(iters).as_secs_f64();
            if round > 0 {
                secs_per_iter[i].push(took / iters as f64);
                if let Some(s) = &v.spawn_ns {
                    let spawn = s.load(Ordering::Relaxed) as f64 / 1e9;
                    spawn_share[i].push(spawn / iters as f64);
                }
            }
        }
    }
    let show = |secs: f64| match unit {
        Unit::MicrosPer { elems } => format!("{:.3} µs", secs * 1e6 / elems as f64),
        Unit::MegaPerSec { elems } => format!("{:.3} M/s", elems as f64 / secs / 1e6),
    };
    println!("\npaired {group}: {rounds} interleaved rounds × {iters} iters, medians");
    let mut medians = Vec::with_capacity(n);
    for (i, v) in variants.iter().enumerate() {
        let m = median(&mut secs_per_iter[i].clone());
        medians.push(m);
        let mut line = format!("  {:<28} {}", v.name, show(m));
        if let (false, Unit::MicrosPer { elems }) = (spawn_share[i].is_empty(), unit) {
            let s = median(&mut spawn_share[i].clone());
            let per = |secs: f64| secs * 1e6 / elems as f64;
            line += &format!("  (spawn {:.2} µs + stop {:.2} µs)", per(s), per(m - s));
        }
        println!("{line}");
    }
    for (num, den, budget) in ratios {
        let idx = |name: &str| {
            variants
                .iter()
                .position(|v| v.name == name)
                .expect("ratio names a variant")
        };
        let (a, b) = (idx(num), idx(den));
        let mut per_round: Vec<f64> = secs_per_iter[a]
            .iter()
            .zip(&secs_per_iter[b])
            .map(|(x, y)| x / y)
            .collect();
        let time_ratio = median(&mut per_round);
        let (ratio, what) = match unit {
            Unit::MicrosPer { .. } => (time_ratio, "time"),
            Unit::MegaPerSec { .. } => (1.0 / time_ratio, "throughput"),
        };
        println!("  {what} {num} / {den} = {ratio:.2}×  (budget {budget})");
    }
}

fn bench_variants(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    variants: &[Variant<'_>],
) {
    for v in variants {
        g.bench_function(v.name, |b| b.iter_custom(|iters| (v.run)(iters)));
    }
}

/// Troupe spawn+stop of `SPAWN_N` agents in batches of `batch` (spawn a batch, stop it, next
/// batch): with `batch < SPAWN_N` the supervisor holds fewer children at a time, which shows
/// whether the per-agent cost depends on how many siblings an agent has.
fn troupe_spawn<'a>(
    rt: &'a tokio::runtime::Runtime,
    troupe: &Runtime,
    ids: &Arc<Vec<String>>,
    batch: usize,
    split: &Arc<AtomicU64>,
) -> Box<dyn Fn(u64) -> Duration + 'a> {
    let (troupe, ids, split) = (troupe.clone(), ids.clone(), split.clone());
    Box::new(move |iters| {
        let (troupe, ids, split) = (troupe.clone(), ids.clone(), split.clone());
        on_worker(rt, async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                for chunk in ids.chunks(batch) {
                    let start = Instant::now();
                    let mut agents = Vec::with_capacity(chunk.len());
                    for id in chunk {
                        agents.push(troupe.spawn(id.as_str(), Plus1).await.expect("spawn"));
                    }
                    let spawned = start.elapsed();
                    for id in chunk {
                        assert!(troupe.stop_agent(id).await, "agent {id} was not running");
                    }
                    total += start.elapsed();
                    black_box(agents);
                    split.fetch_add(spawned.as_nanos() as u64, Ordering::Relaxed);
                }
            }
            total
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Groups.

fn ask_round_trip(c: &mut Criterion) {
    let rt = tokio_rt();
    let (tokio_tx, raw, troupe, agent) = rt.block_on(async {
        let tokio_tx = spawn_tokio_server();
        let (raw, _) = Actor::spawn(None, RawPlus1, ())
            .await
            .expect("ractor spawn");
        let troupe = Runtime::start(RuntimeConfig::named("bench-agent"))
            .await
            .expect("troupe start");
        let agent = troupe.spawn("plus1", Plus1).await.expect("troupe spawn");
        (tokio_tx, raw, troupe, agent)
    });
    let variants = [
        Variant {
            name: "tokio_mpsc_oneshot",
            run: Box::new(|iters| {
                let tx = tokio_tx.clone();
                on_worker(&rt, async move {
                    let start = Instant::now();
                    for i in 0..iters {
                        black_box(tokio_ask(&tx, i).await);
                    }
                    start.elapsed()
                })
            }),
            spawn_ns: None,
        },
        Variant {
            name: "ractor_call",
            run: Box::new(|iters| {
                let actor = raw.clone();
                on_worker(&rt, async move {
                    let start = Instant::now();
                    for i in 0..iters {
                        black_box(ractor_ask(&actor, i).await);
                    }
                    start.elapsed()
                })
            }),
            spawn_ns: None,
        },
        Variant {
            name: "troupe_ask",
            run: Box::new(|iters| {
                let agent = agent.clone();
                on_worker(&rt, async move {
                    let start = Instant::now();
                    for i in 0..iters {
                        black_box(agent.ask(i).await.expect("troupe ask"));
                    }
                    start.elapsed()
                })
            }),
            spawn_ns: None,
        },
    ];
    let mut g = c.benchmark_group("ask_round_trip");
    g.throughput(Throughput::Elements(1));
    bench_variants(&mut g, &variants);
    g.finish();
    if let Some(rounds) = paired_rounds("ask_round_trip", 21) {
        paired(
            "ask_round_trip",
            &variants,
            20_000,
            rounds,
            Unit::MicrosPer { elems: 1 },
            &[
                ("troupe_ask", "ractor_call", "≤ 1.20×"),
                ("ractor_call", "tokio_mpsc_oneshot", "info"),
            ],
        );
    }
    drop(variants);
    rt.block_on(async {
        raw.stop(None);
        troupe.shutdown().await;
    });
}

fn one_way(c: &mut Criterion) {
    let rt = tokio_rt();
    let (tokio_tx, raw, troupe, agent) = rt.block_on(async {
        let tokio_tx = spawn_tokio_server();
        let (raw, _) = Actor::spawn(None, RawPlus1, ())
            .await
            .expect("ractor spawn");
        let troupe = Runtime::start(RuntimeConfig::named("bench-one-way"))
            .await
            .expect("troupe start");
        let agent = troupe.spawn("plus1", Plus1).await.expect("troupe spawn");
        (tokio_tx, raw, troupe, agent)
    });
    let variants = [
        Variant {
            name: "tokio_mpsc",
            run: Box::new(|iters| {
                let tx = tokio_tx.clone();
                on_worker(&rt, async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        for i in 0..ONE_WAY {
                            tx.send(TokioMsg::Tell(i)).expect("tokio server gone");
                        }
                        black_box(tokio_ask(&tx, 0).await);
                    }
                    start.elapsed()
                })
            }),
            spawn_ns: None,
        },
        Variant {
            name: "ractor_cast",
            run: Box::new(|iters| {
                let actor = raw.clone();
                on_worker(&rt, async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        for i in 0..ONE_WAY {
                            actor.cast(RawMsg::Tell(i)).expect("ractor cast");
                        }
                        black_box(ractor_ask(&actor, 0).await);
                    }
                    start.elapsed()
                })
            }),
            spawn_ns: None,
        },
        Variant {
            name: "troupe_tell",
            run: Box::new(|iters| {
                let agent = agent.clone();
                on_worker(&rt, async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        for i in 0..ONE_WAY {
                            agent.tell(i).expect("troupe tell");
                        }
                        black_box(agent.ask(0).await.expect("troupe ask"));
                    }
                    start.elapsed()
                })
            }),
            spawn_ns: None,
        },
    ];
    let mut g = c.benchmark_group("one_way");
    g.throughput(Throughput::Elements(ONE_WAY));
    bench_variants(&mut g, &variants);
    g.finish();
    if let Some(rounds) = paired_rounds("one_way", 15) {
        paired(
            "one_way",
            &variants,
            5,
            rounds,
            Unit::MegaPerSec { elems: ONE_WAY },
            &[
                ("troupe_tell", "ractor_cast", "≥ 0.90×"),
                ("ractor_cast", "tokio_mpsc", "info"),
            ],
        );
    }
    drop(variants);
    rt.block_on(async {
        raw.stop(None);
        troupe.shutdown().await;
    });
}

fn spawn(c: &mut Criterion) {
    let rt = tokio_rt();
    let (sup, troupe) = rt.block_on(async {
        let (sup, _) = Actor::spawn(None, RawSupervisor, ())
            .await
            .expect("raw supervisor");
        let troupe = Runtime::start(RuntimeConfig::named("bench-spawn"))
            .await
            .expect("troupe start");
        (sup, troupe)
    });
    let ids: Arc<Vec<String>> = Arc::new((0..SPAWN_N).map(|i| format!("agent-{i}")).collect());
    let split: [Arc<AtomicU64>; 5] = Default::default();

    let tokio_split = split[0].clone();
    let spawn_split = split[1].clone();
    let linked_split = split[2].clone();
    let variants = [
        Variant {
            name: "tokio_task",
            run: Box::new(|iters| {
                let split = tokio_split.clone();
                on_worker(&rt, async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        let mut tasks = Vec::with_capacity(SPAWN_N);
                        for _ in 0..SPAWN_N {
                            let (stop, rx) = oneshot::channel::<()>();
                            tasks.push((stop, tokio::spawn(async move { black_box(rx.await) })));
                        }
                        let spawned = start.elapsed();
                        for (stop, task) in tasks {
                            let _ = stop.send(());
                            let _ = task.await;
                        }
                        total += start.elapsed();
                        split.fetch_add(spawned.as_nanos() as u64, Ordering::Relaxed);
                    }
                    total
                })
            }),
            spawn_ns: Some(split[0].clone()),
        },
        Variant {
            name: "ractor_spawn",
            run: Box::new(|iters| {
                let split = spawn_split.clone();
                on_worker(&rt, async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        let mut actors = Vec::with_capacity(SPAWN_N);
                        for _ in 0..SPAWN_N {
                            let (a, _) = Actor::spawn(None, Idle, ()).await.expect("spawn");
                            actors.push(a);
                        }
                        let spawned = start.elapsed();
                        for a in actors {
                            a.stop_and_wait(None, None).await.expect("stop");
                        }
                        total += start.elapsed();
                        split.fetch_add(spawned.as_nanos() as u64, Ordering::Relaxed);
                    }
                    total
                })
            }),
            spawn_ns: Some(split[1].clone()),
        },
        Variant {
            name: "ractor_spawn_linked",
            run: Box::new(|iters| {
                let split = linked_split.clone();
                let sup = sup.get_cell();
                on_worker(&rt, async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        let mut actors = Vec::with_capacity(SPAWN_N);
                        for _ in 0..SPAWN_N {
                            let (a, _) = Actor::spawn_linked(None, Idle, (), sup.clone())
                                .await
                                .expect("spawn_linked");
                            actors.push(a);
                        }
                        let spawned = start.elapsed();
                        for a in actors {
                            a.stop_and_wait(None, None).await.expect("stop");
                        }
                        total += start.elapsed();
                        split.fetch_add(spawned.as_nanos() as u64, Ordering::Relaxed);
                    }
                    total
                })
            }),
            spawn_ns: Some(split[2].clone()),
        },
        Variant {
            name: "troupe_spawn",
            run: troupe_spawn(&rt, &troupe, &ids, SPAWN_N, &split[3]),
            spawn_ns: Some(split[3].clone()),
        },
        Variant {
            name: "troupe_spawn_10x100",
            run: troupe_spawn(&rt, &troupe, &ids, SPAWN_N / 10, &split[4]),
            spawn_ns: Some(split[4].clone()),
        },
    ];
    let mut g = c.benchmark_group("spawn");
    g.throughput(Throughput::Elements(SPAWN_N as u64));
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    bench_variants(&mut g, &variants);
    g.finish();
    if let Some(rounds) = paired_rounds("spawn", 9) {
        paired(
            "spawn",
            &variants,
            1,
            rounds,
            Unit::MicrosPer {
                elems: SPAWN_N as u64,
            },
            &[
                ("troupe_spawn", "ractor_spawn_linked", "≤ 1.20×"),
                ("troupe_spawn", "ractor_spawn", "≤ 1.20×"),
                ("troupe_spawn", "troupe_spawn_10x100", "info"),
                ("ractor_spawn", "tokio_task", "info"),
            ],
        );
    }
    drop(variants);
    rt.block_on(async {
        sup.stop(None);
        troupe.shutdown().await;
    });
}

criterion_group!(benches, ask_round_trip, one_way, spawn);
criterion_main!(benches);
