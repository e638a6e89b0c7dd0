//! A seeded simulation of run ownership over replicas (the protocol of the `troupe node` run
//! service, modelled with the real [`RunReplica`]): three nodes, one run of sequential tasks
//! owned by the first; per seed, the owner crashes or is partitioned away at a random step,
//! the first live backup takes over from its replica, the partition heals at a random later
//! step. Checked per seed: at the end one owner drives the run (every other one that was
//! still driving was fenced), the run finishes, and merging every node's replica (the
//! fenced owner's included) gives each task's result exactly once.

use super::*;

const NODES: [&str; 3] = ["a", "b", "c"];
const TASKS: usize = 6;

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[derive(Clone)]
struct Node {
    replica: RunReplica,
    owns: Option<Epoch>,
    fenced: bool,
    alive: bool,
}

struct World {
    nodes: Vec<Node>,
    /// Which side of a partition each node is on (equal: connected).
    side: [u8; 3],
    hlc: Hlc,
}

fn completed(entry: &Entry) -> Option<usize> {
    entry
        .kind
        .strip_prefix("done:")
        .and_then(|t| t.parse().ok())
}

impl World {
    fn reachable(&self, a: usize, b: usize) -> bool {
        self.nodes[a].alive && self.nodes[b].alive && self.side[a] == self.side[b]
    }

    /// The backup of a run owned by `owner`: the next node in order.
    fn backup(owner: usize) -> usize {
        (owner + 1) % NODES.len()
    }

    /// The owner `i` runs its next task: journals its result, ships it to its backup.
    fn step(&mut self, i: usize, fail: bool) {
        let Some(epoch) = self.nodes[i].owns.clone() else {
            return;
        };
        if self.nodes[i].fenced || !self.nodes[i].alive {
            return;
        }
        let done: BTreeSet<usize> = self.nodes[i]
            .replica
            .journal_prefix()
            .iter()
            .filter_map(|(_, e)| completed(e))
            .collect();
        let Some(task) = (0..TASKS).find(|t| !done.contains(t)) else {
            return;
        };
        // An attempt is journaled as started, then as failed (the owner retries) or done.
        let started = self.nodes[i]
            .replica
            .journal_prefix()
            .last()
            .is_some_and(|(_, e)| e.kind == format!("start:{task}"));
        let kind = match (started, fail) {
            (false, _) => format!("start:{task}"),
            (true, true) => format!("fail:{task}"),
            (true, false) => format!("done:{task}"),
        };
        let seq = self.nodes[i].replica.journal_end() + 1;
        let mut delta = RunReplica::new("r");
        delta.epochs = self.nodes[i].replica.epochs.clone();
        let done_now = kind.starts_with("done:");
        let entry = Entry {
            at_ms: seq,
            kind,
            payload: Vec::new(),
        };
        delta.journal.insert(seq, (epoch.clone(), entry));
        if done_now {
            let key = format!("r/{task}/1");
            delta.results.add(
                key,
                Dot {
                    node: NODES[i].into(),
                    n: (epoch.n << 32) + seq,
                },
                "ok",
            );
        }
        delta.status.insert(
            task.to_string(),
            Lww {
                stamp: Stamp {
                    epoch: epoch.clone(),
                    hlc: self.hlc.tick(seq),
                },
                value: if done_now { "completed" } else { "running" }.into(),
            },
        );
        let b = Self::backup(i);
        if self.reachable(i, b) {
            match self.nodes[b].replica.admit(&epoch) {
                Admit::Accept => self.nodes[b].replica.merge(delta.clone()),
                Admit::Fenced { current } => {
                    // Refused: the owner stops, nothing of this write counts.
                    self.nodes[i].fenced = true;
                    self.nodes[i].replica.epochs.insert(current, u64::MAX);
                    return;
                }
            }
        }
        self.nodes[i].replica.merge(delta);
    }

