//! `durable`: what journaling a run costs, each figure beside its baseline in the same run.
//!
//! | scenario | subject | baselines (first: the ratio's) | budget |
//! |---|---|---|---|
//! | `fan-out N` | a run of N independent tasks journaled in SQLite (fsync on) | the same run in memory (no store) | ≤ 2× at p50 |
//! | `chain step` | one step of a 100-task chain journaled in SQLite: from a task's result being durable to the next one's | a raw `fdatasync` of a 64-byte write on the same disk; the same step in memory; a raw commit of one 64-byte row on the same database (SQLite file on the same disk, or the same PostgreSQL server: one `INSERT` in autocommit, one round trip) | ≤ 1.5× raw fsync at p50 |
//! | `resume 10k events` | `resume_durable` of a run with 10k journaled events until it drives again (read, decode, replay, spawn) | reading the same journal raw | < 100 ms at p50 |
//! | `... (PostgreSQL)` | the same three on a PostgreSQL server started for the suite | the same baselines | the same |
//!
//! The fan-out and the chain note the store's commits per task (each an fsync on SQLite).
//! Quick sizes: 500-task fan-out, 20-task chains, 1,000-event resume, SQLite only.

mod postgres;
mod workload;

use std::sync::Arc;

use crate::budget::Budget;
use crate::scenario::{Plan, Prepared, Reason, Scenario, Unit, Variant};

use super::Context;
use workload::{Backend, Bed};

/// The suite's scenarios: on SQLite, and on PostgreSQL when its binaries are installed.
pub fn scenarios(ctx: &Context) -> Vec<Scenario> {
    let mut out = backend_scenarios(ctx, Backend::Sqlite);
    // A server start per scenario is too slow for the quick sizes.
    if ctx.size == super::Size::Full && postgres::available() {
        out.extend(backend_scenarios(ctx, Backend::Postgres));
    }
    out
}

fn backend_scenarios(ctx: &Context, backend: Backend) -> Vec<Scenario> {
    let fan = ctx.size.pick(500, 10_000);
    let chain = ctx.size.pick(20, 100);
    let events = ctx.size.pick(1_000, 10_000);
    let suffix = backend.suffix();
    vec![
        Scenario::new(
            "durable",
            format!("fan-out {}{suffix}", super::count(fan)),
            Unit::batch(fan, "task"),
            Plan::heavy(3),
            move || fan_out(backend, fan),
        )
        .describe(format!(
            "a run of {fan} independent util.echo tasks, journaled (budget: ≤ 2× in memory at p50)"
        ))
        .budget(Budget::RatioAtMost { max: 2.0 }),
        Scenario::new(
            "durable",
            format!("chain step{suffix}"),
            Unit::per_op("step"),
            Plan::batch(chain - 1).warmup(chain - 1),
            move || chain_step(backend, chain),
        )
        .describe(format!(
            "one step of a {chain}-task chain: from a result being durable to the next one's \
             (budget: ≤ 1.5× a raw fsync at p50)"
        ))
        .budget(Budget::RatioAtMost { max: 1.5 }),
        Scenario::new(
            "durable",
            format!("resume {} events{suffix}", super::count(events)),
            Unit::per_op("resume"),
            Plan::heavy(3),
            move || resume(backend, events),
        )
        .describe(format!(
            "resume a run with {events} journaled events until it drives again (budget: < 100 ms)"
        ))
        .budget(Budget::P50Below { nanos: 100_000_000 }),
    ]
}

