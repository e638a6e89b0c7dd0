//! `memory`: bytes per agent, at 10k, 100k and 1M agents (quick: 10k), beside raw ractor actors
//! and tokio tasks, plus a passivated agent (its state held as a [`Snapshot`]).
//!
//! **Method.** Every sample is one child process (`troupe bench-peer --memory VARIANT --agents
//! N`), so no allocator state carries over between samples: it sets up what every variant
//! shares (the runtime, one warm-up agent, the vector of handles), reads its resident set
//! (`VmRSS` in `/proc/self/status`), creates N idle units and keeps a handle to each, reads
//! `VmRSS` again, and reports `(after − before) / N`. Linux only.
//!
//! | variant | one unit |
//! |---|---|
//! | troupe agent | `Runtime::spawn` of a supervised agent with a `u64` state, its `AgentRef` kept |
//! | ractor actor (the ratio's baseline) | `Actor::spawn` of an idle actor, its `ActorRef` kept |
//! | tokio task | a task waiting on an unbounded mpsc receiver (a mailbox), its sender kept |
//! | troupe passivated | the agent's id and its state's `Snapshot`, in a map (what a node keeps of an agent it passivated) |
//!
//! Before each child starts, `MemAvailable` must exceed an estimate of what it needs (about
//! 1.25× the figures measured here: 14 kB per agent, 12 kB per actor, 2 kB per task), or the
//! scenario fails with a clear reason instead of pushing the machine into swap or the OOM
//! killer. At 1M agents a probe needs about 11 GB and, on 2 cores, 40 s.

use std::collections::HashMap;
use std::path::PathBuf;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::mpsc;

use super::{count, Context};
use crate::report::env::meminfo_kb;
use crate::scenario::{reason, Plan, Prepared, Reason, Scenario, Unit, Variant};
use troupe_runtime::{Agent, AgentContext, AgentError, Runtime, RuntimeConfig, Snapshot};

/// The scenarios of the suite.
pub fn scenarios(ctx: &Context) -> Vec<Scenario> {
    let points: &[u64] = ctx.size.pick(&[10_000], &[10_000, 100_000, 1_000_000]);
    let mut out: Vec<Scenario> = points
        .iter()
        .map(|&n| {
            let ctx = ctx.clone();
            let rounds = if n >= 1_000_000 { 2 } else { 3 };
            Scenario::new(
                "memory",
                format!("{} agents", count(n)),
                Unit::Bytes,
                Plan::heavy(rounds),
                move || setup(ctx, n, &["troupe", "ractor", "tokio"]),
            )
            .describe(format!(
                "RSS growth per idle unit with {n} alive, one process per sample"
            ))
            .scale("memory per agent", "agents", n)
        })
        .collect();
    let n = *points.last().expect("a point");
    let ctx = ctx.clone();
    out.push(
        Scenario::new(
            "memory",
            format!("{} passivated", count(n)),
            Unit::Bytes,
            Plan::heavy(2),
            move || setup(ctx, n, &["passivated", "tokio"]),
        )
        .describe("an agent's id and state snapshot kept in a map, vs a tokio task")
        .scale("memory per agent", "agents", n),
    );
    out
}

fn label(variant: &str) -> &'static str {
    match variant {
        "troupe" => "troupe agent",
        "ractor" => "ractor actor",
        "tokio" => "tokio task",
        _ => "troupe passivated (snapshot)",
    }
}

