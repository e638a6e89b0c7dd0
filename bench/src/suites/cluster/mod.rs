//! `cluster`: what crossing nodes costs, beside the raw layers below it, in the same run.
//!
//! | scenario | subject | baselines (first: the ratio's) | budget |
//! |---|---|---|---|
//! | cross-node ask round trip | `ClusterNode::call` to a `util.echo` agent on another node | ractor_cluster `call` to a remote echo actor; TCP ping-pong | ≤ 1.1× ractor_cluster at p50 |
//! | cross-node one-way | 10k `ClusterNode::tell`s to a `util.counter` on another node, then one `call` that sees them all | 10k ractor_cluster `cast`s + one `call` | ≥ 1 M msg/s |
//! | migration, 1 MiB state | `ClusterNode::migrate` of a `util.blob` of 1 MiB, back and forth between two nodes | 1 MiB over loopback TCP + one ping-pong (the transfer floor) | — |
//! | kill -9 → agents active elsewhere | `kill -9` of a node running 20 checkpointed `util.counter`s, until the client's registry shows each active on a live node | the same kills, until the client's membership drops the node (detection alone) | < 3 s |
//! | workflow on N nodes (1, 2, 3) | a workflow of 200 `util.echo` items submitted from the client, spread over N worker nodes by work stealing | the same workflow on one local runtime (no cluster); 1 worker node | — |
//! | run failover: kill -9 of the owner → next task started | `kill -9` of the node driving a durable run (all nodes on one PostgreSQL server of the scenario's own), until its task is started again by the survivor that took the run over | the same kills, until the client's membership drops the owner | ≤ 2 s p50, ≤ 3 s p99 |
//! | 2,000-task workflow on a 1-node cluster | a parallel task of 2,000 `util.echo` items, `Runtime::run` on the client node (the submitter) to its report, run by one worker node | the same on a local runtime | ≤ 1.2× the local runtime |
//! | IO-bound workflow on N nodes (1, 2, 3) | 48 `util.sleep` items of 50 ms on N worker nodes (4 task slots each) | 1 worker node (for 2 and 3); the local runtime | 3 nodes ≥ 2.7× the throughput of 1 node (≤ 0.37× its time) |
//!
//! **Where.** Without `--cluster` every scenario starts `troupe node` child processes of its own
//! on 127.0.0.1, .2 and .3 (free ports, a random cookie), and this process joins as a client
//! node that hosts nothing and runs no tasks; the processes are killed when the scenario ends,
//! also on an error or a panic. With `--cluster SEED` (and `--cookie`), the first three
//! scenarios join that cluster and use its members; the failover and workflow scenarios still
//! start node processes of their own, since they kill nodes or choose how many there are.
//! Run failover needs the PostgreSQL binaries (/usr/lib/postgresql/*/bin); without them it
//! fails with a `SKIPPED: … (install postgresql)` reason and the other scenarios still run.
//!
//! The raw baselines run between this process and a `troupe bench-peer` child (see
//! [`crate::peer`]), as in the `net` suite.
//!
//! **No raw baseline** exists for failover (ractor_cluster has no failover); its second
//! variant is the failure-detection part of the same kills, so the ratio says how much
//! re-activation adds to detection. For migration, the bench-peer's echo actor takes only
//! numbers, so the floor is 1 MiB through loopback TCP rather than through ractor_cluster
//! (whose frames are capped at 16 MiB by default, so it could carry it).

mod budgets;
mod calls;
mod failover;
mod fleet;
mod paired;
mod replication;
mod runfail;
mod workflow;

use super::Context;
use crate::budget::Budget;
use crate::scenario::{Plan, Reason, Scenario, Unit};
use fleet::Fleet;

/// The suite's name.
const SUITE: &str = "cluster";
/// One-way messages per operation.
pub const ONE_WAY: u64 = 10_000;
/// Bytes of state of the migrated agent.
pub const BLOB_BYTES: u64 = 1 << 20;
/// Agents on the node killed in the failover scenario.
pub const FAILOVER_AGENTS: usize = 20;
/// Items of the workflow in the workflow scenarios.
pub const WORKFLOW_ITEMS: u64 = 200;
/// Tasks of the workflow measured against the local runtime (issue #10's budget).
pub const LARGE_ITEMS: u64 = 2_000;
/// Items of the IO-bound workflow.
pub const IO_ITEMS: u64 = 48;
/// How long each IO-bound item waits, in milliseconds.
pub const IO_SLEEP_MS: u64 = 50;

