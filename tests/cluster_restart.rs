//! A whole cluster killed at once and started again, with real processes: three `troupe node
//! --store` processes (SQLite files), runs submitted with `troupe run --cluster --detach`,
//! and persistent agents with state (`util.counter`, called from this test process as a
//! client node). `kill -9` of all three at the same moment, then all three started again on
//! their stores: every run resumes and completes (the side-effect log shows the tasks
//! completed before the kill ran exactly once), and every agent answers with its state.

#[path = "common/durable.rs"]
mod durable;
#[path = "common/nodes.rs"]
mod nodes;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use durable::{count, scratch, shell_pool, text};
use nodes::{NodeProc, COOKIE};
use serde_json::{json, Value};
use troupe::cluster::node::{ClusterConfig, ClusterNode};
use troupe::cluster::registry::NodeName;
use troupe::{Runtime, RuntimeConfig};

const NAMES: [&str; 3] = ["wr1", "wr2", "wr3"];
const IPS: [&str; 3] = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];

/// The three nodes, each on its store `dir/NAME.db` (the same files on every start).
fn three_nodes(dir: &Path) -> Vec<NodeProc> {
    let store = |i: usize| dir.join(format!("{}.db", NAMES[i])).display().to_string();
    let n1 = NodeProc::start_with_store(NAMES[0], IPS[0], &[], &store(0));
    let n2 = NodeProc::start_with_store(NAMES[1], IPS[1], &[&n1], &store(1));
    let n3 = NodeProc::start_with_store(NAMES[2], IPS[2], &[&n1], &store(2));
    vec![n1, n2, n3]
}

/// This test process as a client node (no agents, no tasks), linked to all three nodes.
async fn client(seed: &NodeProc, tag: &str) -> ClusterNode {
    let name = format!("restart-client-{}-{tag}", std::process::id());
    let rt = Runtime::start(RuntimeConfig::named(name.clone()))
        .await
        .unwrap();
    troupe::agents::register_all(rt.kinds());
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut config = ClusterConfig::new(name, any, any, COOKIE).with_seeds([seed.gossip]);
    config.kinds = Some(Vec::new());
    config.task_slots = 0;
    let c = ClusterNode::start(config, rt).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.linked().len() < 3 {
        assert!(Instant::now() < deadline, "the client linked to all three");
        c.wait_changed(Duration::from_millis(100)).await;
    }
    c
}

/// `troupe ARGS --cluster SEED` as a client process.
fn troupe_client(seed: &NodeProc, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_troupe"));
    c.args(args)
        .args(["--cluster", &seed.gossip.to_string(), "--cookie", COOKIE])
        .args(["--min-nodes", "3"])
        .env_remove("RUST_LOG")
        .env_remove("TROUPE_STORE");
    c
}

/// A run of three shell tasks in a row, `{name}a`, `{name}b`, `{name}c`, each appending its
/// name to `dir/log`; `{name}b` then waits for the file `dir/gate`.
fn gated_workflow(dir: &Path, name: &str) -> PathBuf {
    let (a, b, c) = (format!("{name}a"), format!("{name}b"), format!("{name}c"));
    let yaml = format!(
        "workflow:\n  name: {name}\n  agents:\n{}{}{}    pick: {{ type: json.pick, config: {{ path: stdout }} }}\n  tasks:\n    - {{ id: a, agent: {a} }}\n    - {{ id: pa, agent: pick, depends_on: [a] }}\n    - {{ id: b, agent: {b}, depends_on: [pa] }}\n    - {{ id: pb, agent: pick, depends_on: [b] }}\n    - {{ id: c, agent: {c}, depends_on: [pb] }}\n",
        shell_pool(dir, &a, None),
        shell_pool(dir, &b, Some("gate")),
        shell_pool(dir, &c, None),
    );
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, yaml).unwrap();
    file
}

