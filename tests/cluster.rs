//! Multi-process cluster tests: three real `troupe node` processes on 127.0.0.1–3, and this
//! test process joining them as a client node (it hosts no agents and runs no tasks).
//!
//! Shown here: a cross-node call; a workflow (`troupe run --cluster`) that runs on all three;
//! migration under a steady stream of calls with every call answered exactly once; `kill -9`
//! of a node in the middle of a workflow with every task still completing once, and of a node
//! holding an agent, which resumes elsewhere from its checkpoint; a node that rejoins; a node
//! that exits when its parent goes (`--exit-with-stdin`).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use troupe::cluster::node::{ClusterConfig, ClusterNode};
use troupe::{parse_workflow, Runtime, RuntimeConfig, TaskStatus};

#[path = "common/nodes.rs"]
mod nodes;
use nodes::{free_addrs, NodeProc, COOKIE};

async fn client(seed: &NodeProc) -> ClusterNode {
    let name = format!("test-client-{}-{}", std::process::id(), fastrand_suffix());
    let rt = Runtime::start(RuntimeConfig::named(name.clone()))
        .await
        .unwrap();
    troupe::agents::register_all(rt.kinds());
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut config = ClusterConfig::new(name, any, any, COOKIE).with_seeds([seed.gossip]);
    config.kinds = Some(Vec::new());
    config.task_slots = 0;
    ClusterNode::start(config, rt).await.unwrap()
}

fn fastrand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
}

/// Waits until `cond` holds (a failure guard, not a timing assertion).
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn three_nodes(prefix: &str) -> (Vec<NodeProc>, ClusterNode) {
    let n1 = NodeProc::start(&format!("{prefix}1"), "127.0.0.1", &[]);
    let n2 = NodeProc::start(&format!("{prefix}2"), "127.0.0.2", &[&n1]);
    let n3 = NodeProc::start(&format!("{prefix}3"), "127.0.0.3", &[&n1]);
    let c = client(&n1).await;
    eventually("the client is linked to all three nodes", || {
        c.linked().len() == 3
    })
    .await;
    (vec![n1, n2, n3], c)
}