/// The scenarios of the suite.
pub fn scenarios(ctx: &Context) -> Vec<Scenario> {
    let size = ctx.size;
    let c = || ctx.clone();
    let mut out = vec![
        Scenario::new(
            SUITE,
            "cross-node ask round trip",
            Unit::per_op("ask"),
            Plan::batch(size.pick(500, 2_000)),
            {
                let ctx = c();
                move || calls::ask(ctx)
            },
        )
        .describe("a call to an echo agent on another node, and its reply (budget: ≤ 1.1× ractor_cluster call at p50)"),
        Scenario::new(
            SUITE,
            "cross-node one-way",
            Unit::batch(ONE_WAY, "msg"),
            Plan::batch(size.pick(10, 20)).warmup(2),
            {
                let ctx = c();
                move || calls::one_way(ctx)
            },
        )
        .describe("10k one-way messages to an agent on another node, then one call that sees them all (budget: ≥ 1 M msg/s)"),
        Scenario::new(
            SUITE,
            "migration, 1 MiB state",
            Unit::per_op("move"),
            Plan::batch(size.pick(6, 12)).warmup(2),
            {
                let ctx = c();
                move || calls::migration(ctx)
            },
        )
        .describe("move an agent with 1 MiB of state to the other node (drain, snapshot, transfer, restore, registry update)"),
        Scenario::new(
            SUITE,
            "kill -9 → agents active elsewhere",
            Unit::per_op("kill"),
            Plan::heavy(size.pick(3, 5)),
            {
                let ctx = c();
                move || failover::kill_9(ctx)
            },
        )
        .describe(format!(
            "kill -9 a node running {FAILOVER_AGENTS} checkpointed agents; until the client sees all of them active on live nodes (budget: < 3 s)"
        )),
        Scenario::new(
            SUITE,
            "run failover: kill -9 of the owner → next task started",
            Unit::per_op("kill"),
            Plan::heavy(size.pick(3, 10)),
            {
                let ctx = c();
                move || runfail::run_failover(ctx)
            },
        )
        .describe("kill -9 the node driving a durable run (shared PostgreSQL store); until its next task is started by the node that took it over (budget: ≤ 2 s p50, ≤ 3 s p99)")
        .budget(Budget::P50P99Below {
            p50_nanos: 2_000_000_000,
            p99_nanos: 3_000_000_000,
        }),
        Scenario::new(
            SUITE,
            "2,000-task workflow on a 1-node cluster",
            Unit::batch(LARGE_ITEMS, "task"),
            Plan::batch(size.pick(3, 10)).warmup(1),
            {
                let ctx = c();
                move || budgets::large_on_one_node(ctx)
            },
        )
        .describe(format!(
            "a workflow of {LARGE_ITEMS} util.echo tasks from submission to result at the submitter, on a one-node cluster vs the local runtime (budget: ≤ 1.2×)"
        ))
        .budget(Budget::RatioAtMost { max: 1.2 }),
    ];
    out.push(
        Scenario::new(
            SUITE,
            "run state replication",
            Unit::batch(replication::CHAIN_TASKS, "task"),
            Plan::batch(size.pick(5, 10)).warmup(1),
            {
                let ctx = c();
                move || replication::cost(ctx)
            },
        )
        .describe(format!(
            "a chain of {} durable tasks on 3 node processes that replicate run state to 1 backup, beside 3 that do not (the cost per task of replication)",
            replication::CHAIN_TASKS
        )),
    );
    for nodes in 1..=3 {
        out.push(
            Scenario::new(
                SUITE,
                format!("workflow on {nodes} node{}", if nodes == 1 { "" } else { "s" }),
                Unit::batch(WORKFLOW_ITEMS, "task"),
                Plan::batch(size.pick(8, 20)).warmup(2),
                {
                    let ctx = c();
                    move || workflow::scaling(ctx, nodes)
                },
            )
            .describe(format!(
                "a workflow of {WORKFLOW_ITEMS} util.echo items submitted from a client node, run by {nodes} worker node process(es)"
            ))
            .scale("workflow on N nodes", "worker nodes", nodes as u64),
        );
    }
    for nodes in 1..=3 {
        let mut scenario = Scenario::new(
            SUITE,
            format!("IO-bound workflow on {nodes} node{}", if nodes == 1 { "" } else { "s" }),
            Unit::batch(IO_ITEMS, "task"),
            Plan::batch(size.pick(3, 10)).warmup(1),
            {
                let ctx = c();
                move || budgets::io_bound(ctx, nodes)
            },
        )
        .describe(format!(
            "a workflow of {IO_ITEMS} util.sleep tasks of {IO_SLEEP_MS} ms, run by {nodes} worker node process(es) with the same task slots each"
        ))
        .scale("IO-bound workflow on N nodes", "worker nodes", nodes as u64);
        if nodes == 3 {
            // ≥ 2.7× the throughput of 1 node is ≤ 1/2.7 of its time per workflow.
            scenario = scenario.budget(Budget::RatioAtMost { max: 0.37 });
        }
        out.push(scenario);
    }
    out
}

/// The cluster the call scenarios use: `--cluster SEED` if given, else two node processes of
/// its own.
async fn fleet_for_calls(ctx: &Context, tag: &str) -> Result<Fleet, Reason> {
    match &ctx.cluster {
        Some(seed) => {
            let cookie = ctx
                .cookie
                .as_deref()
                .ok_or("--cookie is required with --cluster (or set TROUPE_COOKIE)")?;
            Fleet::join(ctx, seed, cookie).await
        }
        None => Fleet::local(ctx, 2, tag).await,
    }
}

/// A unique agent id for this run.
fn agent_id(what: &str) -> String {
    format!("bench-{what}-{}-{}", std::process::id(), fleet::nonce())
}
