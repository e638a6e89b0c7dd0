//! A CPU-light workflow submitted from a client node and spread over 1, 2 or 3 worker node
//! processes by work stealing, beside the same workflow on one local runtime.

use std::sync::Arc;

use crate::scenario::{reason, time_each, Prepared, Reason, Variant};
use troupe_runtime::{parse_workflow, Runtime, RuntimeConfig, TaskStatus, WorkflowSpec};

use super::fleet::{nonce, Fleet};
use super::{Context, WORKFLOW_ITEMS};

/// One parallel task `fan` over `items` items, each a call to agent `echo` of `kind` (a YAML
/// flow mapping: `{ type: util.echo }`).
pub(super) fn spec(kind: &str, items: u64) -> Result<WorkflowSpec, Reason> {
    let items: Vec<u64> = (0..items).collect();
    let yaml = format!(
        "workflow:\n  name: bench-fan\n  agents:\n    echo: {kind}\n  tasks:\n    - {{ id: fan, agent: echo, parallel: true, timeout: 120s, input: {items:?} }}\n"
    );
    parse_workflow(&yaml, "bench-fan.yaml").map_err(reason)
}

/// The items of `spec`'s task `fan`.
fn items(spec: &WorkflowSpec) -> u64 {
    spec.tasks
        .first()
        .and_then(|t| t.input.as_ref())
        .and_then(|v| v.as_array())
        .map_or(0, |a| a.len() as u64)
}

/// Runs `spec` on `rt` and checks every item came back once, in order.
pub(super) async fn run(rt: &Runtime, spec: &WorkflowSpec) -> Result<(), Reason> {
    let want = items(spec);
    let report = rt.run(spec.clone()).await.map_err(reason)?;
    let task = report.tasks.first().ok_or("the report has no task")?;
    if task.status != TaskStatus::Succeeded {
        return Err(format!("the workflow's task ended {:?}", task.status));
    }
    let out = report
        .output("fan")
        .and_then(|v| v.as_array())
        .ok_or("the task has no list output")?;
    let back: Vec<u64> = out.iter().filter_map(|v| v.as_u64()).collect();
    if back.len() as u64 != want || back.iter().enumerate().any(|(i, v)| *v != i as u64) {
        return Err(format!(
            "the workflow returned {} of {want} items in order",
            back.len()
        ));
    }
    Ok(())
}

/// A variant running `spec` on `rt` once per operation.
pub(super) fn variant(
    name: String,
    subject: bool,
    rt: Runtime,
    spec: Arc<WorkflowSpec>,
) -> Variant {
    let run_ops = move |ops: u64| {
        let rt = rt.clone();
        let spec = spec.clone();
        async move { Ok(time_each!(ops, |_i| run(&rt, &spec).await?)) }
    };
    if subject {
        Variant::subject(name, run_ops)
    } else {
        Variant::baseline(name, run_ops)
    }
}

/// The workflow on `nodes` worker nodes, beside a local runtime and (for 2 and 3) one worker
/// node, each with its own client node.
pub(super) async fn scaling(ctx: Context, nodes: usize) -> Result<Prepared, Reason> {
    let spec = Arc::new(spec("{ type: util.echo }", WORKFLOW_ITEMS)?);
    on_nodes(ctx, nodes, spec, &format!("wf{nodes}"), false).await
}

/// `spec` on `nodes` worker nodes (the subject), beside the same on a local runtime and (for
/// 2 and 3) on one worker node, each cluster with its own client node; the ratio's baseline
/// is the 1-node cluster when `single_first` (and `nodes` > 1), else the local runtime.
pub(super) async fn on_nodes(
    ctx: Context,
    nodes: usize,
    spec: Arc<WorkflowSpec>,
    tag: &str,
    single_first: bool,
) -> Result<Prepared, Reason> {
    let main = Fleet::local(&ctx, nodes, tag).await?;
    let single = match nodes {
        1 => None,
        _ => Some(Fleet::local(&ctx, 1, &format!("{tag}-single")).await?),
    };
    let local = Runtime::start(RuntimeConfig::named(format!("bench-local-{}", nonce())))
        .await
        .map_err(reason)?;
    troupe_agents::register_all(local.kinds());
    let plural = if nodes == 1 { "" } else { "s" };
    let mut variants = vec![
        variant(
            // One name for the three scenarios: one curve on the scaling plot.
            "troupe cluster".into(),
            true,
            main.client().runtime().clone(),
            spec.clone(),
        ),
        variant(
            "local runtime, no cluster".into(),
            false,
            local.clone(),
            spec.clone(),
        ),
    ];
    if let Some(single) = &single {
        let one = variant(
            "troupe cluster, 1 node".into(),
            false,
            single.client().runtime().clone(),
            spec.clone(),
        );
        // The first baseline is the ratio's.
        let at = if single_first { 1 } else { variants.len() };
        variants.insert(at, one);
    }
    let mut prepared = Prepared::new(variants)
        .note(format!("troupe cluster: {nodes} worker node{plural}"))
        .note(main.note())
        .note("4 task slots per worker node; the client node runs no tasks");
    if let Some(single) = &single {
        prepared = prepared.note(format!("1-node cluster: {}", single.note()));
    }
    if ctx.cluster.is_some() {
        prepared = prepared.note("runs on node processes of its own, not on --cluster");
    }
    Ok(prepared.teardown(async move {
        main.shutdown().await;
        if let Some(single) = single {
            single.shutdown().await;
        }
        local.shutdown().await;
    }))
}