fn node_name(n: &NodeProc) -> troupe::cluster::registry::NodeName {
    n.name.as_str().into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_reaches_an_agent_on_another_node_process() {
    let (nodes, c) = three_nodes("call").await;
    c.spawn_on(
        &node_name(&nodes[1]),
        "util.counter",
        "acct",
        Value::Null,
        false,
    )
    .await
    .unwrap();
    let r = c.call("acct", json!({"add": 7})).await.unwrap();
    assert_eq!(r["total"], 7);
    let r = c
        .call_kind("util.where", "where-1", json!("hi"))
        .await
        .unwrap();
    let served_by = r["node"].as_str().unwrap().to_string();
    assert!(
        nodes.iter().any(|n| n.name == served_by),
        "served by {served_by}"
    );
    assert_eq!(c.locate("where-1").unwrap().node.as_str(), served_by);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn troupe_run_cluster_spreads_a_workflow_over_all_three_nodes() {
    let (nodes, c) = three_nodes("wf").await;
    c.shutdown().await;
    let dir = std::env::temp_dir().join(format!("troupe-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("spread.yaml");
    let items: Vec<u32> = (0..60).collect();
    std::fs::write(
        &file,
        format!(
            "workflow:\n  name: spread\n  agents:\n    where: {{ type: util.where, config: {{ work_ms: 100 }} }}\n  tasks:\n    - {{ id: fan, agent: where, parallel: true, timeout: 10s, input: {items:?} }}\n"
        ),
    )
    .unwrap();
    let report = dir.join("report.json");
    let out = Command::new(env!("CARGO_BIN_EXE_troupe"))
        .args([
            "run",
            "--no-progress",
            "--cluster",
            &nodes[1].gossip.to_string(),
        ])
        .args([
            "--cookie",
            COOKIE,
            "--min-nodes",
            "3",
            "--report",
            report.to_str().unwrap(),
        ])
        .args(["--log", "troupe::cluster=debug"])
        .arg(&file)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let fan = report["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "fan")
        .unwrap();
    let outputs = fan["output"].as_array().unwrap();
    assert_eq!(outputs.len(), 60);
    let ran_on: BTreeSet<&str> = outputs
        .iter()
        .map(|o| o["node"].as_str().unwrap())
        .collect();
    let all: BTreeSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        ran_on,
        all,
        "the workflow ran on every node; the client said:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_between_processes_under_steady_calls_answers_each_call_exactly_once() {
    let (nodes, c) = three_nodes("mig").await;
    c.spawn_on(
        &node_name(&nodes[0]),
        "util.counter",
        "m",
        Value::Null,
        false,
    )
    .await
    .unwrap();
    let callers = 3;
    let per_caller = 200;
    let mut tasks = Vec::new();
    for _ in 0..callers {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut totals = Vec::new();
            for _ in 0..per_caller {
                let r = c
                    .call("m", json!(1))
                    .await
                    .expect("no call may fail or be lost");
                totals.push(r["total"].as_i64().unwrap());
            }
            totals
        }));
    }
    for hop in [1, 2, 0, 2] {
        c.migrate("m", &node_name(&nodes[hop])).await.unwrap();
        eventually("the registry shows the new home", || {
            c.locate("m")
                .is_some_and(|l| l.node == node_name(&nodes[hop]))
        })
        .await;
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    let expected: Vec<i64> = (1..=(callers * per_caller) as i64).collect();
    assert_eq!(all, expected, "every call handled exactly once, none lost");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_workflow_still_completes_every_task_once() {
    let (mut nodes, c) = three_nodes("kill").await;
    let items: Vec<u32> = (0..30).collect();
    let yaml = format!(
        "workflow:\n  name: survive\n  agents:\n    where: {{ type: util.where, config: {{ work_ms: 80 }} }}\n  tasks:\n    - {{ id: fan, agent: where, parallel: true, timeout: 10s, input: {items:?} }}\n"
    );
    let handle = c
        .runtime()
        .submit(parse_workflow(&yaml, "survive.yaml").unwrap())
        .await
        .unwrap();
    let victim = nodes[2].name.clone();
    eventually("the victim is running tasks of the workflow", || {
        c.tasks_lent_to(&victim) > 0
    })
    .await;
    nodes[2].kill9();
    let report = handle.wait().await.unwrap();
    assert_eq!(report.tasks[0].status, TaskStatus::Succeeded, "{report:?}");
    let out = report.output("fan").unwrap().as_array().unwrap();
    let inputs: Vec<u64> = out.iter().map(|v| v["input"].as_u64().unwrap()).collect();
    assert_eq!(
        inputs,
        (0..30).collect::<Vec<u64>>(),
        "each item's result exactly once"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_an_agents_node_resumes_it_elsewhere_from_its_checkpoint() {
    let (mut nodes, c) = three_nodes("fo").await;
    let home = node_name(&nodes[2]);
    c.spawn_on(&home, "util.counter", "durable", Value::Null, false)
        .await
        .unwrap();
    for _ in 0..5 {
        c.call("durable", json!(2)).await.unwrap();
    }
    let r = c.call("durable", Value::Null).await.unwrap();
    assert_eq!(r["total"], 10);
    c.checkpoint("durable").await.unwrap();
    let killed_at = Instant::now();
    nodes[2].kill9();
    eventually("the agent is active on a live node", || {
        c.locate("durable").is_some_and(|l| l.node != home)
    })
    .await;
    eprintln!(
        "kill -9 → agent active elsewhere: {:?}",
        killed_at.elapsed()
    );
    let r = c.call("durable", json!(1)).await.unwrap();
    assert_eq!(r["total"], 11, "resumed from the checkpoint");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_and_restarted_rejoins_the_cluster() {
    let (mut nodes, c) = three_nodes("rejoin").await;
    let name = nodes[1].name.clone();
    let (listen, gossip) = (nodes[1].listen, nodes[1].gossip);
    nodes[1].kill9();
    eventually("the client sees it down", || {
        !c.members().iter().any(|m| m.name.as_str() == name)
    })
    .await;
    let before = Instant::now();
    let seed = &nodes[0];
    let restarted = NodeProc::start_at(&name, listen, gossip, &[seed]);
    eventually("the client sees it up again and linked", || {
        c.members().iter().any(|m| m.name.as_str() == name) && c.linked().len() == 3
    })
    .await;
    eprintln!("restart → rejoined: {:?}", before.elapsed());
    let node = troupe::cluster::registry::NodeName::new(name.clone());
    c.spawn_on(&node, "util.counter", "after-rejoin", Value::Null, false)
        .await
        .unwrap();
    assert_eq!(c.call("after-rejoin", json!(3)).await.unwrap()["total"], 3);
    drop(restarted);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_moves_a_nodes_agents_away_before_it_exits() {
    let (mut nodes, c) = three_nodes("term").await;
    let leaving = node_name(&nodes[2]);
    for i in 0..5 {
        c.spawn_on(
            &leaving,
            "util.counter",
            &format!("t{i}"),
            Value::Null,
            true,
        )
        .await
        .unwrap();
        c.call(&format!("t{i}"), json!(i + 10)).await.unwrap();
    }
    let pid = nodes[2].child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let exit = nodes[2].child.wait().unwrap();
    assert!(
        exit.success(),
        "the node exits cleanly after leaving: {exit:?}"
    );
    for i in 0..5 {
        let r = c.call(&format!("t{i}"), Value::Null).await.unwrap();
        assert_eq!(r["total"], i + 10, "t{i} kept its state");
        assert_ne!(c.locate(&format!("t{i}")).unwrap().node, leaving);
    }
    c.shutdown().await;
}

#[test]
fn a_node_can_be_configured_by_file_and_bad_settings_are_refused() {
    let troupe = env!("CARGO_BIN_EXE_troupe");
    let dir = std::env::temp_dir().join(format!("troupe-node-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let out = Command::new(troupe)
        .args(["node", "--listen", "127.0.0.1:1", "--gossip", "127.0.0.1:2"])
        .env_remove("TROUPE_COOKIE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--name is required"));

    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "name: x\nlisten: 127.0.0.1:1\ngossip: 127.0.0.1:2\ncookie: c\nport: 3\n",
    )
    .unwrap();
    let out = Command::new(troupe)
        .args(["node", "--config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml") && err.contains("port"), "{err}");

    let zero = dir.join("zero.yaml");
    std::fs::write(
        &zero,
        "name: x\nlisten: 127.0.0.1:1\ngossip: 127.0.0.1:2\ncookie: c\ncapacity: 0\n",
    )
    .unwrap();
    let out = Command::new(troupe)
        .args(["node", "--config", zero.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("capacity"));
    // The same check for a flag: no backups at all is refused, and named.
    let out = Command::new(troupe)
        .args([
            "node",
            "--config",
            zero.to_str().unwrap(),
            "--capacity",
            "1",
        ])
        .args(["--backups", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("backups: must be at least 1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A good file starts a node (it prints its up line), which then leaves on SIGTERM.
    let (listen, gossip) = free_addrs("127.0.0.2");
    let good = dir.join("good.yaml");
    std::fs::write(
        &good,
        format!("name: from-file\nlisten: {listen}\ngossip: {gossip}\ncookie: {COOKIE}\ncapacity: 2\ntask_slots: 1\nbackups: 2\n"),
    )
    .unwrap();
    let mut child = Command::new(troupe)
        .args(["node", "--config", good.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = first_line(&mut child);
    assert!(
        line.contains("from-file up") && line.contains(&gossip.to_string()),
        "{line}"
    );
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}

/// The first line a child process writes to its (piped) stdout.
fn first_line(child: &mut std::process::Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line
}

#[test]
fn a_node_started_with_exit_with_stdin_exits_cleanly_when_its_stdin_closes() {
    let (listen, gossip) = free_addrs("127.0.0.1");
    let mut child = Command::new(env!("CARGO_BIN_EXE_troupe"))
        .args(["node", "--exit-with-stdin", "--name", "orphan"])
        .args([
            "--listen",
            &listen.to_string(),
            "--gossip",
            &gossip.to_string(),
        ])
        .args(["--cookie", COOKIE])
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = first_line(&mut child);
    assert!(line.contains("orphan up: "), "{line}");
    // What a parent's death does to the pipe.
    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the node did not exit within 30 s of its stdin closing");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "the node exits cleanly: {status:?}");
}
