//! Run failover: `kill -9` of the node that owns (drives) a durable run, with every node on one
//! shared PostgreSQL store; the time until the run's next task is started by the node that
//! took the run over, and, from the same kills, until the client's membership drops the owner.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use troupe_cluster::registry::NodeName;
use troupe_cluster::runs::{RunInfo, RunRequest};
use troupe_runtime::store::testing::postgres::{pg_bin, PgServer};

use super::fleet::{nonce, Fleet, IPS};
use super::paired::Paired;
use super::Context;
use crate::scenario::{reason, Prepared, Reason, Variant};
use crate::suites::err;

/// How often the task's log and the client's members are polled after the kill.
const POLL: Duration = Duration::from_millis(5);
/// A failover that takes longer fails the scenario.
const GIVE_UP: Duration = Duration::from_secs(30);
/// How long a run request may take.
const ASK: Duration = Duration::from_secs(10);

/// Lines in `file` (0 when it does not exist yet).
fn lines(file: &Path) -> usize {
    std::fs::read_to_string(file)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// One task that appends a line to `dir/log` when it starts, then waits for `dir/gate`.
fn definition(dir: &Path) -> String {
    let (log, gate) = (dir.join("log"), dir.join("gate"));
    format!(
        "workflow:\n  name: bench-run-failover\n  agents:\n    gated: {{ type: cmd.run, config: {{ shell: true, timeout: 120s, program: \"echo started >> {}; while [ ! -f {} ]; do sleep 0.01; done\" }} }}\n  tasks:\n    - {{ id: gated, agent: gated }}\n",
        log.display(),
        gate.display()
    )
}

/// The two surviving nodes and the client, the PostgreSQL server they share, and the
/// figures of the last round's kills waiting for the variant that did not run them.
struct Kills {
    fleet: Fleet,
    run: String,
    dir: PathBuf,
    victims: AtomicU64,
    paired: Paired,
}

impl Kills {
    /// `ops` samples: of the time until the next task is started on the new owner (`started`)
    /// or until the owner is gone from the client's members; both from the same kills.
    async fn samples(&self, started: bool, ops: u64) -> Result<Vec<u64>, Reason> {
        self.paired.samples(started, ops, || self.one_kill()).await
    }

    /// The survivors, by name.
    fn survivors(&self) -> Vec<NodeName> {
        self.fleet.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// Starts an owner node, submits the run to it, waits until its task has started, kills
    /// the owner; the time until the task is started again (by the node that took the run
    /// over), and until the owner is no longer a member. Then opens the gate and checks the
    /// run completed on a survivor, the task started exactly twice.
    async fn one_kill(&self) -> Result<(Duration, Duration), Reason> {
        let client = self.fleet.client();
        let k = self.victims.fetch_add(1, Ordering::Relaxed);
        let dir = self.dir.join(format!("op-{k}"));
        std::fs::create_dir_all(&dir)
            .map_err(|e| err(&format!("creating {}", dir.display()), e))?;
        let log = dir.join("log");
        let name = format!("owner-{}-{k}", self.run);
        let mut owner = self.fleet.start_node(&name, IPS[2]).await?;
        let node = owner.name.clone();
        self.fleet.wait_linked(std::slice::from_ref(&node)).await?;
        let submit = RunRequest::Submit {
            definition: definition(&dir),
            source: "bench-run-failover.yaml".into(),
        };
        let info = client
            .run_request(&node, submit, ASK)
            .await
            .map_err(|e| err("submitting the run to its owner", e))?
            .ok_or("the owner answered the submission with no run")?;
        let run = info.run.clone();
        let deadline = Instant::now() + GIVE_UP;
        while lines(&log) == 0 {
            if Instant::now() > deadline {
                return Err(format!("run {run}'s task never started on {node}"));
            }
            tokio::time::sleep(POLL).await;
        }

        let killed = Instant::now();
        owner.kill9();
        let (mut started, mut detected) = (None, None);
        while started.is_none() || detected.is_none() {
            tokio::time::sleep(POLL).await;
            if detected.is_none() && !client.members().iter().any(|m| m.name == node) {
                detected = Some(killed.elapsed());
            }
            if started.is_none() && lines(&log) >= 2 {
                started = Some(killed.elapsed());
            }
            if killed.elapsed() > GIVE_UP {
                return Err(format!(
                    "{GIVE_UP:?} after kill -9 of {node}, the owner of run {run}: detected \
                     {detected:?}, next task started {started:?}"
                ));
            }
        }
        // Untimed: the run completes on a survivor, its task started once before the kill
        // and once after.
        std::fs::write(dir.join("gate"), "").map_err(|e| err("opening the gate", e))?;
        let end = self.finished(&run).await?;
        if end.status != "completed" {
            return Err(format!(
                "run {run} ended {} (said {})",
                end.status, end.node
            ));
        }
        if lines(&log) != 2 {
            return Err(format!(
                "run {run}'s task started {} times, not twice",
                lines(&log)
            ));
        }
        let _ = std::fs::remove_dir_all(&dir);
        Ok((started.unwrap_or_default(), detected.unwrap_or_default()))
    }

    /// Asks the survivors about `run` (they share the store) until one says it has ended.
    async fn finished(&self, run: &str) -> Result<RunInfo, Reason> {
        let client = self.fleet.client();
        let deadline = Instant::now() + GIVE_UP;
        loop {
            for node in self.survivors() {
                let ask = RunRequest::Status {
                    run: run.to_string(),
                    wait: false,
                };
                if let Ok(Some(info)) = client.run_request(&node, ask, ASK).await {
                    if info.is_finished() {
                        return Ok(info);
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "run {run} did not end on a survivor within {GIVE_UP:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The run failover scenario: a PostgreSQL server of its own (from the installed binaries),
/// two node processes on it that survive, and a fresh owner node per operation.
pub(super) async fn run_failover(ctx: Context) -> Result<Prepared, Reason> {
    let bin = pg_bin().ok_or(
        "SKIPPED: run failover needs a shared PostgreSQL store and PostgreSQL is not installed \
         (install postgresql: /usr/lib/postgresql/*/bin)",
    )?;
    let server = tokio::task::spawn_blocking(move || PgServer::start(bin, false))
        .await
        .map_err(reason)??;
    let url = server.url("postgres");
    let fleet = Fleet::local_on(&ctx, 2, "runfo", &url).await?;
    let run = nonce();
    let dir = std::env::temp_dir().join(format!("troupe-bench-runfo-{}-{run}", std::process::id()));
    let base = fleet.note();
    let kills = Arc::new(Kills {
        fleet,
        run,
        dir: dir.clone(),
        victims: AtomicU64::new(0),
        paired: Paired::default(),
    });
    let (a, b) = (kills.clone(), kills.clone());
    let subject = Variant::subject("troupe: next task started on the new owner", move |ops| {
        let kills = a.clone();
        async move { kills.samples(true, ops).await }
    });
    let detection = Variant::baseline("membership: owner declared down", move |ops| {
        let kills = b.clone();
        async move { kills.samples(false, ops).await }
    });
    let mut prepared = Prepared::new(vec![subject, detection])
        .note(format!(
            "each operation: a fresh node process on {} joins, is submitted a durable run whose \
             task appends a line to a file and waits; once it started, the owner is killed with \
             SIGKILL, and the file and the client's members are polled every {} ms until the \
             task is started again by the survivor that took the run over",
            IPS[2],
            POLL.as_millis()
        ))
        .note(format!(
            "survivors: {base}; all nodes on one PostgreSQL server (fsync off)"
        ))
        .note(
            "no raw baseline exists (ractor_cluster has no runs): the second variant is the \
             detection part of the same kills",
        )
        .note("budget: ≤ 2 s p50 and ≤ 3 s p99 (issue #10)");
    if ctx.cluster.is_some() {
        prepared = prepared.note("runs on node processes of its own, not on --cluster");
    }
    Ok(prepared.teardown(async move {
        if let Ok(kills) = Arc::try_unwrap(kills) {
            kills.fleet.shutdown().await;
        }
        drop(server);
        let _ = std::fs::remove_dir_all(&dir);
    }))
}
