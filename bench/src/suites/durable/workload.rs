//! The `durable` suite's test bed: a runtime, a store (SQLite in a scratch directory, or a
//! PostgreSQL server of its own), the workflows, and the timed operations.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use troupe_runtime::events::EventKind;
use troupe_runtime::store::testing::{raw, TempDir};
use troupe_runtime::store::{NewRun, RunStatus, SqliteOptions, SqliteStore, Store, Timestamp};
use troupe_runtime::workflow::durable::{Definition, Durability};
use troupe_runtime::workflow::journal::{append_events, JournalEvent};
use troupe_runtime::workflow::plan::{plan, Plan};
use troupe_runtime::{parse_workflow, RunId, Runtime, RuntimeConfig, TaskId};

use crate::scenario::{reason, Reason};

/// Where the journal is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Backend {
    /// An SQLite file (WAL, `synchronous=FULL`) in a scratch directory.
    Sqlite,
    /// A PostgreSQL server started for the scenario.
    Postgres,
}

impl Backend {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }

    pub(super) fn suffix(&self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " (PostgreSQL)",
        }
    }
}

/// A runtime and a store for one scenario.
pub(super) struct Bed {
    pub(super) rt: Runtime,
    pub(super) store: Arc<dyn Store>,
    dir: TempDir,
    _server: Option<Box<dyn Send + Sync>>,
    /// The PostgreSQL database's address (for the raw-commit baseline).
    pg_url: Option<String>,
    backend: Backend,
}

impl Bed {
    pub(super) async fn start(backend: Backend, name: &str) -> Result<Self, Reason> {
        let dir = TempDir::new(&format!("troupe-bench-durable-{name}")).map_err(reason)?;
        type Server = Option<Box<dyn Send + Sync>>;
        let (store, server, pg_url): (Arc<dyn Store>, Server, _) = match backend {
            Backend::Sqlite => {
                let store =
                    SqliteStore::open(dir.path().join("bench.db"), SqliteOptions::default())
                        .await
                        .map_err(reason)?;
                (Arc::new(store), None, None)
            }
            Backend::Postgres => {
                let (store, server, url) = super::postgres::start(name).await?;
                (store, Some(server), Some(url))
            }
        };
        let rt = Runtime::start(RuntimeConfig::named("bench-durable"))
            .await
            .map_err(reason)?;
        troupe_agents::register_all(rt.kinds());
        Ok(Self {
            rt,
            store,
            dir,
            _server: server,
            pg_url,
            backend,
        })
    }

    /// The size of the SQLite store's write-ahead log (`None` on PostgreSQL).
    pub(super) fn wal_bytes(&self) -> Option<u64> {
        if self.backend != Backend::Sqlite {
            return None;
        }
        let wal = self.dir.path().join("bench.db-wal");
        Some(std::fs::metadata(wal).map_or(0, |m| m.len()))
    }

    /// `ops` raw commits of one 64-byte row on this bed's database (its own SQLite file on
    /// the same disk, or the same PostgreSQL server), outside the store; one sample each.
    pub(super) async fn raw_commits(&self, ops: u64) -> Result<Vec<u64>, Reason> {
        let (backend, path, url) = (
            self.backend,
            self.dir.path().join("raw.db"),
            self.pg_url.clone(),
        );
        tokio::task::spawn_blocking(move || match (backend, url) {
            (Backend::Postgres, Some(url)) => raw::postgres_commits(&url, ops),
            _ => raw::sqlite_commits(&path, ops),
        })
        .await
        .map_err(reason)?
    }

    /// The scratch directory (on the disk the SQLite file is on).
    pub(super) fn scratch(&self) -> &Path {
        self.dir.path()
    }

    pub(super) async fn stop(&self) {
        self.rt.shutdown().await;
    }

    /// The workflow `yaml`, planned on this runtime.
    pub(super) fn work(&self, yaml: String) -> Result<Work, Reason> {
        let spec = parse_workflow(&yaml, "bench.yaml").map_err(reason)?;
        let plan = plan(spec, self.rt.kinds()).map_err(|e| e.to_string())?;
        Ok(Work {
            plan: Arc::new(plan),
            text: yaml.into(),
        })
    }