    /// A live node that keeps a replica whose owner it cannot reach takes the run over.
    fn fail_over(&mut self) {
        for (i, name) in NODES.iter().enumerate() {
            let node = &self.nodes[i];
            if !node.alive || node.owns.is_some() {
                continue;
            }
            let Some(owner) = node.replica.owner().cloned() else {
                continue;
            };
            let o = NODES.iter().position(|n| *n == owner.node).unwrap_or(0);
            if o == i || self.reachable(i, o) {
                continue;
            }
            let epoch = self.nodes[i].replica.take_over(name);
            self.nodes[i].owns = Some(epoch);
        }
    }
}

fn simulate(seed: u64) -> Result<(), String> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let fresh = Node {
        replica: RunReplica::new("r"),
        owns: None,
        fenced: false,
        alive: true,
    };
    let mut w = World {
        nodes: vec![fresh.clone(), fresh.clone(), fresh],
        side: [0; 3],
        hlc: Hlc::default(),
    };
    let first = Epoch::new(1, "a");
    w.nodes[0].replica.epochs.insert(first.clone(), 0);
    w.nodes[0].owns = Some(first.clone());
    w.nodes[1].replica.epochs.insert(first, 0);
    let fault_at = rng.below(TASKS as u64 * 2 + 1);
    let crash = rng.below(2) == 0;
    let heal_at = fault_at + 1 + rng.below(TASKS as u64 * 3);
    for t in 0..(TASKS as u64 * 8) {
        if t == fault_at {
            if crash {
                w.nodes[0].alive = false;
            } else {
                w.side = [1, 0, 0];
            }
        }
        if t == heal_at {
            w.side = [0; 3];
        }
        w.fail_over();
        let order: Vec<usize> = (0..NODES.len()).collect();
        for i in order {
            if rng.below(4) != 0 {
                let fail = rng.below(3) == 0;
                w.step(i, fail);
            }
        }
    }
    // Quiesce: everyone connected, owners step until nothing changes.
    w.side = [0; 3];
    for _ in 0..TASKS * 6 {
        for i in 0..NODES.len() {
            w.step(i, false);
        }
    }
    let top = w
        .nodes
        .iter()
        .filter(|n| n.alive)
        .filter_map(|n| n.owns.clone())
        .max()
        .ok_or("no owner")?;
    let winner = NODES.iter().position(|n| *n == top.node).unwrap_or(0);
    let mut all = RunReplica::new("r");
    for n in &w.nodes {
        all.merge(n.replica.clone());
    }
    for (i, n) in w.nodes.iter().enumerate() {
        let unfinished = n
            .replica
            .journal_prefix()
            .iter()
            .filter_map(|(_, e)| completed(e))
            .count()
            < TASKS;
        if i != winner && n.alive && n.owns.is_some() && !n.fenced && unfinished {
            return Err(format!("{} still drives the run beside {top}", NODES[i]));
        }
    }
    let mut once = vec![0usize; TASKS];
    for (_, e) in all.journal_prefix() {
        if let Some(t) = completed(e) {
            once[t] += 1;
        }
    }
    if once.iter().any(|c| *c != 1) {
        return Err(format!(
            "results in the merged journal: {once:?} (want one each)"
        ));
    }
    let mine: usize = w.nodes[winner]
        .replica
        .journal_prefix()
        .iter()
        .filter_map(|(_, e)| completed(e))
        .count();
    if mine != TASKS {
        return Err(format!(
            "the run did not finish on {top}: {mine} of {TASKS}"
        ));
    }
    for t in 0..TASKS {
        if !all.has_result(&format!("r/{t}/1")) {
            return Err(format!("no result for task {t}"));
        }
    }
    Ok(())
}

#[test]
fn owner_crashes_and_partitions_leave_one_owner_a_finished_run_and_each_result_once() {
    let mut failures = Vec::new();
    for seed in 0..500 {
        if let Err(e) = simulate(seed) {
            failures.push(format!("seed {seed}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