async fn fan_out(backend: Backend, n: u64) -> Result<Prepared, Reason> {
    let bed = Arc::new(Bed::start(backend, "fan").await?);
    let plan = bed.work(workload::fan_out_yaml(n))?;
    // One journaled run first: the warm-up, and the store's commits per task.
    let before = bed.store.stats();
    bed.durable_run(&plan).await?;
    let after = bed.store.stats();
    let per_task = (after.commits - before.commits) as f64 / n as f64;
    let (b1, p1) = (bed.clone(), plan.clone());
    let (b2, p2) = (bed.clone(), plan.clone());
    Ok(Prepared::new(vec![
        Variant::subject(format!("troupe + {} journal", backend.name()), move |ops| {
            let (bed, plan) = (b1.clone(), p1.clone());
            async move { bed.time_runs(ops, &plan, true).await }
        }),
        Variant::baseline("in memory (no store)", move |ops| {
            let (bed, plan) = (b2.clone(), p2.clone());
            async move { bed.time_runs(ops, &plan, false).await }
        }),
    ])
    .note(format!(
        "fsyncs per task: {per_task:.3} ({} commits for {n} tasks; {})",
        after.commits - before.commits,
        bed.store.location()
    ))
    .teardown(async move { bed.stop().await }))
}

async fn chain_step(backend: Backend, n: u64) -> Result<Prepared, Reason> {
    let bed = Arc::new(Bed::start(backend, "chain").await?);
    let plan = bed.work(workload::chain_yaml(n))?;
    let before = bed.store.stats();
    let wal_before = bed.wal_bytes();
    bed.durable_run(&plan).await?;
    let after = bed.store.stats();
    let per_task = (after.commits - before.commits) as f64 / n as f64;
    // What one commit writes: SQLite appends a frame (a 24-byte header and a 4 KiB page) per
    // page it changed (the first run of a fresh file stays below the checkpoint size).
    let wal = match (wal_before, bed.wal_bytes()) {
        (Some(b), Some(a)) if after.commits > before.commits => format!(
            "; {:.1} WAL pages per commit",
            a.saturating_sub(b) as f64 / 4120.0 / (after.commits - before.commits) as f64
        ),
        _ => String::new(),
    };
    let fsync_dir = bed.scratch().to_path_buf();
    let (b1, p1) = (bed.clone(), plan.clone());
    let (b2, p2) = (bed.clone(), plan.clone());
    let b3 = bed.clone();
    Ok(Prepared::new(vec![
        Variant::subject(format!("troupe + {} journal", backend.name()), move |ops| {
            let (bed, plan) = (b1.clone(), p1.clone());
            async move { bed.chain_steps(ops, &plan, true).await }
        }),
        Variant::baseline("raw fsync (64 B write)", move |ops| {
            let dir = fsync_dir.clone();
            async move { workload::raw_fsyncs(dir, ops).await }
        }),
        Variant::baseline("in memory (no store)", move |ops| {
            let (bed, plan) = (b2.clone(), p2.clone());
            async move { bed.chain_steps(ops, &plan, false).await }
        }),
        Variant::baseline(
            format!("raw {} commit (one 64 B row)", backend.name()),
            move |ops| {
                let bed = b3.clone();
                async move { bed.raw_commits(ops).await }
            },
        ),
    ])
    .note(format!(
        "fsyncs per task: {per_task:.3} ({} commits for {n} tasks{wal}); the raw fsync is on \
         the disk of {}",
        after.commits - before.commits,
        bed.scratch().display()
    ))
    .teardown(async move { bed.stop().await }))
}

async fn resume(backend: Backend, events: u64) -> Result<Prepared, Reason> {
    let bed = Arc::new(Bed::start(backend, "resume").await?);
    let tasks = events / 2;
    let work = bed.work(workload::fan_out_yaml(tasks))?;
    let (b1, w1) = (bed.clone(), work.clone());
    let (b2, w2) = (bed.clone(), work);
    Ok(Prepared::new(vec![
        Variant::subject(format!("troupe resume ({})", backend.name()), move |ops| {
            let (bed, work) = (b1.clone(), w1.clone());
            async move { bed.time_resumes(ops, &work, tasks).await }
        }),
        Variant::baseline("raw journal read", move |ops| {
            let (bed, work) = (b2.clone(), w2.clone());
            async move { bed.time_reads(ops, &work, tasks).await }
        }),
    ])
    .note(format!(
        "{events} events: a {tasks}-task run with {} tasks completed and one in flight",
        tasks - 1
    ))
    .teardown(async move { bed.stop().await }))
}
