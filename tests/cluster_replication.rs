//! Run state replicated without a shared store: three `troupe node` processes, each with its
//! own SQLite file; `kill -9` of the node that owns a run mid-run, and the run completes on its
//! backup from the replica it kept, the tasks completed before the kill not run again.

#[path = "common/durable.rs"]
mod durable;
#[path = "common/nodes.rs"]
mod nodes;

use std::path::Path;
use std::process::Command;

use durable::{count, scratch, shell_pool, text, wait_until};
use nodes::{NodeProc, COOKIE};
use troupe::runtime::store::{SqliteOptions, SqliteStore, Store};
use troupe::runtime::workflow::journal::JournalEvent;
use troupe::RunId;

/// Run `id`'s journal kinds in node `name`'s store (`None`: that store has no such run). The
/// store checks the journal runs without a gap from 1.
fn journal_kinds(dir: &Path, name: &str, id: &str) -> Option<Vec<(u64, String)>> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let path = dir.join(format!("{name}.db"));
        let store = SqliteStore::open(path, SqliteOptions::default())
            .await
            .unwrap();
        let run = RunId::new(id);
        store.get_run(run.clone()).await.unwrap()?;
        let read = store.read_journal(run.clone(), 1).await.unwrap();
        let mut out = Vec::new();
        for entry in &read.entries {
            let what = match JournalEvent::decode(&run, entry).unwrap() {
                JournalEvent::TaskCompleted { task, .. } => format!("completed {task}"),
                other => other.kind().to_string(),
            };
            out.push((entry.seq, what));
        }
        Some(out)
    })
}

/// `troupe ARGS --cluster SEED`, once `min_nodes` nodes are reachable.
fn client(seed: &NodeProc, min_nodes: usize, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_troupe"));
    c.args(args)
        .args(["--cluster", &seed.gossip.to_string(), "--cookie", COOKIE])
        .args(["--min-nodes", &min_nodes.to_string()])
        .env_remove("RUST_LOG")
        .env_remove("TROUPE_STORE");
    c
}

/// a → b (waits for the file `gate`) → c, each appending its name to `dir/log`.
fn gated_workflow(dir: &Path) -> std::path::PathBuf {
    let yaml = format!(
        "workflow:\n  name: replicated\n  agents:\n{}{}{}    pick: {{ type: json.pick, config: {{ path: stdout }} }}\n  tasks:\n    - {{ id: a, agent: a }}\n    - {{ id: pa, agent: pick, depends_on: [a] }}\n    - {{ id: b, agent: b, depends_on: [pa] }}\n    - {{ id: pb, agent: pick, depends_on: [b] }}\n    - {{ id: c, agent: c, depends_on: [pb] }}\n",
        shell_pool(dir, "a", None),
        shell_pool(dir, "b", Some("gate")),
        shell_pool(dir, "c", None),
    );
    let file = dir.join("replicated.yaml");
    std::fs::write(&file, yaml).unwrap();
    file
}

/// The owning epoch of run `id` as node `name`'s store keeps it (`None`: no replica there).
fn replica_owner(dir: &Path, name: &str, id: &str) -> Option<troupe::cluster::replica::Epoch> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let path = dir.join(format!("{name}.db"));
        let store = SqliteStore::open(path, SqliteOptions::default())
            .await
            .unwrap();
        let read = store
            .read_journal(RunId::new(format!("replica.{id}")), 1)
            .await
            .ok()?;
        let mut replica = troupe::cluster::replica::RunReplica::default();
        for e in read.entries {
            replica.merge(
                troupe::cluster::replica::RunReplica::from_bytes(&e.payload, "test").unwrap(),
            );
        }
        replica.owner().cloned()
    })
}

/// Whether node `name`'s store keeps a replica of run `id`.
fn holds_replica(dir: &Path, name: &str, id: &str) -> bool {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let path = dir.join(format!("{name}.db"));
        let store = SqliteStore::open(path, SqliteOptions::default())
            .await
            .unwrap();
        let record = store.get_run(RunId::new(format!("replica.{id}"))).await;
        record.unwrap().is_some()
    })
}

/// The node that drives `id`, as `troupe status` says ("ID running (driven by node NAME)").
fn owner_of(seed: &NodeProc, min_nodes: usize, id: &str) -> String {
    let shown = status(seed, min_nodes, id);
    shown
        .trim()
        .rsplit_once("driven by node ")
        .map(|(_, n)| n.trim_end_matches(')').to_string())
        .unwrap_or_else(|| panic!("no driver in {shown:?}"))
}