    fn durability(&self) -> Durability {
        Durability::new(self.store.clone(), "bench")
    }

    /// One journaled run of `plan` to its end.
    pub(super) async fn durable_run(&self, work: &Work) -> Result<RunId, Reason> {
        let definition = Definition {
            text: work.text.to_string(),
            source: "bench".into(),
        };
        let handle = self
            .rt
            .submit_durable(work.plan.clone(), definition, self.durability())
            .await
            .map_err(reason)?;
        let run = handle.run_id().clone();
        check(handle.wait().await.map_err(reason)?)?;
        Ok(run)
    }

    async fn memory_run(&self, work: &Work) -> Result<(), Reason> {
        let handle = self
            .rt
            .submit_plan(work.plan.clone())
            .await
            .map_err(reason)?;
        check(handle.wait().await.map_err(reason)?)
    }

    /// `ops` whole runs of `plan`, journaled or in memory; one sample per run.
    pub(super) async fn time_runs(
        &self,
        ops: u64,
        work: &Work,
        durable: bool,
    ) -> Result<Vec<u64>, Reason> {
        let mut samples = Vec::with_capacity(ops as usize);
        for _ in 0..ops {
            let start = Instant::now();
            if durable {
                self.durable_run(work).await?;
            } else {
                self.memory_run(work).await?;
            }
            samples.push(start.elapsed().as_nanos() as u64);
        }
        Ok(samples)
    }

    /// `ops` chain steps: runs of the chain `plan` until there are enough, each step the time
    /// between two consecutive task completions of one run (seen on the event stream).
    pub(super) async fn chain_steps(
        &self,
        ops: u64,
        work: &Work,
        durable: bool,
    ) -> Result<Vec<u64>, Reason> {
        let mut samples = Vec::with_capacity(ops as usize);
        while (samples.len() as u64) < ops {
            let mut events = self.rt.subscribe();
            let run = if durable {
                self.durable_run(work).await?
            } else {
                let handle = self
                    .rt
                    .submit_plan(work.plan.clone())
                    .await
                    .map_err(reason)?;
                let run = handle.run_id().clone();
                check(handle.wait().await.map_err(reason)?)?;
                run
            };
            let mut last: Option<Duration> = None;
            while let Ok(event) = events.try_recv() {
                if event.workflow.as_ref() != Some(&run) {
                    continue;
                }
                if let EventKind::TaskCompleted { .. } = event.kind {
                    if let Some(prev) = last {
                        samples.push(event.at.saturating_sub(prev).as_nanos() as u64);
                    }
                    last = Some(event.at);
                }
            }
        }
        samples.truncate(ops as usize);
        Ok(samples)
    }

    /// `ops` resumes of fresh runs with `2 × tasks` journaled events (written before timing).
    pub(super) async fn time_resumes(
        &self,
        ops: u64,
        work: &Work,
        tasks: u64,
    ) -> Result<Vec<u64>, Reason> {
        let mut samples = Vec::with_capacity(ops as usize);
        for _ in 0..ops {
            let run = interrupted_run(self.store.as_ref(), work, tasks).await?;
            let start = Instant::now();
            let handle = self
                .rt
                .resume_durable(run, self.durability())
                .await
                .map_err(reason)?;
            samples.push(start.elapsed().as_nanos() as u64);
            check(handle.wait().await.map_err(reason)?)?;
        }
        Ok(samples)
    }

    /// `ops` raw reads of fresh journals like those [`Bed::time_resumes`] resumes.
    pub(super) async fn time_reads(
        &self,
        ops: u64,
        work: &Work,
        tasks: u64,
    ) -> Result<Vec<u64>, Reason> {
        let mut samples = Vec::with_capacity(ops as usize);
        for _ in 0..ops {
            let run = interrupted_run(self.store.as_ref(), work, tasks).await?;
            let start = Instant::now();
            let read = self.store.read_journal(run, 1).await.map_err(reason)?;
            samples.push(start.elapsed().as_nanos() as u64);
            if read.entries.len() as u64 != 2 * tasks {
                return Err(format!(
                    "read {} entries, expected {}",
                    read.entries.len(),
                    2 * tasks
                ));
            }
        }
        Ok(samples)
    }
}

