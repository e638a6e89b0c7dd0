//! The run service of `troupe node`: runs submitted through the cluster (`troupe run
//! --cluster`) are durable runs in this node's own store, driven by this node whatever the
//! submitter does. A node restarted after a crash resumes the runs of its store that nobody
//! drives (their driver's lease expired or its process is gone), through the same durable
//! resume as `troupe resume`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::watch;
use troupe::cluster::packing::PoolNeed;
use troupe::cluster::replica::{Epoch, RunReplica};
use troupe::cluster::runs::{Replication, RunFuture, RunInfo, RunService};
use troupe::runtime::store::{RunFilter, RunStatus, Store, Timestamp};
use troupe::runtime::workflow::durable::{Definition, Durability, DurableError};
use troupe::workflow::plan::plan;
use troupe::{parse_workflow, Outcome, RunId, Runtime, WorkflowHandle};

/// Runs hosted by one node: its store, and the runs it drives in this process.
pub struct Hosted {
    rt: Runtime,
    store: Arc<dyn Store>,
    durability: Durability,
    node: String,
    /// The runs driven here, by id: `None` while running, then how they ended.
    driving: Mutex<HashMap<String, watch::Receiver<Option<RunInfo>>>>,
    /// The cluster whose nodes' resources a submitted run's pools are packed onto.
    cluster: std::sync::OnceLock<troupe::cluster::node::ClusterNode>,
    /// With a store per node: the runs' replicas (`None` with a shared store).
    replicas: Option<Arc<crate::replicas::Replicas>>,
}