fn status(seed: &NodeProc, min_nodes: usize, run: &str) -> String {
    let out = client(seed, min_nodes, &["status", run]).output().unwrap();
    assert!(out.status.success(), "troupe status: {}", text(&out.stderr));
    text(&out.stdout)
}

fn store(dir: &Path, name: &str) -> String {
    format!("sqlite:{}", dir.join(format!("{name}.db")).display())
}

#[test]
fn kill_9_of_the_owner_and_a_backup_completes_the_run_from_its_replica() {
    let dir = scratch("cluster-replication");
    let n1 = NodeProc::start_with_store("rp1", "127.0.0.1", &[], &store(&dir, "rp1"));
    let n2 = NodeProc::start_with_store("rp2", "127.0.0.2", &[&n1], &store(&dir, "rp2"));
    let n3 = NodeProc::start_with_store("rp3", "127.0.0.3", &[&n1], &store(&dir, "rp3"));
    let mut nodes = [n1, n2, n3];
    let file = gated_workflow(&dir);
    let out = client(&nodes[0], 3, &["run", "--detach"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "troupe run --detach: {}",
        text(&out.stderr)
    );
    let id = text(&out.stdout).trim().to_string();
    wait_until("task b started", None, || count(&dir, "b") > 0);
    let shown = status(&nodes[0], 3, &id);
    let owner = shown
        .trim()
        .rsplit_once("driven by node ")
        .map(|(_, n)| n.trim_end_matches(')').to_string())
        .unwrap_or_else(|| panic!("no driver in {shown:?}"));
    let at = nodes.iter().position(|n| n.name == owner).expect("a node");
    nodes[at].kill9();
    std::fs::write(dir.join("gate"), "").unwrap();
    let other = (at + 1) % 3;
    let waited = client(&nodes[other], 2, &["wait", &id]).output().unwrap();
    assert!(
        waited.status.success(),
        "troupe wait: {}{}",
        text(&waited.stdout),
        text(&waited.stderr)
    );
    assert_eq!(
        count(&dir, "a"),
        1,
        "a completed before the kill: not run again"
    );
    assert!(count(&dir, "b") >= 1, "b was in flight: it ran (again)");
    assert_eq!(count(&dir, "c"), 1, "c ran once");
    let shown = status(&nodes[other], 2, &id);
    assert!(shown.contains(&format!("{id} completed")), "{shown}");
    assert!(
        !shown.contains(&format!("node {owner})")),
        "answered by a live node: {shown}"
    );
    // The run's event stream on the node that took it over: the owner's entries, then the
    // new owner's, numbered without a gap, each task completed once.
    let taker = nodes
        .iter()
        .filter(|n| n.name != owner)
        .find_map(|n| journal_kinds(&dir, &n.name, &id))
        .expect("a live node's store holds the run");
    let seqs: Vec<u64> = taker.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "{taker:?}"
    );
    for task in ["a", "pa", "b", "pb", "c"] {
        let done = taker
            .iter()
            .filter(|(_, k)| *k == format!("completed {task}"))
            .count();
        assert_eq!(done, 1, "{task} completed once in the journal: {taker:?}");
    }
    assert_eq!(taker.first().map(|(_, k)| k.as_str()), Some("submitted"));
    assert_eq!(taker.last().map(|(_, k)| k.as_str()), Some("run_finished"));
}

