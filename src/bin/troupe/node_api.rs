//! `troupe node … --api ADDR`: the HTTP API of `troupe serve` on a cluster node, for the whole
//! cluster. Executions submitted to it are durable runs in this node's store, driven by its
//! runtime, whose tasks the cluster runs (placement and stealing, as for `troupe run
//! --cluster`); the list shows the runs of this node's store (all of the cluster's with one
//! PostgreSQL store shared by the nodes). Beside it, the cluster endpoints
//! ([`troupe_service::cluster`]): members with their state, where each agent lives, calling
//! and migrating agents, and a stream of cluster events this module derives from the node's
//! view (member changes, placements, migrations, failovers, steals). The UI at `/ui` too.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use troupe::cluster::node::{ClusterError, ClusterNode};
use troupe::cluster::registry::NodeName;
use troupe::runtime::workflow::durable::Durability;
use troupe_service::audit::AuditLog;
use troupe_service::cluster::{ClusterApi, ClusterEvents, ClusterFuture, ClusterOpError};
use troupe_service::{Replayer, Service, ServiceConfig};

/// The `--api` flags of `troupe node`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ApiArgs {
    /// Serve the HTTP API (and the UI at /ui) for the whole cluster on this address.
    #[arg(long, value_name = "ADDR")]
    pub api: Option<SocketAddr>,
    /// With --api: a file holding the HS256 secret tokens are signed with.
    #[arg(
        long,
        env = "TROUPE_JWT_SECRET_FILE",
        value_name = "FILE",
        requires = "api"
    )]
    pub jwt_secret_file: Option<PathBuf>,
    /// With --api: a file holding the Ed25519 public key (32 raw bytes) for EdDSA tokens.
    #[arg(
        long,
        env = "TROUPE_JWT_ED25519_PUBLIC_KEY",
        value_name = "FILE",
        requires = "api"
    )]
    pub jwt_ed25519_public_key: Option<PathBuf>,
    /// With --api and no auth configured: also write the generated admin token to this file.
    #[arg(long, value_name = "FILE", requires = "api")]
    pub token_file: Option<PathBuf>,
}

/// How often the node's view is compared with the last one when nothing woke the watcher (a
/// member turning suspect changes no registry entry).
const LOOK_AGAIN: Duration = Duration::from_millis(250);

/// A member's last known state, as the cluster endpoints show it.
#[derive(Clone)]
struct Seen {
    member: Value,
    state: &'static str,
}

/// The node as the cluster endpoints see it.
pub struct NodeView {
    node: ClusterNode,
    task_slots: usize,
    events: ClusterEvents,
    /// Every member seen since start, by name (those gone marked `down`).
    members: Mutex<BTreeMap<String, Seen>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl NodeView {
    /// A view of `node` (whose task slots are `task_slots`); [`NodeView::watch`] keeps its
    /// events.
    pub fn new(node: ClusterNode, task_slots: usize) -> Arc<Self> {
        Arc::new(Self {
            node,
            task_slots,
            events: ClusterEvents::default(),
            members: Mutex::new(BTreeMap::new()),
        })
    }

    /// The live members now, each with its state (`alive`, or `suspect` when this node has
    /// no transport session with it).
    fn live(&self) -> BTreeMap<String, Seen> {
        let linked = self.node.linked();
        let me = self.node.name().clone();
        self.node
            .members()
            .into_iter()
            .map(|m| {
                let state = if m.name == me || linked.contains(&m.name) {
                    "alive"
                } else {
                    "suspect"
                };
                let mut member = json!({
                    "name": m.name.as_str(),
                    "state": state,
                    "self": m.name == me,
                    "transport": m.transport.to_string(),
                    "gossip": m.gossip.to_string(),
                    "incarnation": m.incarnation,
                    "resources": {"capacity": m.meta.capacity, "kinds": m.meta.kinds},
                });
                if m.name == me {
                    member["resources"]["task_slots"] = json!(self.task_slots);
                    member["tasks_queued"] = json!(self.node.tasks_queued());
                    member["tasks_executed"] = json!(self.node.tasks_executed());
                    member["tasks_stolen"] = json!(self.node.tasks_stolen());
                    member["migrations"] = json!(self.node.migrations());
                    member["failovers"] = json!(self.node.failovers());
                }
                (m.name.as_str().to_string(), Seen { member, state })
            })
            .collect()
    }

    /// Where each agent is: `id -> (node, state)`.
    fn placements(&self) -> BTreeMap<String, (String, String)> {
        self.node
            .registry()
            .iter()
            .map(|(id, slot)| {
                let state = serde_json::to_value(slot.state)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default();
                (
                    id.as_str().to_string(),
                    (slot.node.as_str().to_string(), state),
                )
            })
            .collect()
    }

    /// Updates the member list from the live view and records what changed.
    fn note_members(&self) {
        let live = self.live();
        let mut known = lock(&self.members);
        for (name, seen) in &live {
            let before = known.get(name).map(|s| s.state);
            if before != Some(seen.state) {
                let kind = match (before, seen.state) {
                    (None | Some("down"), "alive") => "member.up",
                    (_, "suspect") => "member.suspect",
                    _ => "member.alive",
                };
                self.events.push(kind, json!({"node": name}));
            }
            known.insert(name.clone(), seen.clone());
        }
        for (name, seen) in known.iter_mut() {
            if !live.contains_key(name) && seen.state != "down" {
                seen.state = "down";
                seen.member["state"] = json!("down");
                self.events.push("member.down", json!({"node": name}));
            }
        }
    }

    /// Follows the node's view until the process ends, recording its changes as events.
    pub async fn watch(self: Arc<Self>) {
        let mut agents = BTreeMap::new();
        let mut stolen = self.node.tasks_stolen();
        loop {
            self.note_members();
            let now = self.placements();
            let down: Vec<String> = lock(&self.members)
                .iter()
                .filter(|(_, s)| s.state == "down")
                .map(|(n, _)| n.clone())
                .collect();
            for (id, (node, state)) in &now {
                match agents.get(id) {
                    None if state != "removed" => {
                        self.events
                            .push("agent.placed", json!({"agent": id, "node": node}));
                    }
                    Some((before, _)) if before != node && state != "removed" => {
                        let kind = if down.contains(before) {
                            "agent.failed_over"
                        } else {
                            "agent.migrated"
                        };
                        self.events
                            .push(kind, json!({"agent": id, "from": before, "to": node}));
                    }
                    Some((_, before)) if before != "removed" && state == "removed" => {
                        self.events
                            .push("agent.removed", json!({"agent": id, "node": node}));
                    }
                    _ => {}
                }
            }
            agents = now;
            let stolen_now = self.node.tasks_stolen();
            if stolen_now > stolen {
                self.events.push(
                    "tasks.stolen",
                    json!({"node": self.node.name().as_str(), "count": stolen_now - stolen}),
                );
                stolen = stolen_now;
            }
            self.node.wait_changed(LOOK_AGAIN).await;
        }
    }
}

fn op_error(e: ClusterError) -> ClusterOpError {
    use troupe::runtime::CallError;
    match e {
        ClusterError::Call(CallError::NoSuchAgent { .. }) => {
            ClusterOpError::NotFound(e.to_string())
        }
        other => ClusterOpError::Failed(other.to_string()),
    }
}

impl ClusterApi for NodeView {
    fn members(&self) -> Vec<Value> {
        // The live view now (fresh counters), and the members seen before that are gone.
        let mut all: BTreeMap<String, Value> = lock(&self.members)
            .iter()
            .map(|(name, s)| {
                let mut m = s.member.clone();
                m["state"] = json!("down");
                (name.clone(), m)
            })
            .collect();
        for (name, seen) in self.live() {
            all.insert(name, seen.member);
        }
        all.into_values().collect()
    }

