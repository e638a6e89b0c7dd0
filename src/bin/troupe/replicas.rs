//! Run state replicated without a shared store (`cluster/DESIGN.md`, "Runs"): the owner of a
//! run ships each journal append, as a [`RunReplica`] delta, to the run's `backups` before the
//! append returns (so before a task's result counts); backups merge it and keep it in their own
//! store; when the owner is declared down, the first live backup in the run's order writes the
//! replica's journal into its store as the run and resumes it under a higher epoch.
//!
//! Where a replica is kept: as a run `replica.RUN` (workflow [`REPLICA_WORKFLOW`]) of the
//! node's store, whose journal entries are the deltas received (and the epochs this node
//! owned), merged again when the node starts. Such runs are never resumed or listed as runs
//! of the node's own (see [`Replicas::is_replica_record`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use troupe::cluster::node::ClusterError;
use troupe::cluster::node::ClusterNode;
use troupe::cluster::registry::NodeName;
use troupe::cluster::replica::{Admit, Dot, Entry, Epoch, Hlc, Lww, RunMeta, RunReplica, Stamp};
use troupe::cluster::runs::{Replication, RunRequest};
use troupe::cluster::wire::WireError;
use troupe::runtime::store::{
    JournalEntry, NewEntry, NewRun, RunFilter, RunRecord, Store, StoreError, Timestamp,
};
use troupe::runtime::workflow::journal::JournalEvent;
use troupe::RunId;

/// The workflow name of the store records that hold replicas.
pub const REPLICA_WORKFLOW: &str = "troupe.replica";
/// The journal kind of a kept delta.
const DELTA_KIND: &str = "replica.delta";
/// How long an owner waits for one backup's answer before it goes on without it.
const BACKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// The store record id of run `run`'s replica.
fn replica_id(run: &str) -> RunId {
    RunId::new(format!("replica.{run}"))
}

/// A run owned here.
struct Owned {
    epoch: Epoch,
    /// The journal position the epoch started after.
    base: u64,
    hlc: Hlc,
    dots: u64,
    /// A higher epoch that owns the run now: nothing more is written.
    fenced: Option<Epoch>,
    /// Backups that hold the run from its start (the others get everything first).
    synced: HashSet<NodeName>,
    /// Idempotency keys of the attempts started, by task and attempt.
    keys: HashMap<(String, u32), String>,
}

/// The replicas kept here and the runs owned here, over the node's own store.
pub struct Replicas {
    node: ClusterNode,
    store: Arc<dyn Store>,
    me: String,
    owned: Mutex<HashMap<String, Owned>>,
    held: Mutex<HashMap<String, Arc<tokio::sync::Mutex<RunReplica>>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn failed(e: impl std::fmt::Display) -> Replication {
    Replication::Failed(e.to_string())
}

impl Replicas {
    /// The replicas of `node` over its `store`, loaded from it.
    pub async fn load(node: ClusterNode, store: Arc<dyn Store>) -> Result<Arc<Self>, String> {
        let me = node.name().as_str().to_string();
        let this = Arc::new(Self {
            node,
            store,
            me,
            owned: Mutex::new(HashMap::new()),
            held: Mutex::new(HashMap::new()),
        });
        let filter = RunFilter {
            workflow: Some(REPLICA_WORKFLOW.into()),
            ..RunFilter::default()
        };
        for record in crate::runs::all_runs(this.store.as_ref(), filter).await? {
            let read = this
                .store
                .read_journal(record.id.clone(), 1)
                .await
                .map_err(|e| e.to_string())?;
            let mut replica = RunReplica::default();
            for entry in read.entries {
                let what = format!("replica {} entry {}", record.id, entry.seq);
                let delta = RunReplica::from_bytes(&entry.payload, &what)?;
                replica.merge(delta);
            }
            let run = replica.run.clone();
            if let Some(owner) = replica.owner().filter(|o| o.node == this.me).cloned() {
                let base = replica.epochs[&owner];
                lock(&this.owned).insert(run.clone(), Owned::new(owner, base));
            }
            lock(&this.held).insert(run, Arc::new(tokio::sync::Mutex::new(replica)));
        }
        Ok(this)
    }

    /// This node's name.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// Whether `record` holds a replica (not a run of this node's own).
    pub fn is_replica_record(record: &RunRecord) -> bool {
        record.workflow == REPLICA_WORKFLOW
    }