impl Hosted {
    /// A service over `durability.store` on `rt`, answering as `node`.
    pub fn new(
        rt: Runtime,
        durability: Durability,
        node: impl Into<String>,
        replicas: Option<Arc<crate::replicas::Replicas>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            rt,
            store: durability.store.clone(),
            durability,
            node: node.into(),
            driving: Mutex::new(HashMap::new()),
            cluster: std::sync::OnceLock::new(),
            replicas,
        })
    }

    /// Whether this node may drive `run` (no other node's higher epoch owns it).
    fn may_drive(&self, run: &str) -> bool {
        self.replicas.as_ref().is_none_or(|r| r.may_drive(run))
    }

    fn info(&self, run: &str, status: &str, driving: bool, report: Option<Value>) -> RunInfo {
        RunInfo {
            run: run.to_string(),
            status: status.to_string(),
            driving,
            node: self.node.clone(),
            report,
        }
    }

    /// Follows `handle` to its end, so that status requests can be answered (and waited on).
    fn follow(self: &Arc<Self>, handle: WorkflowHandle) -> RunInfo {
        let run = handle.run_id().to_string();
        let (tx, rx) = watch::channel(None);
        self.driving
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(run.clone(), rx);
        let me = self.clone();
        let id = run.clone();
        tokio::spawn(async move {
            let ended = match handle.wait().await {
                Ok(report) => {
                    let status = match report.outcome {
                        Outcome::Succeeded => RunStatus::Completed,
                        Outcome::Failed { .. } => RunStatus::Failed,
                        Outcome::Cancelled => RunStatus::Cancelled,
                    };
                    let json = serde_json::from_str(&crate::summary::json(&report)).ok();
                    me.info(&id, status.as_str(), false, json)
                }
                Err(e) => {
                    eprintln!("troupe node {}: run {id}: {e}", me.node);
                    let status = me.stored_status(&id).await.unwrap_or(RunStatus::Failed);
                    me.info(&id, status.as_str(), false, None)
                }
            };
            let _ = tx.send(Some(ended));
        });
        self.info(&run, RunStatus::Running.as_str(), true, None)
    }

    async fn stored_status(&self, run: &str) -> Option<RunStatus> {
        let record = self.store.get_run(RunId::new(run)).await.ok()??;
        Some(crate::runs::shown_status(self.store.as_ref(), &record, Timestamp::now()).await)
    }

    /// Whether this node drives (or is about to resume) `run`; claims it if not.
    fn claim(&self, run: &str) -> bool {
        let mut driving = self.driving.lock().unwrap_or_else(|p| p.into_inner());
        if driving.contains_key(run) {
            return false;
        }
        // A placeholder until the resume drives it (or gives up and removes it).
        let (_tx, rx) = watch::channel(None);
        driving.insert(run.to_string(), rx);
        true
    }

    fn unclaim(&self, run: &str) {
        self.driving
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(run);
    }

    /// The runs of the store that nobody drives (interrupted, or pending), except those this
    /// node drives already.
    async fn undriven(&self) -> Result<Vec<RunId>, String> {
        let list = crate::runs::all_runs(self.store.as_ref(), RunFilter::default()).await?;
        let now = Timestamp::now();
        let mut out = Vec::new();
        for record in list {
            if record.status.is_finished()
                || crate::replicas::Replicas::is_replica_record(&record)
                || !self.may_drive(record.id.as_str())
            {
                continue;
            }
            let shown = crate::runs::shown_status(self.store.as_ref(), &record, now).await;
            if matches!(shown, RunStatus::Interrupted | RunStatus::Pending) {
                out.push(record.id);
            }
        }
        Ok(out)
    }

    /// Resumes `id` here (in a task of its own) unless this node drives it already: a run
    /// whose dead driver's lease has not expired yet is resumed when it does; a run another
    /// live driver holds is left to it.
    pub fn resume(self: &Arc<Self>, id: RunId) {
        if !self.claim(id.as_str()) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            match me
                .rt
                .resume_durable(id.clone(), me.durability.clone())
                .await
            {
                Ok(handle) => {
                    eprintln!("troupe node {}: resuming run {id}", me.node);
                    me.follow(handle);
                }
                Err(e) => {
                    me.unclaim(id.as_str());
                    if !matches!(e, DurableError::Finished { .. }) {
                        eprintln!("troupe node {}: not resuming run {id}: {e}", me.node);
                    }
                }
            }
        });
    }

    /// Resumes every run of the store that nobody drives. Returns how many were found.
    pub async fn resume_interrupted(self: &Arc<Self>) -> Result<usize, String> {
        let ids = self.undriven().await?;
        let found = ids.len();
        for id in ids {
            self.resume(id);
        }
        Ok(found)
    }

    /// Run failover (a store shared by the nodes): whenever members are declared down, each
    /// run that nobody drives any more is taken over by the first live node of its order, the
    /// others a turn later each if it is still undriven then (the lease decides between
    /// nodes that try together).
    pub async fn fail_over(self: Arc<Self>, node: troupe::cluster::node::ClusterNode) {
        let mut known = node.members().into_iter().map(|m| m.name).collect();
        loop {
            let lost = node.members_lost(&mut known).await;
            eprintln!(
                "troupe node {}: {} down; taking over their runs in turn",
                self.node,
                lost.iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if let Some(replicas) = &self.replicas {
                // A store per node: the runs kept here as replicas are taken over from them.
                replicas.on_members_lost(self.clone());
                continue;
            }
            let me = self.clone();
            let node = node.clone();
            tokio::spawn(async move {
                // The dead driver's lease first has to expire (a live one is renewed).
                tokio::time::sleep(me.durability.lease_ttl).await;
                let Ok(ids) = me.undriven().await else { return };
                for id in ids {
                    let Some(after) = node.run_takeover_after(id.as_str()) else {
                        continue;
                    };
                    let me = me.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(after).await;
                        if me.undriven().await.is_ok_and(|ids| ids.contains(&id)) {
                            me.resume(id);
                        }
                    });
                }
            });
        }
    }

    async fn submit_run(self: Arc<Self>, text: String, source: String) -> Result<RunInfo, String> {
        let spec = parse_workflow(&text, &source).map_err(|e| e.to_string())?;
        let plan = plan(spec, self.rt.kinds()).map_err(|errors| {
            let lines: Vec<String> = errors.0.iter().map(|e| format!("  - {e}")).collect();
            format!("{source} is not a valid workflow:\n{}", lines.join("\n"))
        })?;
        self.check_placement(&plan, &source)?;
        let definition = Definition { text, source };
        let handle = self
            .rt
            .submit_durable(Arc::new(plan), definition, self.durability.clone())
            .await
            .map_err(|e| e.to_string())?;
        Ok(self.follow(handle))
    }

    /// Refuses a run whose pools' `resources` cannot be packed onto the cluster's live
    /// nodes, naming the pool.
    fn check_placement(
        &self,
        plan: &troupe::workflow::plan::Plan,
        source: &str,
    ) -> Result<(), String> {
        let Some(cluster) = self.cluster.get() else {
            return Ok(());
        };
        let pools: Vec<PoolNeed> = plan
            .pools
            .iter()
            .filter_map(|(name, pool)| {
                Some(PoolNeed {
                    pool: name.clone(),
                    need: pool.resources?.into(),
                    count: pool.count,
                })
            })
            .collect();
        cluster
            .place_pools(&pools)
            .map(|_| ())
            .map_err(|e| format!("{source} cannot be placed: {e}"))
    }

    async fn run_status(self: Arc<Self>, run: String, wait: bool) -> Option<RunInfo> {
        let followed = self
            .driving
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&run)
            .cloned();
        match followed {
            Some(mut rx) => {
                if wait {
                    // The sender is gone only if the follower task panicked: say what the
                    // store says then.
                    if let Ok(ended) = rx.wait_for(Option::is_some).await {
                        return ended.clone();
                    }
                }
                let current = rx.borrow().clone();
                current.or_else(|| Some(self.info(&run, RunStatus::Running.as_str(), true, None)))
            }
            None => {
                if !self.may_drive(&run) {
                    // Another node's run now (a higher epoch owns it): it answers.
                    return None;
                }
                let status = self.stored_status(&run).await?;
                Some(self.info(&run, status.as_str(), false, None))
            }
        }
    }
}