fn check(report: troupe_runtime::WorkflowReport) -> Result<(), Reason> {
    if report.succeeded() {
        Ok(())
    } else {
        Err(format!("the benchmark's run failed: {:?}", report.outcome))
    }
}

/// A workflow: its text (journaled with each run) and its plan.
#[derive(Clone)]
pub(super) struct Work {
    plan: Arc<Plan>,
    text: Arc<str>,
}

/// `n` independent `util.echo` tasks.
pub(super) fn fan_out_yaml(n: u64) -> String {
    let mut yaml = String::from(
        "workflow:\n  name: bench-fan-out\n  agents:\n    echo: { type: util.echo, count: 2 }\n  tasks:\n",
    );
    for i in 0..n {
        yaml.push_str(&format!("    - {{ id: t{i}, agent: echo, input: {i} }}\n"));
    }
    yaml
}

/// A chain of `n` `util.echo` tasks, each on the previous one's output.
pub(super) fn chain_yaml(n: u64) -> String {
    let mut yaml = String::from(
        "workflow:\n  name: bench-chain\n  agents:\n    echo: { type: util.echo }\n  tasks:\n    - { id: t0, agent: echo, input: 0 }\n",
    );
    for i in 1..n {
        yaml.push_str(&format!(
            "    - {{ id: t{i}, agent: echo, depends_on: [t{}] }}\n",
            i - 1
        ));
    }
    yaml
}

/// A run of the fan-out `plan` (of `tasks` tasks) as a killed driver leaves it: submitted,
/// every task but the last started and completed, the last started; `2 × tasks` events.
async fn interrupted_run(store: &dyn Store, work: &Work, tasks: u64) -> Result<RunId, Reason> {
    let (text, plan) = (&*work.text, &work.plan);
    let now = Timestamp::now();
    let run = RunId::new(format!("bench-resume-{:x}", fastrand::u64(..)));
    store
        .create_run(
            NewRun::new(run.clone(), plan.spec.name.clone(), now)
                .definition(text, "bench")
                .options(json!({ "seed": 1 })),
        )
        .await
        .map_err(reason)?;
    let mut events = vec![JournalEvent::Submitted {
        workflow: plan.spec.name.clone(),
        definition: text.to_string(),
        definition_version: "bench".into(),
        input: Value::Null,
        options: json!({ "seed": 1 }),
        tree: plan.spec.packed_tree(),
    }];
    for i in 0..tasks {
        let task = TaskId::new(format!("t{i}"));
        events.push(JournalEvent::AttemptStarted {
            idempotency_key: format!("{run}/{task}/1"),
            task: task.clone(),
            attempt: 1,
            item: None,
        });
        if i + 1 < tasks {
            events.push(JournalEvent::TaskCompleted {
                task,
                attempt: 1,
                output: json!(i),
            });
        }
    }
    for chunk in events.chunks(1000) {
        append_events(store, &run, None, now, chunk)
            .await
            .map_err(reason)?;
    }
    store
        .set_run_status(run.clone(), RunStatus::Running, now)
        .await
        .map_err(reason)?;
    Ok(run)
}

/// `ops` raw `fdatasync`s, each of a 64-byte append to a file in `dir`; one sample each.
pub(super) async fn raw_fsyncs(dir: PathBuf, ops: u64) -> Result<Vec<u64>, Reason> {
    tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let path = dir.join("fsync.bin");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let block = [7u8; 64];
        let mut samples = Vec::with_capacity(ops as usize);
        for _ in 0..ops {
            let start = Instant::now();
            file.write_all(&block)
                .and_then(|()| file.sync_data())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            samples.push(start.elapsed().as_nanos() as u64);
        }
        Ok(samples)
    })
    .await
    .map_err(reason)?
}