    /// Whether this node may drive `run`: no higher epoch of another node owns it.
    pub fn may_drive(&self, run: &str) -> bool {
        let owned = lock(&self.owned);
        match owned.get(run) {
            Some(o) => o.fenced.is_none(),
            None => !lock(&self.held).contains_key(run),
        }
    }

    /// The slot of `run`'s replica, made (with its store record) if new.
    async fn slot(&self, run: &str) -> Result<Arc<tokio::sync::Mutex<RunReplica>>, String> {
        if let Some(slot) = lock(&self.held).get(run).cloned() {
            return Ok(slot);
        }
        let id = replica_id(run);
        if self
            .store
            .get_run(id.clone())
            .await
            .map_err(|e| e.to_string())?
            .is_none()
        {
            let new = NewRun::new(id, REPLICA_WORKFLOW, Timestamp::now());
            match self.store.create_run(new).await {
                Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        let mut held = lock(&self.held);
        Ok(held
            .entry(run.to_string())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(RunReplica::new(run))))
            .clone())
    }

    /// Keeps `delta` in the store and merges it into `replica`.
    async fn keep(&self, replica: &mut RunReplica, delta: RunReplica) -> Result<(), String> {
        let payload = delta.to_bytes()?;
        let entry = NewEntry {
            at: Timestamp::now(),
            kind: DELTA_KIND.into(),
            payload,
        };
        self.store
            .append(replica_id(&replica.run), None, vec![entry])
            .await
            .map_err(|e| e.to_string())?;
        replica.merge(delta);
        Ok(())
    }

    /// Records that this node owns `run` under `epoch` (a run it created: epoch 1).
    pub async fn own(&self, run: &str, epoch: Epoch, base: u64) -> Result<(), String> {
        let slot = self.slot(run).await?;
        let mut replica = slot.lock().await;
        let mut delta = RunReplica::new(run);
        delta.epochs.insert(epoch.clone(), base);
        self.keep(&mut replica, delta).await?;
        lock(&self.owned).insert(run.to_string(), Owned::new(epoch, base));
        Ok(())
    }

    /// A backup's side: merges and keeps a delta written under `epoch`, unless a higher epoch
    /// owns the run. Answers the journal position held without a gap.
    pub async fn receive(&self, epoch: Epoch, delta: RunReplica) -> Result<u64, Replication> {
        let run = delta.run.clone();
        let announcement = delta.meta.is_none() && delta.journal.is_empty();
        if announcement && !lock(&self.held).contains_key(&run) {
            // Epochs of a run this node keeps nothing of: nothing to fence here.
            return Ok(0);
        }
        let slot = self.slot(&run).await.map_err(failed)?;
        let mut replica = slot.lock().await;
        if let Admit::Fenced { current } = replica.admit(&epoch) {
            return Err(Replication::Fenced(current));
        }
        self.keep(&mut replica, delta).await.map_err(failed)?;
        if let Some(o) = lock(&self.owned).get_mut(&run) {
            if o.fenced.is_none() && replica.owner().is_some_and(|w| *w > o.epoch) {
                eprintln!(
                    "troupe node {}: run {run} is owned by epoch {epoch} now: stopping here",
                    self.me
                );
                o.fenced = replica.owner().cloned();
            }
        }
        Ok(replica.journal_end())
    }

    /// The owner's side of an append to `run` at `first..=last` (already in this node's
    /// store): ships it to the run's backups and waits for them. `Err` when a higher epoch
    /// owns the run (the caller stops writing).
    pub async fn replicate(
        &self,
        run: &RunId,
        first: u64,
        entries: &[NewEntry],
    ) -> Result<(), Epoch> {
        let key = run.as_str();
        let (epoch, delta, fresh) = {
            let mut owned = lock(&self.owned);
            if !owned.contains_key(key) && lock(&self.held).contains_key(key) {
                // Another node's run, kept here as a replica: not ours to write.
                return Err(Epoch::new(u64::MAX, "another node"));
            }
            let o = owned
                .entry(key.to_string())
                .or_insert_with(|| Owned::new(Epoch::new(1, self.me.clone()), 0));
            if let Some(f) = &o.fenced {
                return Err(f.clone());
            }
            let delta = o.delta(key, &self.me, first, entries);
            let backups = self.node.run_backups(key);
            let fresh: Vec<NodeName> = backups
                .iter()
                .filter(|b| !o.synced.contains(*b))
                .cloned()
                .collect();
            let old: Vec<NodeName> = backups
                .into_iter()
                .filter(|b| o.synced.contains(b))
                .collect();
            (o.epoch.clone(), delta, (fresh, old))
        };
        let (fresh, old) = fresh;
        let last = first + entries.len() as u64 - 1;
        // One backup after the other (the default is one backup).
        let sends = old
            .into_iter()
            .map(|b| (b, false))
            .chain(fresh.into_iter().map(|b| (b, true)));
        for (backup, fresh) in sends {
            if let Err(owner) = self
                .send(backup, epoch.clone(), delta.clone(), last, fresh)
                .await
            {
                if let Some(o) = lock(&self.owned).get_mut(key) {
                    o.fenced = Some(owner.clone());
                }
                self.note_fenced(key, owner.clone()).await;
                return Err(owner);
            }
        }
        Ok(())
    }