/// [`Hosted`] as the node's [`RunService`].
pub struct Service(pub Arc<Hosted>);

impl RunService for Service {
    fn submit(&self, definition: String, source: String) -> RunFuture<Result<RunInfo, String>> {
        Box::pin(self.0.clone().submit_run(definition, source))
    }

    fn status(&self, run: String, wait: bool) -> RunFuture<Result<Option<RunInfo>, String>> {
        let me = self.0.clone();
        Box::pin(async move { Ok(me.run_status(run, wait).await) })
    }

    fn replicate(&self, epoch: Epoch, delta: RunReplica) -> RunFuture<Result<u64, Replication>> {
        let replicas = self.0.replicas.clone();
        Box::pin(async move {
            match replicas {
                Some(r) => r.receive(epoch, delta).await,
                None => Err(Replication::Failed(
                    "this node's runs are in a shared store: it keeps no replicas".into(),
                )),
            }
        })
    }
}

/// The store of node `name` when none is given: `nodes/NAME.db` beside the default store.
pub fn default_node_store(name: &str) -> String {
    let base = crate::runs::default_path();
    let dir = base
        .parent()
        .map(|d| d.join("nodes"))
        .unwrap_or_else(|| "nodes".into());
    dir.join(format!("{name}.db")).display().to_string()
}

/// Opens node `node`'s store (`store`, else [`default_node_store`]), serves run requests
/// over it, and resumes the runs nobody drives. Returns where the store is, and how the runs
/// are journaled (what `--api` serves them with).
pub async fn start(
    node: &troupe::cluster::node::ClusterNode,
    store: Option<String>,
    lease_ttl_ms: u64,
) -> Result<(String, Durability), String> {
    let args = crate::runs::StoreArgs {
        store: Some(store.unwrap_or_else(|| default_node_store(node.name().as_str()))),
        lease_ttl_ms,
    };
    let store = args.open().await?;
    let location = store.location().to_string();
    let rt = node.runtime().clone();
    rt.set_dead_letter_store(store.clone());
    // The agents' checkpoints live in the same store: a node started again on it
    // re-activates its agents.
    let agents = node
        .persist_checkpoints(store.clone())
        .await
        .map_err(|e| format!("agent checkpoints in {location}: {e}"))?;
    if agents > 0 {
        eprintln!(
            "troupe node {}: {agents} agent checkpoint(s) read back from {location}",
            node.name()
        );
    }
    // A store per node: run state is replicated to the runs' backups. A shared store
    // (PostgreSQL) is the replica itself: the nodes fail over through its leases.
    // TROUPE_RUN_REPLICATION=off: no replication (the benchmark's baseline).
    let off = std::env::var("TROUPE_RUN_REPLICATION").is_ok_and(|v| v == "off");
    let shared = location.starts_with("postgres") || off;
    let (replicas, store) = if shared {
        (None, store)
    } else {
        let replicas = crate::replicas::Replicas::load(node.clone(), store.clone()).await?;
        tokio::spawn(replicas.clone().announce_epochs());
        let wrapped: Arc<dyn Store> = Arc::new(crate::replicating::Replicating {
            inner: store,
            replicas: replicas.clone(),
        });
        (Some(replicas), wrapped)
    };
    let durability = args.durability(store);
    let hosted = Hosted::new(rt, durability.clone(), node.name().as_str(), replicas);
    let _ = hosted.cluster.set(node.clone());
    node.serve_runs(Arc::new(Service(hosted.clone())));
    let found = hosted.resume_interrupted().await?;
    tokio::spawn(hosted.clone().fail_over(node.clone()));
    if found > 0 {
        eprintln!(
            "troupe node {}: resuming {found} interrupted run(s) from {location}",
            node.name()
        );
    }
    Ok((location, durability))
}