#[test]
fn a_backup_restarted_on_its_store_keeps_its_replica_and_takes_the_run_over() {
    let dir = scratch("cluster-replica-restart");
    let n1 = NodeProc::start_with_store("rr1", "127.0.0.1", &[], &store(&dir, "rr1"));
    let n2 = NodeProc::start_with_store("rr2", "127.0.0.2", &[&n1], &store(&dir, "rr2"));
    let n3 = NodeProc::start_with_store("rr3", "127.0.0.3", &[&n1], &store(&dir, "rr3"));
    let mut nodes = [n1, n2, n3];
    let file = gated_workflow(&dir);
    let out = client(&nodes[0], 3, &["run", "--detach"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "troupe run: {}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    wait_until("task b started", None, || count(&dir, "b") > 0);
    let owner = owner_of(&nodes[0], 3, &id);
    let at = nodes.iter().position(|n| n.name == owner).expect("a node");
    let backups: Vec<usize> = (0..3)
        .filter(|i| *i != at && holds_replica(&dir, &nodes[*i].name, &id))
        .collect();
    assert_eq!(
        backups.len(),
        1,
        "one backup (the default) keeps the replica"
    );
    let b = backups[0];
    // The backup crashes and comes back on its store: the replica is read from it.
    let name = nodes[b].name.clone();
    let ips = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
    nodes[b].kill9();
    let restarted = NodeProc::start_with_store(&name, ips[b], &[&nodes[at]], &store(&dir, &name));
    nodes[b] = restarted;
    // Every node sees the restarted backup before the owner goes.
    let _ = status(&nodes[b], 3, &id);
    nodes[at].kill9();
    std::fs::write(dir.join("gate"), "").unwrap();
    let waited = client(&nodes[b], 2, &["wait", &id]).output().unwrap();
    assert!(
        waited.status.success(),
        "troupe wait: {}{}",
        text(&waited.stdout),
        text(&waited.stderr)
    );
    assert_eq!(
        count(&dir, "a"),
        1,
        "a completed before the kills: not run again"
    );
    assert_eq!(count(&dir, "c"), 1, "c ran once");
    let shown = status(&nodes[b], 2, &id);
    assert!(shown.contains(&format!("{id} completed")), "{shown}");
    let taken = journal_kinds(&dir, &name, &id).expect("the backup's store holds the run now");
    let done_a = taken.iter().filter(|(_, k)| k == "completed a").count();
    assert_eq!(done_a, 1, "{taken:?}");
}

#[test]
fn an_owner_partitioned_away_is_fenced_on_heal_and_one_owner_finishes_the_run() {
    let dir = scratch("cluster-replica-partition");
    let n1 = NodeProc::start_with_store("pt1", "127.0.0.1", &[], &store(&dir, "pt1"));
    let n2 = NodeProc::start_with_store("pt2", "127.0.0.2", &[&n1], &store(&dir, "pt2"));
    let n3 = NodeProc::start_with_store("pt3", "127.0.0.3", &[&n1], &store(&dir, "pt3"));
    let mut nodes = [n1, n2, n3];
    let file = gated_workflow(&dir);
    let out = client(&nodes[0], 3, &["run", "--detach"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "troupe run: {}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    wait_until("task b started", None, || count(&dir, "b") > 0);
    let owner = owner_of(&nodes[0], 3, &id);
    let at = nodes.iter().position(|n| n.name == owner).expect("a node");
    let b = (0..3)
        .find(|i| *i != at && holds_replica(&dir, &nodes[*i].name, &id))
        .expect("a backup keeps the replica");
    // The owner is cut off from the others (its gossip with them is dropped both ways).
    let others: Vec<String> = (0..3)
        .filter(|i| *i != at)
        .map(|i| nodes[i].gossip.to_string())
        .collect();
    nodes[at].send_line(&format!("partition {}", others.join(",")));
    let backup = nodes[b].name.clone();
    wait_until("the backup took the run over", None, || {
        journal_kinds(&dir, &backup, &id).is_some()
    });
    assert_eq!(
        replica_owner(&dir, &owner, &id).map(|e| e.n),
        Some(1),
        "the cut-off owner still owns the run on its side"
    );
    nodes[at].send_line("heal");
    wait_until("the old owner knows it is fenced", None, || {
        replica_owner(&dir, &owner, &id).is_some_and(|e| e.node == backup && e.n == 2)
    });
    // Only now may the tasks go on: the attempts of b on both sides end, and one owner continues.
    std::fs::write(dir.join("gate"), "").unwrap();
    let waited = client(&nodes[b], 3, &["wait", &id]).output().unwrap();
    assert!(
        waited.status.success(),
        "troupe wait: {}{}",
        text(&waited.stdout),
        text(&waited.stderr)
    );
    assert_eq!(
        count(&dir, "a"),
        1,
        "a completed before the partition: not run again"
    );
    assert_eq!(count(&dir, "c"), 1, "one owner continued: c ran once");
    let shown = status(&nodes[b], 3, &id);
    assert!(shown.contains(&format!("{id} completed")), "{shown}");
    let taken = journal_kinds(&dir, &backup, &id).expect("the new owner's store holds the run");
    for task in ["a", "pa", "b", "pb", "c"] {
        let done = taken
            .iter()
            .filter(|(_, k)| *k == format!("completed {task}"))
            .count();
        assert_eq!(done, 1, "{task} applied once: {taken:?}");
    }
}