/// Runs a blocking step (child processes, the side-effect log) off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_every_node_then_all_restarted_resumes_every_run_and_agent() {
    let dir = scratch("cluster-whole-restart");
    let d = dir.clone();
    let mut nodes = blocking(move || three_nodes(&d)).await;
    let c = client(&nodes[0], "before").await;

    // One agent on each node, with state, checkpointed (on its node's disk, and its backup).
    let mut totals = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        let id = format!("keep-{i}");
        let node = NodeName::new(*name);
        c.spawn_on(&node, "util.counter", &id, Value::Null, false)
            .await
            .unwrap();
        let mut total = 0;
        for step in 1..=(i as i64 + 2) {
            c.call(&id, json!(step * 10)).await.unwrap();
            total += step * 10;
        }
        assert_eq!(c.call(&id, Value::Null).await.unwrap()["total"], total);
        c.checkpoint(&id).await.unwrap();
        totals.push((id, total));
    }

    // Two runs, detached; each is past its first task when the cluster dies.
    let mut runs = Vec::new();
    for name in ["r1", "r2"] {
        let file = gated_workflow(&dir, name);
        let mut submit = troupe_client(&nodes[i_of(name)], &["run", "--detach"]);
        submit.arg(&file);
        let out = blocking(move || submit.output().unwrap()).await;
        assert!(out.status.success(), "troupe run: {}", text(&out.stderr));
        let id = text(&out.stdout).trim().to_string();
        assert!(!id.is_empty(), "--detach printed the run id");
        runs.push((name, id));
    }
    let d = dir.clone();
    blocking(move || {
        durable::wait_until("both runs' second tasks started", None, || {
            count(&d, "r1b") > 0 && count(&d, "r2b") > 0
        })
    })
    .await;
    c.shutdown().await;
    c.runtime().shutdown().await;

    // Every node at once.
    for n in &mut nodes {
        let _ = n.child.kill(); // SIGKILL, all three before any is reaped
    }
    for n in &mut nodes {
        n.kill9();
    }
    drop(nodes);

    let d = dir.clone();
    let nodes = blocking(move || three_nodes(&d)).await;
    let c = client(&nodes[0], "after").await;

    // Every agent answers with its state (polled: the nodes re-activate them shortly after
    // they start; a call before that finds no agent, and never starts an empty one).
    for (id, total) in &totals {
        let deadline = Instant::now() + Duration::from_secs(30);
        let got = loop {
            match c.call(id, Value::Null).await {
                Ok(v) => break v,
                Err(e) => {
                    assert!(Instant::now() < deadline, "agent {id} never came back: {e}");
                    c.wait_changed(Duration::from_millis(100)).await;
                }
            }
        };
        assert_eq!(got["total"], *total, "agent {id} kept its state");
    }

    // Every run resumes and completes.
    std::fs::write(dir.join("gate"), "").unwrap();
    for (name, id) in &runs {
        let mut wait = troupe_client(&nodes[1], &["wait", id]);
        let waited = blocking(move || wait.output().unwrap()).await;
        assert!(
            waited.status.success(),
            "troupe wait {id}: {}{}",
            text(&waited.stdout),
            text(&waited.stderr)
        );
        let mut status = troupe_client(&nodes[2], &["status", id]);
        let shown = blocking(move || status.output().unwrap()).await;
        let shown = text(&shown.stdout);
        assert!(shown.contains(&format!("{id} completed")), "{shown}");
        assert_eq!(
            count(&dir, &format!("{name}a")),
            1,
            "{name}a completed before the kill: not run again"
        );
        assert!(count(&dir, &format!("{name}b")) >= 1, "{name}b ran");
        assert_eq!(count(&dir, &format!("{name}c")), 1, "{name}c ran once");
    }
    c.shutdown().await;
    drop(nodes);
}

/// The node a run is submitted through (the cluster places it wherever it likes).
fn i_of(name: &str) -> usize {
    if name == "r1" {
        0
    } else {
        1
    }
}
