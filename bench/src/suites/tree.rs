//! `tree`: the skynet tree — a 10-ary tree whose leaves answer their index and whose inner
//! nodes sum their ten children, so the root answers n(n-1)/2 (checked) — built, run once and
//! torn down per operation, three ways (the trees of [`crate::skynet`], shared
//! with `examples/skynet.rs` and the criterion bench):
//!
//! | variant | tree |
//! |---|---|
//! | troupe hierarchical | `pattern.hierarchical`: every inner node a supervised team agent, leaves function leaves run as tasks of their team |
//! | raw ractor (the ratio's baseline) | one actor per node, leaves included, each spawning its ten children linked |
//! | tokio tasks | one task per node |
//!
//! Sizes: 10k (quick); 10k, 100k and 1M leaves (full). In one process, so these are times only;
//! `cargo run --release --example skynet` gives peak RSS with one process per variant.

use std::time::Instant;

use serde_json::json;
use troupe_patterns::hierarchical::HierarchicalPattern;
use troupe_runtime::{Runtime, RuntimeConfig};

use super::{count, Context};
use crate::scenario::{reason, Plan, Prepared, Reason, Scenario, Unit, Variant};
use crate::skynet as trees;

/// The scenarios of the suite.
pub fn scenarios(ctx: &Context) -> Vec<Scenario> {
    let sizes: &[u64] = ctx
        .size
        .pick(&[10_000, 100_000], &[10_000, 100_000, 1_000_000]);
    sizes
        .iter()
        .map(|&leaves| {
            let plan = match leaves {
                n if n <= 10_000 => Plan::batch(4).warmup(1),
                n if n <= 100_000 => Plan::heavy(3).warmup(1),
                _ => Plan::heavy(2),
            };
            Scenario::new(
                "tree",
                format!("skynet {} leaves", count(leaves)),
                Unit::batch(leaves, "leaf"),
                plan,
                move || setup(leaves),
            )
            .describe("build the tree, one job (sum checked), tear it down")
            .scale("tree time", "leaves", leaves)
        })
        .collect()
}

async fn setup(leaves: u64) -> Result<Prepared, Reason> {
    let expected = leaves * (leaves - 1) / 2;
    let check = move |variant: &str, sum: u64| {
        if sum == expected {
            Ok(())
        } else {
            Err(format!("{variant}: the tree summed {sum}, not {expected}"))
        }
    };
    Ok(Prepared::new(vec![
        Variant::subject("troupe hierarchical", move |ops| async move {
            let mut samples = Vec::new();
            for _ in 0..ops {
                let start = Instant::now();
                let rt = Runtime::start(RuntimeConfig::named("bench-skynet"))
                    .await
                    .map_err(reason)?;
                let pattern =
                    HierarchicalPattern::new(trees::skynet_spec(leaves)).map_err(reason)?;
                let tree = rt.spawn("skynet", pattern).await.map_err(reason)?;
                let sum = tree.ask(json!([0, leaves])).await.map_err(reason);
                rt.shutdown().await;
                samples.push(start.elapsed().as_nanos() as u64);
                check("troupe", sum?.as_u64().unwrap_or(0))?;
            }
            Ok(samples)
        }),
        Variant::baseline("raw ractor", move |ops| async move {
            let mut samples = Vec::new();
            for _ in 0..ops {
                let start = Instant::now();
                let sum = trees::ractor_skynet(leaves).await.map_err(reason)?;
                samples.push(start.elapsed().as_nanos() as u64);
                check("raw ractor", sum)?;
            }
            Ok(samples)
        }),
        Variant::baseline("tokio tasks", move |ops| async move {
            let mut samples = Vec::new();
            for _ in 0..ops {
                let start = Instant::now();
                let sum = trees::tokio_skynet(0, leaves).await;
                samples.push(start.elapsed().as_nanos() as u64);
                check("tokio", sum)?;
            }
            Ok(samples)
        }),
    ]))
}