    /// Records in the store that `owner` owns `run` now (so a restart does not resume it).
    async fn note_fenced(&self, run: &str, owner: Epoch) {
        if let Ok(slot) = self.slot(run).await {
            let mut replica = slot.lock().await;
            let mut delta = RunReplica::new(run);
            delta.epochs.insert(owner, u64::MAX);
            let _ = self.keep(&mut replica, delta).await;
        }
    }

    /// Sends `delta` to `backup`; a backup that lacks earlier entries (or everything, when
    /// `fresh`) gets them from this node's store. `Err` when it is fenced.
    async fn send(
        &self,
        backup: NodeName,
        epoch: Epoch,
        delta: RunReplica,
        last: u64,
        fresh: bool,
    ) -> Result<(), Epoch> {
        let run = delta.run.clone();
        let mut delta = if fresh {
            match self.everything(&run, 1).await {
                Some(d) => d,
                None => delta,
            }
        } else {
            delta
        };
        for _ in 0..2 {
            match self
                .node
                .replicate_run(&backup, epoch.clone(), delta, BACKUP_TIMEOUT)
                .await
            {
                Ok(have) if have >= last => {
                    if let Some(o) = lock(&self.owned).get_mut(&run) {
                        o.synced.insert(backup.clone());
                    }
                    return Ok(());
                }
                Ok(have) => match self.everything(&run, have + 1).await {
                    Some(d) => delta = d,
                    None => return Ok(()),
                },
                Err(ClusterError::Run {
                    cause: WireError::Fenced { owner, .. },
                    ..
                }) => return Err(owner),
                Err(e) => {
                    // A backup cut off or gone: the owner keeps its run (see DESIGN.md).
                    eprintln!("troupe node {}: run {run}: backup {backup}: {e}", self.me);
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// The run's meta and journal from `from` on, as this node's store has them, as a delta.
    async fn everything(&self, run: &str, from: u64) -> Option<RunReplica> {
        let record = self.store.get_run(RunId::new(run)).await.ok()??;
        let read = self
            .store
            .read_journal(record.id.clone(), from)
            .await
            .ok()?;
        let entries: Vec<NewEntry> = read
            .entries
            .iter()
            .map(|e| NewEntry {
                at: e.at,
                kind: e.kind.clone(),
                payload: e.payload.clone(),
            })
            .collect();
        let first = read.entries.first().map_or(from, |e| e.seq);
        let mut owned = lock(&self.owned);
        let o = owned.get_mut(run)?;
        let mut delta = o.delta(run, &self.me, first, &entries);
        delta.meta = Some(meta_of(&record));
        Some(delta)
    }

    /// Takes over the runs kept here whose owner is gone, each in its turn; returns at once.
    pub fn on_members_lost(self: &Arc<Self>, hosted: Arc<crate::hosted::Hosted>) {
        let runs: Vec<String> = lock(&self.held).keys().cloned().collect();
        for run in runs {
            let Some(after) = self.node.run_takeover_after(&run) else {
                continue;
            };
            let me = self.clone();
            let hosted = hosted.clone();
            tokio::spawn(async move {
                if !me.orphaned(&run).await {
                    return;
                }
                tokio::time::sleep(after).await;
                if !me.orphaned(&run).await || me.driven_elsewhere(&run).await {
                    return;
                }
                match me.take_over(&run).await {
                    Ok(epoch) => {
                        let (tasks, results) = me.summary(&run).await.unwrap_or_default();
                        eprintln!(
                            "troupe node {}: taking run {run} over from its replica (epoch {epoch}; {tasks} task(s) known, {results} result(s))",
                            me.me
                        );
                        hosted.resume(RunId::new(run.as_str()));
                    }
                    Err(e) => eprintln!("troupe node {}: run {run}: no takeover: {e}", me.me),
                }
            });
        }
    }

    /// Whenever members come (a partition healed, a node joined or restarted), tells them the
    /// epochs of the runs owned here: a node that owns one of them under a lower epoch learns
    /// that it is fenced, and if one of them knows a higher epoch, this node is.
    pub async fn announce_epochs(self: Arc<Self>) {
        let mut known = self.node.members().into_iter().map(|m| m.name).collect();
        loop {
            let gained = self.node.members_gained(&mut known).await;
            let owned: Vec<(String, Epoch, u64)> = lock(&self.owned)
                .iter()
                .filter(|(_, o)| o.fenced.is_none())
                .map(|(run, o)| (run.clone(), o.epoch.clone(), o.base))
                .collect();
            for (run, epoch, base) in owned {
                for node in &gained {
                    if node.as_str() == self.me {
                        continue;
                    }
                    let mut delta = RunReplica::new(run.as_str());
                    delta.epochs.insert(epoch.clone(), base);
                    let answer = self
                        .node
                        .replicate_run(node, epoch.clone(), delta, BACKUP_TIMEOUT)
                        .await;
                    if let Err(ClusterError::Run {
                        cause: WireError::Fenced { owner, .. },
                        ..
                    }) = answer
                    {
                        eprintln!(
                            "troupe node {}: run {run} is owned by epoch {owner}: stopping here",
                            self.me
                        );
                        if let Some(o) = lock(&self.owned).get_mut(&run) {
                            o.fenced = Some(owner.clone());
                        }
                        self.note_fenced(&run, owner).await;
                        break;
                    }
                }
            }
        }
    }

    /// Whether `run` is kept here and its owner is not a live member.
    async fn orphaned(&self, run: &str) -> bool {
        if lock(&self.owned).contains_key(run) {
            return false;
        }
        let Some(slot) = lock(&self.held).get(run).cloned() else {
            return false;
        };
        let replica = slot.lock().await;
        let finished = replica
            .journal_prefix()
            .last()
            .is_some_and(|(_, e)| e.kind == "run_finished");
        let Some(owner) = replica.owner() else {
            return false;
        };
        !finished
            && !self
                .node
                .members()
                .iter()
                .any(|m| m.name.as_str() == owner.node)
    }

    /// Whether a live node answers that it drives `run`.
    async fn driven_elsewhere(&self, run: &str) -> bool {
        for node in self.node.run_nodes(run) {
            let status = RunRequest::Status {
                run: run.to_string(),
                wait: false,
            };
            if let Ok(Some(info)) = self
                .node
                .run_request(&node, status, Duration::from_secs(1))
                .await
            {
                if info.driving {
                    return true;
                }
            }
        }
        false
    }

    /// Writes the replica's journal into this node's store as run `run` and owns it under a
    /// new epoch.
    async fn take_over(&self, run: &str) -> Result<Epoch, String> {
        let slot = self.slot(run).await?;
        let mut replica = slot.lock().await;
        let meta = replica
            .meta
            .clone()
            .ok_or_else(|| format!("the replica of {run} has no creation record"))?;
        let id = RunId::new(run);
        let have = match self
            .store
            .get_run(id.clone())
            .await
            .map_err(|e| e.to_string())?
        {
            Some(record) => record.last_seq,
            None => {
                self.store
                    .create_run(new_run(run, &meta)?)
                    .await
                    .map_err(|e| e.to_string())?;
                0
            }
        };
        let entries: Vec<NewEntry> = replica
            .journal_prefix()
            .into_iter()
            .filter(|(seq, _)| *seq > have)
            .map(|(_, e)| NewEntry {
                at: Timestamp::from_millis(e.at_ms),
                kind: e.kind.clone(),
                payload: e.payload.clone(),
            })
            .collect();
        for chunk in entries.chunks(256) {
            self.store
                .append(id.clone(), None, chunk.to_vec())
                .await
                .map_err(|e| e.to_string())?;
        }
        let mut probe = replica.clone();
        let epoch = probe.take_over(&self.me);
        let base = probe.epochs[&epoch];
        let mut delta = RunReplica::new(run);
        delta.epochs.insert(epoch.clone(), base);
        self.keep(&mut replica, delta).await?;
        lock(&self.owned).insert(run.to_string(), Owned::new(epoch.clone(), base));
        Ok(epoch)
    }

    /// What the replica of `run` kept here says: tasks known, results held (for the log).
    async fn summary(&self, run: &str) -> Option<(usize, usize)> {
        let slot = lock(&self.held).get(run).cloned()?;
        let replica = slot.lock().await;
        Some((replica.graph.len(), replica.results.keys().count()))
    }
}

impl Owned {
    fn new(epoch: Epoch, base: u64) -> Self {
        Self {
            epoch,
            base,
            hlc: Hlc::default(),
            dots: 0,
            fenced: None,
            synced: HashSet::new(),
            keys: HashMap::new(),
        }
    }

    /// The delta of `entries` appended at `first..`: the journal entries, and what they say
    /// of the task graph, the tasks' statuses and their results.
    fn delta(&mut self, run: &str, me: &str, first: u64, entries: &[NewEntry]) -> RunReplica {
        let mut d = RunReplica::new(run);
        let id = RunId::new(run);
        for (i, e) in entries.iter().enumerate() {
            let seq = first + i as u64;
            let entry = Entry {
                at_ms: e.at.as_millis(),
                kind: e.kind.clone(),
                payload: e.payload.clone(),
            };
            d.journal.insert(seq, (self.epoch.clone(), entry));
            let stored = JournalEntry {
                seq,
                at: e.at,
                kind: e.kind.clone(),
                payload: e.payload.clone(),
            };
            let Ok(event) = JournalEvent::decode(&id, &stored) else {
                continue;
            };
            let stamp = Stamp {
                epoch: self.epoch.clone(),
                hlc: self.hlc.tick(e.at.as_millis()),
            };
            let mut status = |task: String, value: &str| {
                d.status.insert(
                    task,
                    Lww {
                        stamp: stamp.clone(),
                        value: value.into(),
                    },
                );
            };
            match event {
                JournalEvent::AttemptStarted {
                    task,
                    attempt,
                    item,
                    idempotency_key,
                } => {
                    let name = match item {
                        Some(i) => format!("{task}/{i}"),
                        None => task.to_string(),
                    };
                    d.graph.insert(name.clone());
                    status(name, "running");
                    self.keys
                        .insert((task.to_string(), attempt), idempotency_key);
                }
                JournalEvent::TaskCompleted {
                    task,
                    attempt,
                    output,
                } => {
                    status(task.to_string(), "completed");
                    let key = self
                        .keys
                        .get(&(task.to_string(), attempt))
                        .cloned()
                        .unwrap_or_else(|| format!("{run}/{task}/{attempt}"));
                    self.dots += 1;
                    let dot = Dot {
                        node: me.to_string(),
                        n: (self.epoch.n << 40) + self.dots,
                    };
                    d.results.add(key, dot, output.to_string());
                }
                JournalEvent::TaskFailed { task, .. } => status(task.to_string(), "failed"),
                _ => {}
            }
        }
        d.epochs.insert(self.epoch.clone(), self.base);
        d
    }
}

fn meta_of(record: &RunRecord) -> RunMeta {
    RunMeta {
        workflow: record.workflow.clone(),
        definition: record.definition.clone(),
        definition_version: record.definition_version.clone(),
        input: record.input.to_string(),
        options: record.options.to_string(),
        tenant: record.tenant.clone(),
        created_ms: record.created_at.as_millis(),
    }
}

fn new_run(run: &str, meta: &RunMeta) -> Result<NewRun, String> {
    let json = |text: &str, what: &str| {
        serde_json::from_str(text).map_err(|e| format!("the replica of {run}: its {what}: {e}"))
    };
    let mut new = NewRun::new(
        run,
        meta.workflow.clone(),
        Timestamp::from_millis(meta.created_ms),
    )
    .definition(meta.definition.clone(), meta.definition_version.clone())
    .input(json(&meta.input, "input")?)
    .options(json(&meta.options, "options")?);
    new.tenant = meta.tenant.clone();
    Ok(new)
}