    fn agents(&self) -> Vec<Value> {
        self.placements()
            .into_iter()
            .map(|(id, (node, state))| json!({"id": id, "node": node, "state": state}))
            .collect()
    }

    fn call(
        &self,
        id: String,
        kind: Option<String>,
        request: Value,
    ) -> ClusterFuture<Result<Value, ClusterOpError>> {
        let node = self.node.clone();
        Box::pin(async move {
            match kind {
                Some(kind) => {
                    if !node.runtime().kinds().contains(&kind) {
                        return Err(ClusterOpError::BadRequest(format!(
                            "unknown agent kind {kind:?} (see `troupe kinds`)"
                        )));
                    }
                    node.call_kind(&kind, &id, request).await.map_err(op_error)
                }
                None if node.locate(&id).is_none() => Err(ClusterOpError::NotFound(format!(
                    "no agent {id:?} in the cluster's registry (give \"kind\" to activate one)"
                ))),
                None => node.call(&id, request).await.map_err(op_error),
            }
        })
    }

    fn migrate(&self, id: String, to: String) -> ClusterFuture<Result<Value, ClusterOpError>> {
        let node = self.node.clone();
        Box::pin(async move {
            let Some(from) = node.locate(&id) else {
                return Err(ClusterOpError::NotFound(format!(
                    "no agent {id:?} in the cluster's registry"
                )));
            };
            let target = NodeName::new(to.clone());
            if !node.members().iter().any(|m| m.name == target) {
                return Err(ClusterOpError::NotFound(format!(
                    "no live member {to:?} to move agent {id:?} to"
                )));
            }
            node.migrate(&id, &target).await.map_err(op_error)?;
            Ok(json!({"agent": id, "from": from.node.as_str(), "node": to, "migrated": true}))
        })
    }

    fn events(&self) -> &ClusterEvents {
        &self.events
    }
}

/// A started API: where it listens, and the admin token when none was configured.
pub struct Started {
    /// The bound address.
    pub addr: SocketAddr,
    /// The generated admin token (no auth configured).
    pub token: Option<String>,
}

/// Starts the API of `node` on `args.api` (if given), its runs journaled as `durability` says.
/// Served until the process ends.
pub async fn start(
    args: &ApiArgs,
    node: &ClusterNode,
    task_slots: usize,
    durability: Durability,
    metrics: axum::Router,
) -> Result<Option<Started>, String> {
    let Some(listen) = args.api else {
        return Ok(None);
    };
    let (auth, token) = crate::serve::auth_from(
        args.jwt_secret_file.as_ref(),
        args.jwt_ed25519_public_key.as_ref(),
        listen,
    )?;
    let rt = node.runtime().clone();
    let store = durability.store.clone();
    let replay: Replayer = {
        let (rt, store) = (rt.clone(), store.clone());
        Arc::new(move |letter| {
            let (rt, store) = (rt.clone(), store.clone());
            Box::pin(async move { crate::dlq::replay_letter(&rt, store.as_ref(), &letter).await })
        })
    };
    let svc = Service::new(ServiceConfig {
        runtime: rt,
        durability,
        auth,
        audit: AuditLog::memory(),
        replay: Some(replay),
    });
    let view = NodeView::new(node.clone(), task_slots);
    view.note_members();
    tokio::spawn(view.clone().watch());
    svc.set_cluster(view);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("--api: cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    if let (Some(token), Some(path)) = (&token, &args.token_file) {
        std::fs::write(path, token).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    tokio::spawn(async move {
        let served = svc
            .serve(listener, metrics, std::future::pending::<()>())
            .await;
        if let Err(e) = served {
            eprintln!("error: the API on {addr} stopped: {e}");
        }
    });
    Ok(Some(Started { addr, token }))
}