async fn setup(ctx: Context, n: u64, variants: &[&'static str]) -> Result<Prepared, Reason> {
    let exe = ctx.exe()?;
    let mut out = Vec::new();
    for (k, &variant) in variants.iter().enumerate() {
        let exe = exe.clone();
        let run = move |ops: u64| sample(exe.clone(), variant, n, ops);
        out.push(match k {
            0 => Variant::subject(label(variant), run),
            _ => Variant::baseline(label(variant), run),
        });
    }
    Ok(Prepared::new(out))
}

pub(crate) async fn sample(
    exe: PathBuf,
    variant: &'static str,
    n: u64,
    ops: u64,
) -> Result<Vec<u64>, Reason> {
    let mut samples = Vec::new();
    for _ in 0..ops {
        check_available(variant, n)?;
        let out = tokio::process::Command::new(&exe)
            .args([
                "bench-peer",
                "--memory",
                variant,
                "--agents",
                &n.to_string(),
            ])
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| format!("cannot start a memory probe ({}): {e}", exe.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .find(|l| l.starts_with("troupe-bench-probe "));
        let bytes = line
            .and_then(|l| {
                l.split_whitespace()
                    .find_map(|kv| kv.strip_prefix("bytes_per_agent="))
            })
            .and_then(|v| v.parse().ok());
        match (out.status.success(), bytes) {
            (true, Some(b)) => samples.push(b),
            _ => {
                return Err(format!(
                    "the {variant} memory probe failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        }
    }
    Ok(samples)
}

/// Fails when the machine has clearly too little memory for a probe of `n` units.
fn check_available(variant: &str, n: u64) -> Result<(), Reason> {
    let per_unit: u64 = match variant {
        "troupe" => 14_000,
        "ractor" => 12_000,
        "tokio" => 2_000,
        "llm" => 200_000,
        "llm-raw" => 20_000,
        _ => 400,
    };
    let need = n * per_unit + (256 << 20);
    let available = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| meminfo_kb(&s, "MemAvailable:"))
        .map(|kb| kb * 1024);
    match available {
        Some(a) if a < need => Err(format!(
            "not enough memory for {n} {variant} units: needs about {:.1} GiB, {:.1} GiB available",
            need as f64 / (1u64 << 30) as f64,
            a as f64 / (1u64 << 30) as f64
        )),
        _ => Ok(()),
    }
}

/// The resident set of this process, in kB.
pub(crate) fn rss_kb() -> Result<u64, Reason> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("memory probes read /proc/self/status (Linux only): {e}"))?;
    meminfo_kb(&status, "VmRSS:").ok_or_else(|| "no VmRSS in /proc/self/status".into())
}

/// An idle agent with a counter.
struct IdleAgent;

impl Agent for IdleAgent {
    type Request = u64;
    type Reply = u64;
    type State = u64;
    async fn init(&self, _: &AgentContext, _: Option<Snapshot>) -> Result<u64, AgentError> {
        Ok(0)
    }
    async fn handle(&self, _: &AgentContext, st: &mut u64, n: u64) -> Result<u64, AgentError> {
        *st += n;
        Ok(*st)
    }
}

/// An idle raw actor with a counter.
struct IdleActor;

/// Its message.
struct Add(u64);
impl ractor::Message for Add {}

impl Actor for IdleActor {
    type Msg = Add;
    type State = u64;
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<Add>, _: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }
    async fn handle(
        &self,
        _: ActorRef<Add>,
        m: Add,
        st: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        *st += m.0;
        Ok(())
    }
}

/// The probe a child process runs: creates `n` units of `variant` and returns its result line.
/// The units are left alive (the process exits right after).
pub async fn probe(variant: &str, n: u64) -> Result<String, Reason> {
    let n_usize = n as usize;
    let (before, after) = match variant {
        "troupe" => {
            let rt = Runtime::start(RuntimeConfig::named("bench-memory"))
                .await
                .map_err(reason)?;
            let warm = rt.spawn("warm-up", IdleAgent).await.map_err(reason)?;
            let mut refs = Vec::with_capacity(n_usize);
            let before = rss_kb()?;
            for i in 0..n {
                refs.push(
                    rt.spawn(format!("m-{i}").as_str(), IdleAgent)
                        .await
                        .map_err(reason)?,
                );
            }
            let after = rss_kb()?;
            std::mem::forget((rt, warm, refs));
            (before, after)
        }
        "ractor" => {
            let (warm, _) = Actor::spawn(None, IdleActor, ()).await.map_err(reason)?;
            let mut refs = Vec::with_capacity(n_usize);
            let before = rss_kb()?;
            for _ in 0..n {
                refs.push(Actor::spawn(None, IdleActor, ()).await.map_err(reason)?.0);
            }
            let after = rss_kb()?;
            std::mem::forget((warm, refs));
            (before, after)
        }
        "tokio" => {
            let mut senders = Vec::with_capacity(n_usize);
            let before = rss_kb()?;
            for _ in 0..n {
                let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
                tokio::spawn(async move {
                    let mut total = 0u64;
                    while let Some(v) = rx.recv().await {
                        total += v;
                    }
                    std::hint::black_box(total);
                });
                senders.push(tx);
            }
            tokio::task::yield_now().await;
            let after = rss_kb()?;
            std::mem::forget(senders);
            (before, after)
        }
        "passivated" => {
            let mut kept: HashMap<String, Snapshot> = HashMap::new();
            let before = rss_kb()?;
            for i in 0..n {
                let state = Snapshot::encode(&i).map_err(reason)?;
                kept.insert(format!("m-{i}"), state);
            }
            let after = rss_kb()?;
            std::mem::forget(kept);
            (before, after)
        }
        "llm" | "llm-raw" => super::llm::probe(variant, n).await?,
        other => {
            return Err(format!(
                "unknown memory variant {other:?} (troupe, ractor, tokio, passivated, llm, llm-raw)"
            ))
        }
    };
    let bytes = after.saturating_sub(before) * 1024 / n.max(1);
    Ok(format!(
        "troupe-bench-probe variant={variant} agents={n} rss_before_kb={before} rss_after_kb={after} bytes_per_agent={bytes}"
    ))
}
