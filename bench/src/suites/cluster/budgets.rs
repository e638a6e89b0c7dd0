//! The cluster scenarios with budgets from issue #10 that are workflows: a 2,000-task
//! workflow on a one-node cluster against the local runtime, and an IO-bound workflow
//! (`util.sleep` items) on 1, 2 and 3 nodes with the same task slots each.

use std::sync::Arc;

use troupe_runtime::{Runtime, RuntimeConfig};

use super::fleet::{nonce, Fleet};
use super::workflow::{on_nodes, spec, variant};
use super::{Context, IO_ITEMS, IO_SLEEP_MS, LARGE_ITEMS};
use crate::scenario::{reason, Prepared, Reason};

/// The 2,000-task workflow (one parallel task of [`LARGE_ITEMS`] `util.echo` items) from
/// submission to result at the submitter: on a one-node cluster (submitted by the client
/// node, run by the node process) and on a local runtime, in the same run.
pub(super) async fn large_on_one_node(ctx: Context) -> Result<Prepared, Reason> {
    let spec = Arc::new(spec("{ type: util.echo }", LARGE_ITEMS)?);
    let fleet = Fleet::local(&ctx, 1, "wflarge").await?;
    let local = Runtime::start(RuntimeConfig::named(format!("bench-local-{}", nonce())))
        .await
        .map_err(reason)?;
    troupe_agents::register_all(local.kinds());
    let variants = vec![
        variant(
            "troupe cluster, 1 node".into(),
            true,
            fleet.client().runtime().clone(),
            spec.clone(),
        ),
        variant(
            "local runtime, no cluster".into(),
            false,
            local.clone(),
            spec,
        ),
    ];
    let mut prepared = Prepared::new(variants)
        .note(fleet.note())
        .note(format!(
            "one parallel task of {LARGE_ITEMS} util.echo items (each item a task of the \
             cluster's queue), from Runtime::run on the submitter to its report"
        ))
        .note("the client node submits and runs no tasks; the node process has 4 task slots")
        .note("budget: ≤ 1.2× the local runtime (issue #10)");
    if ctx.cluster.is_some() {
        prepared = prepared.note("runs on node processes of its own, not on --cluster");
    }
    Ok(prepared.teardown(async move {
        fleet.shutdown().await;
        local.shutdown().await;
    }))
}

/// The IO-bound workflow ([`IO_ITEMS`] `util.sleep` items of [`IO_SLEEP_MS`] ms) on `nodes`
/// worker nodes, beside one worker node (for 2 and 3) and the local runtime.
pub(super) async fn io_bound(ctx: Context, nodes: usize) -> Result<Prepared, Reason> {
    let kind = format!("{{ type: util.sleep, config: {{ duration: {IO_SLEEP_MS}ms }} }}");
    let spec = Arc::new(spec(&kind, IO_ITEMS)?);
    let prepared = on_nodes(ctx, nodes, spec, &format!("io{nodes}"), true).await?;
    Ok(prepared.note(format!(
        "{IO_ITEMS} util.sleep items of {IO_SLEEP_MS} ms: bound by waiting, not by CPU"
    )))
}
