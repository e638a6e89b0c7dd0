//! Runs that belong to the cluster, with real processes: three `troupe node` processes, each
//! keeping its runs in its own SQLite store, and `troupe run --cluster` / `troupe status` /
//! `troupe wait` as separate client processes.
//!
//! Shown here: `kill -9` of the client never stops its run (another client, through another
//! node, sees it completed, each task's side effect once); `kill -9` of the node that owns a
//! run, then the node started again on its store: the run resumes there and completes, the
//! tasks completed before the kill not run again.

#[path = "common/durable.rs"]
mod durable;
#[path = "common/nodes.rs"]
mod nodes;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use durable::{count, scratch, shell_pool, text, wait_for_line};
use nodes::{NodeProc, COOKIE};

/// Three nodes, each with its runs in `dir/NAME.db`.
fn three_nodes(dir: &Path, prefix: &str) -> Vec<NodeProc> {
    let store = |n: u32| dir.join(format!("{prefix}{n}.db")).display().to_string();
    let n1 = NodeProc::start_with_store(&format!("{prefix}1"), "127.0.0.1", &[], &store(1));
    let n2 = NodeProc::start_with_store(&format!("{prefix}2"), "127.0.0.2", &[&n1], &store(2));
    let n3 = NodeProc::start_with_store(&format!("{prefix}3"), "127.0.0.3", &[&n1], &store(3));
    vec![n1, n2, n3]
}

/// `troupe ARGS --cluster SEED` as a client process.
fn client(seed: &NodeProc, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_troupe"));
    c.args(args)
        .args(["--cluster", &seed.gossip.to_string(), "--cookie", COOKIE])
        .args(["--min-nodes", "3"])
        .env_remove("RUST_LOG")
        .env_remove("TROUPE_STORE");
    c
}

/// A workflow of three shell tasks in a row, `a`, `b`, `c`, each appending its name to
/// `dir/log`; `b` then waits for the file `dir/gate`.
fn gated_workflow(dir: &Path, name: &str) -> std::path::PathBuf {
    let yaml = format!(
        "workflow:\n  name: {name}\n  agents:\n{}{}{}    pick: {{ type: json.pick, config: {{ path: stdout }} }}\n  tasks:\n    - {{ id: a, agent: a }}\n    - {{ id: pa, agent: pick, depends_on: [a] }}\n    - {{ id: b, agent: b, depends_on: [pa] }}\n    - {{ id: pb, agent: pick, depends_on: [b] }}\n    - {{ id: c, agent: c, depends_on: [pb] }}\n",
        shell_pool(dir, "a", None),
        shell_pool(dir, "b", Some("gate")),
        shell_pool(dir, "c", None),
    );
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, yaml).unwrap();
    file
}

/// `troupe status RUN` through `seed`: its one line.
fn status(seed: &NodeProc, run: &str) -> String {
    let out = client(seed, &["status", run]).output().unwrap();
    assert!(out.status.success(), "troupe status: {}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn kill_9_of_the_client_never_stops_its_run() {
    let dir = scratch("cluster-client-kill");
    let nodes = three_nodes(&dir, "ck");
    let file = gated_workflow(&dir, "orphaned");
    let mut run = client(&nodes[0], &["run", "--no-progress"]);
    run.arg(&file).stderr(Stdio::piped()).stdout(Stdio::null());
    let mut child = run.spawn().unwrap();
    // "run ID owned by node NAME ...": the run is journaled on its owner.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let id = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "the client exited before a node owned its run"
        );
        if let Some(rest) = line.strip_prefix("run ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    wait_for_line(&dir, "b", &mut child);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    std::fs::write(dir.join("gate"), "").unwrap();
    // Another client, through another node, waits for the end and sees it completed.
    let waited = client(&nodes[2], &["wait", &id]).output().unwrap();
    assert!(
        waited.status.success(),
        "troupe wait: {}",
        text(&waited.stderr)
    );
    let shown = status(&nodes[1], &id);
    assert!(shown.contains(&format!("{id} completed")), "{shown}");
    for task in ["a", "b", "c"] {
        assert_eq!(count(&dir, task), 1, "task {task} ran once");
    }
}

#[test]
fn a_run_whose_node_is_killed_and_restarted_resumes_from_its_store() {
    let dir = scratch("cluster-owner-restart");
    let mut nodes = three_nodes(&dir, "or");
    let file = gated_workflow(&dir, "restarted");
    let out = client(&nodes[0], &["run", "--detach"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "troupe run --detach: {}",
        text(&out.stderr)
    );
    let id = text(&out.stdout).trim().to_string();
    assert!(!id.is_empty(), "--detach printed the run id");
    let shown = status(&nodes[1], &id);
    // "ID running (driven by node NAME)".
    let owner = shown
        .trim()
        .rsplit_once("node ")
        .map(|(_, n)| n.trim_end_matches(')').to_string())
        .unwrap_or_else(|| panic!("no owner in {shown:?}"));
    let at = nodes
        .iter()
        .position(|n| n.name == owner)
        .expect("the owner is a node");
    durable::wait_until("task b started", None, || count(&dir, "b") > 0);
    let victim = &mut nodes[at];
    let (name, store) = (victim.name.clone(), dir.join(format!("{owner}.db")));
    victim.kill9();
    let seed = if at == 0 { 1 } else { 0 };
    let restarted = {
        let seed = &nodes[seed];
        NodeProc::start_with_store(&name, "127.0.0.1", &[seed], &store.display().to_string())
    };
    nodes[at] = restarted;
    std::fs::write(dir.join("gate"), "").unwrap();
    let waited = client(&nodes[2], &["wait", &id]).output().unwrap();
    assert!(
        waited.status.success(),
        "troupe wait: {}",
        text(&waited.stderr)
    );
    assert_eq!(
        count(&dir, "a"),
        1,
        "a completed before the kill: not run again"
    );
    assert_eq!(count(&dir, "c"), 1, "c ran once");
    assert!(
        count(&dir, "b") >= 1,
        "b (in flight at the kill) ran again or finished"
    );
    let shown = status(&nodes[0], &id);
    assert!(shown.contains(&format!("{id} completed")), "{shown}");
}
