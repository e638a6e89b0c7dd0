//! Patterns compose: a pattern is an agent of a registered kind, so it can be a member of
//! another pattern, and a workflow task can run one.

use serde_json::{json, Value};
use troupe_runtime::{PoolSpec, Runtime, RuntimeConfig, TaskSpec, WorkflowSpec};

async fn runtime() -> Runtime {
    let rt = Runtime::start(RuntimeConfig::named("compose"))
        .await
        .unwrap();
    troupe_agents::register_all(rt.kinds());
    troupe_patterns::register_all(rt.kinds());
    rt
}

fn swarm_of_echoes(peers: usize) -> Value {
    json!({
        "members": {"w": {"type": "util.echo", "count": peers}},
        "replies": "results",
        "reducer": "collect"
    })
}

#[tokio::test]
async fn a_team_in_a_hierarchy_can_be_a_swarm() {
    let rt = runtime().await;
    let config = json!({
        "split": "by_group",
        "combine": "object",
        "members": {
            "crowd": {"type": "pattern.swarm", "config": swarm_of_echoes(3)},
            "solo": {"type": "util.echo"}
        }
    });
    let root = rt
        .spawn_kind("pattern.hierarchical", "org", config)
        .await
        .unwrap();
    let job = json!({"crowd": {"items": [1, 2, 3, 4]}, "solo": "alone"});
    let answer = root.ask_value(job, None).await.unwrap();
    assert_eq!(answer, json!({"crowd": [1, 2, 3, 4], "solo": "alone"}));
    rt.shutdown().await;
}

#[tokio::test]
async fn a_node_of_a_custom_topology_can_be_a_handoff_desk_and_a_workflow_task_runs_it() {
    let rt = runtime().await;
    let topology = json!({
        "nodes": {
            "clean": {"type": "text.transform", "config": {"op": "trim"}},
            "desk": {"type": "pattern.handoff", "config": {
                "start": "front",
                "members": {"front": {"type": "util.echo"}}
            }},
            "wrap": {"type": "json.pick", "config": {"fields": {"conversation": "", "message": ""}}}
        },
        "edges": [
            {"from": "clean", "to": "wrap"},
            {"from": "wrap", "to": "desk"}
        ]
    });
    let spec = WorkflowSpec::builder("composed")
        .pool("flow", PoolSpec::new("pattern.custom", 1).config(topology))
        .task(TaskSpec::new("go", "flow").input(json!("  hello desk  ")))
        .build();
    let report = rt.run(spec).await.unwrap();
    assert!(report.succeeded(), "{:?}", report.outcome);
    let out = report.output("go").unwrap();
    // The handoff desk's only member echoes its turn input; the turn's reply is that input.
    assert_eq!(out["active"], "front");
    assert_eq!(out["reply"]["message"], "hello desk");
    assert_eq!(out["conversation"], "hello desk");
    rt.shutdown().await;
}
