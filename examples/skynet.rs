//! Skynet: a 10-ary tree whose leaves answer their index and whose inner nodes sum their ten
//! children, so the root answers n(n-1)/2. Three implementations of the same tree:
//!
//! - `troupe`: a `pattern.hierarchical` tree. Every inner node is a supervised team agent
//!   (an actor, plus a team supervisor actor above the bottom level); the leaves are function
//!   leaves, run as tasks of their team agent — a panicking leaf is a child failure of the team
//!   and is restarted per the team's policy. The tree is built, runs one job, and shuts down.
//! - `ractor`: raw ractor actors; each spawns its ten children linked to itself, sums their
//!   replies, replies to its parent and stops (leaves are actors too).
//! - `tokio`: plain tasks; each spawns its ten children and sums their results.
//!
//! The trees are `troupe_bench::skynet`, the same ones the `tree` suite of `troupe bench` and
//! the criterion bench `bench/benches/skynet.rs` measure.
//!
//! One variant per process (so peak RSS is its own), or, without `--variant`, a driver that
//! runs all three as subprocesses and prints a table with ratios:
//!
//!     cargo run --release --example skynet                       # 1,000,000 leaves, all three
//!     cargo run --release --example skynet -- --leaves 100000
//!     cargo run --release --example skynet -- --variant troupe --leaves 1000000

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use troupe::patterns::hierarchical::HierarchicalPattern;
use troupe::{Runtime, RuntimeConfig};
use troupe_bench::skynet::{ractor_skynet, skynet_spec, tokio_skynet};

#[derive(Parser, Debug)]
#[command(about = "Skynet: a 1M-leaf tree on Troupe, raw ractor and tokio")]
struct Args {
    /// Run only this variant (troupe, ractor or tokio) and print one result line; without it,
    /// run all three as subprocesses and compare.
    #[arg(long)]
    variant: Option<String>,
    /// Leaves: a power of ten, at least 10.
    #[arg(long, default_value_t = 1_000_000)]
    leaves: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if args.leaves < 10 || !is_power_of_ten(args.leaves) {
        return Err(format!("--leaves must be a power of ten >= 10, not {}", args.leaves).into());
    }
    match args.variant.as_deref() {
        None => drive(args.leaves),
        Some(variant) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let line = rt.block_on(run_variant(variant, args.leaves))?;
            println!("{line}");
            Ok(())
        }
    }
}

fn is_power_of_ten(mut n: u64) -> bool {
    while n.is_multiple_of(10) && n > 1 {
        n /= 10;
    }
    n == 1
}

async fn run_variant(variant: &str, leaves: u64) -> Result<String, Box<dyn std::error::Error>> {
    let expected = leaves * (leaves - 1) / 2;
    let start = Instant::now();
    let (sum, phases) = match variant {
        "troupe" => troupe_skynet(leaves).await?,
        "ractor" => (ractor_skynet(leaves).await?, String::new()),
        "tokio" => (tokio_skynet(0, leaves).await, String::new()),
        other => return Err(format!("unknown variant {other:?} (troupe, ractor, tokio)").into()),
    };
    let elapsed = start.elapsed();
    if sum != expected {
        return Err(format!("{variant}: sum {sum}, expected {expected}").into());
    }
    Ok(format!(
        "skynet variant={variant} leaves={leaves} sum={sum} elapsed_ms={:.1} peak_rss_kb={}{phases}",
        ms(elapsed),
        peak_rss_kb()
    ))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The process's peak resident set (VmHWM), in kB.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Troupe: a hierarchical pattern tree with function leaves.

async fn troupe_skynet(leaves: u64) -> Result<(u64, String), Box<dyn std::error::Error>> {
    let rt = Runtime::start(RuntimeConfig::named("skynet")).await?;
    let t = Instant::now();
    let tree = rt
        .spawn("skynet", HierarchicalPattern::new(skynet_spec(leaves))?)
        .await?;
    let build = t.elapsed();
    let agents = rt.agents().len();
    let t = Instant::now();
    let sum = tree.ask(json!([0, leaves])).await?;
    let job = t.elapsed();
    let t = Instant::now();
    rt.shutdown().await;
    let shutdown = t.elapsed();
    let sum = sum.as_u64().ok_or("the sum is not a number")?;
    let phases = format!(
        " agents={agents} build_ms={:.1} job_ms={:.1} shutdown_ms={:.1}",
        ms(build),
        ms(job),
        ms(shutdown)
    );
    Ok((sum, phases))
}

// ---------------------------------------------------------------------------------------------
// The driver: each variant in its own process, then a table.

fn drive(leaves: u64) -> Result<(), Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    let mut rows: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    for variant in ["tokio", "troupe", "ractor"] {
        eprintln!("running {variant} ({leaves} leaves)...");
        let out = Command::new(&exe)
            .args(["--variant", variant, "--leaves", &leaves.to_string()])
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let Some(line) = stdout.lines().find(|l| l.starts_with("skynet ")) else {
            return Err(format!(
                "{variant} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        };
        let fields = line
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        rows.push((variant.to_string(), fields));
    }
    let get = |v: &str, k: &str| -> f64 {
        rows.iter()
            .find(|(name, _)| name == v)
            .and_then(|(_, f)| f.get(k))
            .and_then(|x| x.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let (ractor_ms, ractor_kb) = (get("ractor", "elapsed_ms"), get("ractor", "peak_rss_kb"));
    let (tokio_ms, tokio_kb) = (get("tokio", "elapsed_ms"), get("tokio", "peak_rss_kb"));
    println!(
        "\nskynet: {leaves} leaves, 10-ary tree, one process per variant, sum checked = n(n-1)/2\n"
    );
    println!(
        "{:<8} {:>10} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "variant", "time", "peak RSS", "time/ractor", "RSS/ractor", "time/tokio", "RSS/tokio"
    );
    for (variant, _) in &rows {
        let (t, kb) = (get(variant, "elapsed_ms"), get(variant, "peak_rss_kb"));
        println!(
            "{:<8} {:>8.2} s {:>9.0} MB {:>11.2}x {:>11.2}x {:>11.2}x {:>11.2}x",
            variant,
            t / 1e3,
            kb / 1024.0,
            t / ractor_ms,
            kb / ractor_kb,
            t / tokio_ms,
            kb / tokio_kb
        );
    }
    println!(
        "\ntroupe phases: {} agents; build {:.0} ms, job {:.0} ms, shutdown {:.0} ms",
        get("troupe", "agents"),
        get("troupe", "build_ms"),
        get("troupe", "job_ms"),
        get("troupe", "shutdown_ms")
    );
    Ok(())
}
