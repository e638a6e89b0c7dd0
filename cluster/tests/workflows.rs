//! Workflows across nodes in one process: a workflow submitted from a client node (which
//! runs no tasks itself) spreads over three worker nodes by work stealing, and still completes
//! every task once when a worker crashes in the middle.

mod common;

use common::eventually;
use std::collections::BTreeSet;

use troupe_cluster::node::{ClusterConfig, ClusterNode};
use troupe_runtime::{parse_workflow, Runtime, RuntimeConfig, TaskStatus};

async fn node(name: &str, seeds: &[&ClusterNode], client: bool) -> ClusterNode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let rt = Runtime::start(RuntimeConfig::named(name)).await.unwrap();
    troupe_agents::register_all(rt.kinds());
    let any = "127.0.0.1:0".parse().unwrap();
    let mut config = ClusterConfig::new(name, any, any, "wf-cookie")
        .with_seeds(seeds.iter().map(|s| s.gossip_addr()));
    config.task_slots = if client { 0 } else { 2 };
    if client {
        config.kinds = Some(Vec::new());
    }
    ClusterNode::start(config, rt).await.unwrap()
}

fn spread_workflow(items: usize, work_ms: u64) -> troupe_runtime::WorkflowSpec {
    let input: Vec<usize> = (0..items).collect();
    let yaml = format!(
        "workflow:\n  name: spread\n  agents:\n    where: {{ type: util.where, config: {{ work_ms: {work_ms} }} }}\n  tasks:\n    - {{ id: fan, agent: where, parallel: true, timeout: 10s, input: {input:?} }}\n"
    );
    parse_workflow(&yaml, "spread.yaml").unwrap()
}

async fn cluster(prefix: &str) -> (ClusterNode, Vec<ClusterNode>) {
    let w1 = node(&format!("{prefix}-w1"), &[], false).await;
    let w2 = node(&format!("{prefix}-w2"), &[&w1], false).await;
    let w3 = node(&format!("{prefix}-w3"), &[&w1], false).await;
    let client = node(&format!("{prefix}-client"), &[&w1], true).await;
    let all = [&w1, &w2, &w3, &client];
    eventually("all four linked", || {
        all.iter().all(|n| n.linked().len() == 3)
    })
    .await;
    (client, vec![w1, w2, w3])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_submitted_to_one_node_runs_on_all_of_them() {
    let (client, workers) = cluster("spread").await;
    let report = client.runtime().run(spread_workflow(24, 40)).await.unwrap();
    assert_eq!(report.tasks[0].status, TaskStatus::Succeeded, "{report:?}");
    let out = report.output("fan").unwrap().as_array().unwrap().clone();
    assert_eq!(out.len(), 24);
    let inputs: Vec<u64> = out.iter().map(|v| v["input"].as_u64().unwrap()).collect();
    assert_eq!(
        inputs,
        (0..24).collect::<Vec<_>>(),
        "results in input order"
    );
    let nodes: BTreeSet<&str> = out.iter().map(|v| v["node"].as_str().unwrap()).collect();
    assert_eq!(nodes.len(), 3, "ran on {nodes:?}");
    assert_eq!(client.tasks_executed(), 0, "the client runs nothing itself");
    let executed: usize = workers.iter().map(|w| w.tasks_executed()).sum();
    assert_eq!(executed, 24, "each task ran exactly once");
    assert!(workers.iter().all(|w| w.tasks_stolen() > 0));
    for n in workers.iter().chain([&client]) {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_crashing_mid_workflow_does_not_lose_or_double_apply_tasks() {
    let (client, workers) = cluster("crash").await;
    let handle = client
        .runtime()
        .submit(spread_workflow(30, 60))
        .await
        .unwrap();
    let victim = workers[2].clone();
    eventually("the victim is working", || victim.tasks_executed() > 0).await;
    victim.crash().await;
    let report = handle.wait().await.unwrap();
    assert_eq!(report.tasks[0].status, TaskStatus::Succeeded, "{report:?}");
    let out = report.output("fan").unwrap().as_array().unwrap().clone();
    let inputs: Vec<u64> = out.iter().map(|v| v["input"].as_u64().unwrap()).collect();
    assert_eq!(
        inputs,
        (0..30).collect::<Vec<_>>(),
        "every item answered once, in order"
    );
    for n in workers[..2].iter().chain([&client]) {
        n.shutdown().await;
    }
}
