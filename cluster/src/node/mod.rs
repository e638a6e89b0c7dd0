//! A cluster node: a [`Runtime`] linked to its peers.
//!
//! [`ClusterNode`] is the thin shell around the IO-free parts: it runs membership (SWIM over
//! UDP), the transport (ractor_cluster sessions and one gateway), and keeps the node's copy of
//! the CRDT registry. Agents are called by id wherever they live ([`ClusterNode::call`]);
//! they move with [`ClusterNode::migrate`], rest with [`ClusterNode::passivate`], and come
//! back on demand. When a member is declared down, the agents it ran are re-activated from
//! their latest checkpoint on the node that held it.

mod config;
mod faults;
mod gate;
mod gossip;
mod inbound;
mod moves;
mod route;
mod tasks;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use dashmap::DashMap;
use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use tokio::sync::oneshot;
use troupe_runtime::{AgentId, CallError, DynAgentRef, Runtime};

pub use config::ClusterConfig;

use crate::membership::{MemberEvent, MembershipHandle, NodeIdentity, NodeMeta};
use crate::placement::Candidate;
use crate::registry::{Clock, ClockId, NodeName, Registry, Slot};
use crate::transport::{LinkEvent, Transport, TransportError};
use crate::wire::{AgentRecord, Msg, WireError};
use gate::Gate;

/// How long a node must stay down before its agents are re-activated elsewhere.
const FAILOVER_DELAY: Duration = Duration::from_millis(300);

/// How much later each next holder of a checkpoint re-activates an agent whose node went
/// down, if nobody has by then (see [`Inner::failover_turn`]).
pub(crate) const FAILOVER_STAGGER: Duration = Duration::from_millis(250);

/// Why a cluster operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The agent call failed (the same errors as a local call).
    #[error(transparent)]
    Call(#[from] CallError),
    /// The node could not start.
    #[error("cannot start node: {0}")]
    Start(String),
    /// The transport failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The TLS files of [`ClusterConfig::tls`] could not be used.
    #[error("cannot start node: {0}")]
    Tls(#[from] crate::transport::TlsError),
    /// The agent could not be started.
    #[error("cannot activate agent {agent}: {reason}")]
    Activation {
        /// The agent.
        agent: AgentId,
        /// Why.
        reason: String,
    },
    /// No live node may host the kind.
    #[error("no live node hosts agent kind {kind:?}")]
    NoPlacement {
        /// The kind.
        kind: String,
    },
    /// The request could not be served (a node unreachable or down, too many forwards, the
    /// node shutting down).
    #[error("agent {agent}: {reason}")]
    Unavailable {
        /// The agent.
        agent: AgentId,
        /// Why.
        reason: String,
    },
    /// The agent is not on this node (for operations that need it here).
    #[error("agent {0} does not run on this node")]
    NotLocal(AgentId),
}

impl ClusterError {
    fn from_wire(agent: &AgentId, e: WireError) -> Self {
        if let Some(call) = e.to_call(agent) {
            return Self::Call(call);
        }
        match e {
            WireError::Activation { reason } => Self::Activation {
                agent: agent.clone(),
                reason,
            },
            other => Self::Unavailable {
                agent: agent.clone(),
                reason: other.to_string(),
            },
        }
    }

    /// Whether a retry of the same operation might succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Call(c) => c.is_retryable(),
            Self::Unavailable { .. } | Self::Transport(_) => true,
            _ => false,
        }
    }
}

/// An agent this node runs.
pub(crate) struct LocalAgent {
    pub(crate) agent: DynAgentRef,
    pub(crate) record: Mutex<AgentRecord>,
    pub(crate) gate: Gate,
    /// Handled a request since its last checkpoint.
    pub(crate) dirty: AtomicBool,
    pub(crate) last_used: Mutex<Instant>,
    /// The nodes holding its checkpoint.
    pub(crate) backups: Mutex<Vec<NodeName>>,
}

struct Pending {
    node: NodeName,
    tx: oneshot::Sender<Result<Value, WireError>>,
}

pub(crate) struct Inner {
    pub(crate) name: NodeName,
    pub(crate) incarnation: u64,
    pub(crate) config: ClusterConfig,
    pub(crate) rt: Runtime,
    pub(crate) transport: Transport,
    pub(crate) membership: MembershipHandle,
    pub(crate) clock: Clock,
    pub(crate) registry: Mutex<Registry>,
    pub(crate) local: DashMap<AgentId, Arc<LocalAgent>>,
    /// Checkpoints this node holds: as the backup of another node's agent, or of its own
    /// passivated agents.
    pub(crate) replicas: DashMap<AgentId, AgentRecord>,
    pending: DashMap<u64, Pending>,
    next_id: AtomicU64,
    pub(crate) activating: DashMap<AgentId, Arc<tokio::sync::Mutex<()>>>,
    /// Live members, this node included.
    pub(crate) members: RwLock<BTreeMap<NodeName, NodeIdentity>>,
    pub(crate) stopping: AtomicBool,
    /// When members were declared down.
    pub(crate) down_at: DashMap<NodeName, Instant>,
    /// Peers a dial loop is running for, with the incarnation it dials.
    dialing: DashMap<NodeName, u64>,
    pub(crate) scheduler: tasks::Scheduler,
    /// One-way messages waiting until their agent can be reached, in arrival order.
    pub(crate) held: DashMap<AgentId, Vec<(Value, u8)>>,
    blocked: faults::Blocklist,
}

/// A running cluster node. Cheap to clone; [`ClusterNode::shutdown`] stops it.
#[derive(Clone)]
pub struct ClusterNode {
    pub(crate) inner: Arc<Inner>,
}

/// Where an agent is, as this node's registry says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The node that runs or holds it.
    pub node: NodeName,
    /// The registry entry.
    pub slot: Slot,
}

impl ClusterNode {
    /// Starts a node on `runtime`: binds the transport and gossip sockets and joins the
    /// cluster through the configured seeds (a node without seeds starts a new cluster).
    pub async fn start(
        config: ClusterConfig,
        runtime: Runtime,
    ) -> Result<ClusterNode, ClusterError> {
        config.validate().map_err(ClusterError::Start)?;
        // A port of 0 means "any free port": pick one, and pick again if another process
        // takes it before the node server binds it.
        let auto_listen = config.listen.port() == 0;
        let wanted = (config.listen, config.gossip);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut config = config.clone();
            (config.listen, config.gossip) = wanted;
            resolve_ports(&mut config).map_err(ClusterError::Start)?;
            let socket = tokio::net::UdpSocket::bind(config.gossip)
                .await
                .map_err(|e| {
                    ClusterError::Start(format!("gossip socket {}: {e}", config.gossip))
                })?;
            config.gossip = socket
                .local_addr()
                .map_err(|e| ClusterError::Start(format!("gossip socket: {e}")))?;
            match Self::start_on(config, runtime.clone(), socket, None).await {
                Err(ClusterError::Transport(TransportError::Start { reason, .. }))
                    if auto_listen && attempt < 5 && reason.contains("in use") =>
                {
                    continue
                }
                other => return other,
            }
        }
    }

    /// Starts a node on sockets supplied by the caller: membership datagrams through
    /// `datagrams`, and transport streams through `streams` (OS sockets when `None`). This is
    /// how the same node runs inside a simulated network (turmoil); `config.listen` and
    /// `config.gossip` must then be the addresses peers reach it at. With `streams`,
    /// `config.tls` is ignored (the simulated streams stay plain); without, its files are
    /// loaded and checked here ([`ClusterError::Tls`]).
    pub async fn start_on<S: crate::membership::DatagramSocket>(
        config: ClusterConfig,
        runtime: Runtime,
        datagrams: S,
        streams: Option<Arc<dyn crate::transport::StreamNet>>,
    ) -> Result<ClusterNode, ClusterError> {
        config.validate().map_err(ClusterError::Start)?;
        let name = NodeName::new(config.name.clone());
        let incarnation = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_millis() as u64);
        // TLS on OS sockets only: a simulated network carries plain streams.
        let tls = match (&config.tls, &streams) {
            (Some(tls), None) => {
                let setup = tls.load()?;
                if !config.listen.ip().is_unspecified() {
                    setup.check_address(config.listen.ip())?;
                }
                Some(setup)
            }
            _ => None,
        };
        let sink = Arc::new(inbound::Sink::default());
        let (transport, link_events) = Transport::start_on(
            name.clone(),
            config.listen,
            config.cookie.clone(),
            sink.clone(),
            streams,
            tls,
        )
        .await?;
        let identity = NodeIdentity {
            name: name.clone(),
            gossip: config.gossip,
            transport: config.listen,
            incarnation,
            meta: NodeMeta {
                capacity: config.capacity,
                kinds: config.kinds.clone(),
            },
        };
        let blocked = faults::Blocklist::default();
        let socket = faults::FilteredSocket {
            socket: datagrams,
            blocked: blocked.clone(),
        };
        let (membership, member_events) = match MembershipHandle::start(
            identity.clone(),
            config.membership.clone(),
            config.seeds.clone(),
            socket,
        )
        .await
        {
            Ok(m) => m,
            Err(e) => {
                transport.stop().await;
                return Err(ClusterError::Start(format!(
                    "gossip socket {}: {e}",
                    config.gossip
                )));
            }
        };
        let mut members = BTreeMap::new();
        members.insert(name.clone(), identity);
        let inner = Arc::new(Inner {
            clock: Clock::new(clock_id(&name, incarnation)),
            name,
            incarnation,
            config,
            rt: runtime,
            transport,
            membership,
            registry: Mutex::new(Registry::new()),
            local: DashMap::new(),
            replicas: DashMap::new(),
            pending: DashMap::new(),
            next_id: AtomicU64::new(1),
            activating: DashMap::new(),
            members: RwLock::new(members),
            stopping: AtomicBool::new(false),
            down_at: DashMap::new(),
            dialing: DashMap::new(),
            scheduler: tasks::Scheduler::default(),
            held: DashMap::new(),
            blocked,
        });
        sink.attach(Arc::downgrade(&inner));
        tokio::spawn(event_loop(
            Arc::downgrade(&inner),
            member_events,
            link_events,
        ));
        tokio::spawn(gossip::anti_entropy(Arc::downgrade(&inner)));
        tokio::spawn(moves::checkpoints(Arc::downgrade(&inner)));
        tasks::start_workers(&inner);
        inner
            .rt
            .set_dispatcher(Arc::new(tasks::NodeDispatcher(Arc::downgrade(&inner))));
        if inner.config.passivate_after.is_some() {
            tokio::spawn(moves::passivate_idle(Arc::downgrade(&inner)));
        }
        Ok(ClusterNode { inner })
    }

    /// This node's name.
    pub fn name(&self) -> &NodeName {
        &self.inner.name
    }

    /// The transport (TCP) address peers connect to.
    pub fn listen_addr(&self) -> std::net::SocketAddr {
        self.inner.config.listen
    }

    /// The membership (UDP) address: what other nodes pass as a seed.
    pub fn gossip_addr(&self) -> std::net::SocketAddr {
        self.inner.config.gossip
    }

    /// Whether this node holds a checkpoint of `agent` (as its backup, or because it
    /// passivated it).
    pub fn holds_checkpoint(&self, agent: &str) -> Option<u64> {
        self.inner.replicas.get(agent).map(|r| r.version)
    }

    /// The state in the checkpoint of `agent` this node holds, if any.
    pub fn checkpoint_snapshot(&self, agent: &str) -> Option<troupe_runtime::Snapshot> {
        self.inner
            .replicas
            .get(agent)
            .and_then(|r| r.snapshot.clone())
            .map(troupe_runtime::Snapshot::from_bytes)
    }

    /// Workflow tasks this node has run (its own and stolen ones).
    pub fn tasks_executed(&self) -> usize {
        self.inner.scheduler.executed.load(Ordering::Relaxed)
    }

    /// Tasks this node stole from busier nodes.
    pub fn tasks_stolen(&self) -> usize {
        self.inner.scheduler.stolen.load(Ordering::Relaxed)
    }

    /// Tasks this node accepted that `node` is running for it right now (stolen by it).
    pub fn tasks_lent_to(&self, node: &str) -> usize {
        self.inner
            .scheduler
            .lent
            .iter()
            .filter(|e| e.value().0.as_str() == node)
            .count()
    }

    /// Tasks queued here and not yet started.
    pub fn tasks_queued(&self) -> usize {
        self.inner.scheduler.queued()
    }

    /// The runtime the node's agents run on.
    pub fn runtime(&self) -> &Runtime {
        &self.inner.rt
    }

    /// Live members as this node sees them, itself included, sorted by name.
    pub fn members(&self) -> Vec<NodeIdentity> {
        self.inner.members.read().values().cloned().collect()
    }

    /// Members with a transport session up (peers this node can reach now).
    pub fn linked(&self) -> Vec<NodeName> {
        let mut v = self.inner.transport.peers();
        v.sort();
        v
    }

    /// Where the registry says `agent` is.
    pub fn locate(&self, agent: &str) -> Option<Location> {
        let reg = self.inner.registry.lock();
        reg.winner(&AgentId::new(agent)).map(|slot| Location {
            node: slot.node.clone(),
            slot: slot.clone(),
        })
    }

    /// The agents running on this node, sorted.
    pub fn local_agents(&self) -> Vec<AgentId> {
        let mut v: Vec<AgentId> = self.inner.local.iter().map(|e| e.key().clone()).collect();
        v.sort();
        v
    }

    /// A copy of this node's registry (for inspection and convergence checks).
    pub fn registry(&self) -> Registry {
        self.inner.registry.lock().clone()
    }

    /// Starts agent `id` of `kind` on the node placement picks (rendezvous hashing over live
    /// members that host the kind). Returns that node.
    pub async fn spawn(
        &self,
        kind: &str,
        id: &str,
        config: Value,
    ) -> Result<NodeName, ClusterError> {
        let agent = AgentId::new(id);
        let target = self
            .inner
            .place(&agent, Some(kind), None)
            .ok_or_else(|| ClusterError::NoPlacement { kind: kind.into() })?;
        self.spawn_on(&target, kind, id, config, true).await?;
        Ok(target)
    }

    /// Starts agent `id` of `kind` on `node`. A `movable` agent may later be moved by
    /// rebalancing; an immovable one stays until migrated explicitly or its node goes down.
    pub async fn spawn_on(
        &self,
        node: &NodeName,
        kind: &str,
        id: &str,
        config: Value,
        movable: bool,
    ) -> Result<(), ClusterError> {
        let agent = AgentId::new(id);
        let record = AgentRecord {
            agent: agent.clone(),
            kind: kind.into(),
            config,
            snapshot: None,
            version: 0,
            movable,
        };
        let result = if node == &self.inner.name {
            self.inner.activate_local(record, true).await
        } else {
            let id = self.inner.next_id();
            self.inner
                .request(node, id, Msg::Activate { id, spec: record }, None)
                .await
                .map(|_| ())
        };
        result.map_err(|e| ClusterError::from_wire(&agent, e))
    }

    /// Calls agent `id` with a JSON request, wherever it lives. If it is passivated it is
    /// re-activated first.
    pub async fn call(&self, id: &str, request: Value) -> Result<Value, ClusterError> {
        let agent = AgentId::new(id);
        self.inner
            .route(agent.clone(), None, request, 0, None)
            .await
            .map_err(|e| ClusterError::from_wire(&agent, e))
    }

    /// Like [`ClusterNode::call`], but if the agent is not active anywhere it is activated
    /// (with a `null` config) on the node placement picks for `kind`: a virtual agent.
    pub async fn call_kind(
        &self,
        kind: &str,
        id: &str,
        request: Value,
    ) -> Result<Value, ClusterError> {
        let agent = AgentId::new(id);
        self.inner
            .route(agent.clone(), Some(kind.to_string()), request, 0, None)
            .await
            .map_err(|e| ClusterError::from_wire(&agent, e))
    }

    /// Calls agent `id` with a deadline.
    pub async fn call_timeout(
        &self,
        id: &str,
        request: Value,
        timeout: Duration,
    ) -> Result<Value, ClusterError> {
        let agent = AgentId::new(id);
        self.inner
            .route(agent.clone(), None, request, 0, Some(timeout))
            .await
            .map_err(|e| ClusterError::from_wire(&agent, e))
    }

    /// Sends a one-way message to agent `id`, wherever it lives. Messages from one node to
    /// one agent arrive in order; batching makes this the fast path across nodes.
    pub fn tell(&self, id: &str, request: Value) -> Result<(), ClusterError> {
        let agent = AgentId::new(id);
        self.inner
            .tell(agent.clone(), request, 0)
            .map_err(|e| ClusterError::from_wire(&agent, e))
    }

    /// Moves agent `id` with its state to node `to`, while it keeps being called: drain,
    /// snapshot, restore on `to`, registry update, then forward what arrived meanwhile.
    /// Works from any node (the owner is asked to do it).
    pub async fn migrate(&self, id: &str, to: &NodeName) -> Result<(), ClusterError> {
        let agent = AgentId::new(id);
        moves::migrate_anywhere(&self.inner, agent.clone(), to.clone())
            .await
            .map_err(|e| ClusterError::from_wire(&agent, e))
    }

    /// Stops agent `id` for good, wherever it runs: the registry records its removal (a
    /// tombstone every node merges) and its checkpoints are dropped. Like `stop_agent` on one
    /// runtime; a later `call_kind` starts a new, empty agent under the same id.
    pub async fn stop(&self, id: &str) -> Result<(), ClusterError> {
        let agent = AgentId::new(id);
        moves::stop(&self.inner, &agent)
            .await
            .map_err(|e| ClusterError::from_wire(&agent, e))
    }

    /// Checkpoints agent `id` to its backup nodes (`backups` of them) now, wherever it runs,
    /// and returns once every backup holds it (the checkpoint's version). Checkpoints also happen every
    /// `checkpoint_every` for agents that handled requests.
    pub async fn checkpoint(&self, id: &str) -> Result<u64, ClusterError> {
        let agent = AgentId::new(id);
        moves::checkpoint_now(&self.inner, &agent)
            .await
            .map_err(|e| ClusterError::from_wire(&agent, e))
    }

    /// Snapshots agent `id` (which runs here) and stops it; the next call re-activates it.
    pub async fn passivate(&self, id: &str) -> Result<(), ClusterError> {
        let agent = AgentId::new(id);
        moves::passivate(&self.inner, &agent)
            .await
            .map_err(|e| ClusterError::from_wire(&agent, e))
    }

    /// Leaves the cluster gracefully: moves every agent to the node placement picks among
    /// the others, announces the leave, then stops the transport. The runtime stays up (shut
    /// it down separately).
    pub async fn shutdown(&self) {
        if self.inner.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        moves::evacuate(&self.inner).await;
        self.inner.membership.leave().await;
        self.inner.transport.stop().await;
    }

    /// Fault injection: drops all membership traffic to and from these gossip addresses (an
    /// empty list heals). The peers are then declared down on both sides, as in a network
    /// partition; both sides keep serving, and after healing they rejoin and their registries
    /// merge (an agent activated on both sides keeps one winner). For chaos tests.
    pub fn partition_from(&self, gossip_addrs: impl IntoIterator<Item = std::net::SocketAddr>) {
        self.inner.blocked.set(gossip_addrs);
    }

    /// Stops the node without moving its agents or telling anyone (as if it crashed); for
    /// tests and benchmarks of failover.
    pub async fn crash(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        self.inner.membership.shutdown();
        self.inner.transport.stop().await;
    }
}

/// Replaces port 0 in the listen address with a free port, so the address peers learn is real.
fn resolve_ports(config: &mut ClusterConfig) -> Result<(), String> {
    if config.listen.port() == 0 {
        let l = std::net::TcpListener::bind(config.listen)
            .map_err(|e| format!("listen {}: {e}", config.listen))?;
        config.listen = l.local_addr().map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn clock_id(name: &NodeName, incarnation: u64) -> ClockId {
    let h = crate::placement::stable_hash(name.as_str(), &incarnation.to_string());
    let lo = crate::placement::stable_hash(&incarnation.to_string(), name.as_str());
    let v = (u128::from(h) << 64) | u128::from(lo) | 1;
    ClockId::try_from(v.to_le_bytes()).expect("non-zero clock id")
}

impl Inner {
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn is_live(&self, node: &NodeName) -> bool {
        self.members.read().contains_key(node)
    }

    /// Placement over live members (optionally without `exclude`).
    pub(crate) fn place(
        &self,
        agent: &AgentId,
        kind: Option<&str>,
        exclude: Option<&NodeName>,
    ) -> Option<NodeName> {
        let candidates = self.candidates(exclude);
        crate::placement::place(agent.as_str(), kind, &candidates).cloned()
    }

    /// The nodes that should hold checkpoints of `agent` (run here): the first
    /// `config.backups` live nodes after this one in placement order.
    pub(crate) fn backups_for(&self, agent: &AgentId, kind: &str) -> Vec<NodeName> {
        let candidates = self.candidates(Some(&self.name));
        crate::placement::rank(agent.as_str(), Some(kind), &candidates)
            .into_iter()
            .take(self.config.backups)
            .map(|c| c.name.clone())
            .collect()
    }

    /// This node's turn to re-activate `agent` (of `kind`) from a checkpoint after its node
    /// went down: its position among the live nodes in placement order. Every holder of a
    /// checkpoint waits its turn × [`FAILOVER_STAGGER`] and takes over only if nobody has;
    /// holders are the first nodes in that order, so the first live one goes at once.
    pub(crate) fn failover_turn(&self, agent: &AgentId, kind: &str) -> Duration {
        let candidates = self.candidates(None);
        let position = crate::placement::rank(agent.as_str(), Some(kind), &candidates)
            .iter()
            .position(|c| c.name == self.name)
            .unwrap_or(candidates.len());
        FAILOVER_STAGGER * position as u32
    }

    pub(crate) fn candidates(&self, exclude: Option<&NodeName>) -> Vec<Candidate> {
        self.members
            .read()
            .values()
            .filter(|m| Some(&m.name) != exclude)
            .filter(|m| m.name == self.name || self.transport.is_linked(&m.name))
            .map(|m| Candidate {
                name: m.name.clone(),
                capacity: m.meta.capacity,
                kinds: m.meta.kinds.clone(),
            })
            .collect()
    }

    /// Sends a request to `node` and waits for its reply.
    pub(crate) async fn request(
        &self,
        node: &NodeName,
        id: u64,
        msg: Msg,
        timeout: Option<Duration>,
    ) -> Result<Value, WireError> {
        let (tx, rx) = oneshot::channel();
        self.pending.insert(
            id,
            Pending {
                node: node.clone(),
                tx,
            },
        );
        if let Err(e) = self.transport.send(node, msg) {
            self.pending.remove(&id);
            return Err(WireError::Unavailable {
                reason: e.to_string(),
            });
        }
        let limit = timeout.unwrap_or(self.config.call_timeout);
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(WireError::Unavailable {
                reason: format!("node {node} went away"),
            }),
            Err(_) => {
                self.pending.remove(&id);
                Err(WireError::Timeout {
                    after_ms: limit.as_millis() as u64,
                })
            }
        }
    }

    pub(crate) fn complete(&self, id: u64, result: Result<Value, WireError>) {
        if let Some((_, p)) = self.pending.remove(&id) {
            let _ = p.tx.send(result);
        }
    }

    /// Fails every request waiting on `node` (it was declared down).
    fn fail_pending(&self, node: &NodeName) {
        let ids: Vec<u64> = self
            .pending
            .iter()
            .filter(|p| &p.node == node)
            .map(|p| *p.key())
            .collect();
        for id in ids {
            if let Some((_, p)) = self.pending.remove(&id) {
                let _ = p.tx.send(Err(WireError::Unavailable {
                    reason: format!("node {node} is down"),
                }));
            }
        }
    }
}

async fn event_loop(
    inner: std::sync::Weak<Inner>,
    mut members: tokio::sync::mpsc::UnboundedReceiver<MemberEvent>,
    mut links: tokio::sync::mpsc::UnboundedReceiver<LinkEvent>,
) {
    loop {
        tokio::select! {
            ev = members.recv() => {
                let Some(ev) = ev else { return };
                let Some(inner) = inner.upgrade() else { return };
                on_member(&inner, ev);
            }
            ev = links.recv() => {
                let Some(ev) = ev else { return };
                let Some(inner) = inner.upgrade() else { return };
                match ev {
                    LinkEvent::Up(peer) => {
                        tracing::debug!(target: "troupe::cluster", node = %inner.name, %peer, "link up");
                        gossip::exchange_with(&inner, &peer);
                        moves::rebalance_towards(&inner, &peer);
                        moves::mark_all_dirty(&inner);
                    }
                    LinkEvent::Down(peer) => {
                        // The session broke but membership still lists the peer: dial again.
                        let member = inner.members.read().get(&peer).cloned();
                        if let Some(member) = member {
                            if inner.name < peer && !inner.stopping.load(Ordering::Relaxed) {
                                tokio::spawn(dial(Arc::downgrade(&inner), member));
                            }
                        }
                    }
                }
            }
        }
    }
}

fn on_member(inner: &Arc<Inner>, ev: MemberEvent) {
    match ev {
        MemberEvent::Up(id) => {
            if id.name == inner.name {
                return;
            }
            tracing::info!(target: "troupe::cluster", node = %inner.name, peer = %id.name, "member up");
            inner.members.write().insert(id.name.clone(), id.clone());
            inner.down_at.remove(&id.name);
            // The node with the smaller name dials; the other waits for the inbound session.
            if inner.name < id.name {
                tokio::spawn(dial(Arc::downgrade(inner), id));
            }
        }
        MemberEvent::Down(id) => {
            if id.name == inner.name {
                return;
            }
            tracing::info!(target: "troupe::cluster", node = %inner.name, peer = %id.name, "member down");
            inner.members.write().remove(&id.name);
            inner.down_at.insert(id.name.clone(), Instant::now());
            inner.transport.disconnect(&id.name);
            inner.fail_pending(&id.name);
            tasks::on_member_down(inner, &id.name);
            moves::mark_all_dirty(inner);
            // A node declared down may be back at once under a renewed incarnation (it was
            // only suspected, or a partition healed): fail over only if it stays down.
            let weak = Arc::downgrade(inner);
            let name = id.name.clone();
            tokio::spawn(async move {
                tokio::time::sleep(FAILOVER_DELAY).await;
                let Some(inner) = weak.upgrade() else { return };
                if !inner.is_live(&name) {
                    moves::fail_over(&inner, &name);
                }
            });
        }
    }
}

/// Connects to a member until a session is up or it is no longer a member. One dialer per
/// peer at a time; after a connection is opened it waits for the session to become ready
/// before trying again, so it never races its own duplicate.
async fn dial(inner: std::sync::Weak<Inner>, member: NodeIdentity) {
    {
        let Some(node) = inner.upgrade() else { return };
        let mut fresh = false;
        node.dialing
            .entry(member.name.clone())
            .and_modify(|inc| {
                if *inc < member.incarnation {
                    *inc = member.incarnation;
                    fresh = true;
                }
            })
            .or_insert_with(|| {
                fresh = true;
                member.incarnation
            });
        if !fresh {
            return;
        }
    }
    let mut backoff = Duration::from_millis(50);
    loop {
        let Some(node) = inner.upgrade() else { return };
        let current = node.members.read().get(&member.name).cloned();
        let still_member = current.is_some_and(|m| m.incarnation == member.incarnation);
        let superseded = node
            .dialing
            .get(&member.name)
            .is_none_or(|inc| *inc != member.incarnation);
        if superseded {
            return;
        }
        if !still_member
            || node.transport.is_linked(&member.name)
            || node.stopping.load(Ordering::Relaxed)
        {
            node.dialing
                .remove_if(&member.name, |_, inc| *inc == member.incarnation);
            return;
        }
        let attempt = tokio::time::timeout(
            Duration::from_secs(2),
            node.transport.connect(member.transport),
        )
        .await
        .unwrap_or_else(|_| {
            Err(TransportError::Connect {
                addr: member.transport,
                reason: "timed out".into(),
            })
        });
        match attempt {
            Ok(()) => {
                // Give the handshake time to finish before considering another attempt.
                let deadline = Instant::now() + Duration::from_secs(2);
                while Instant::now() < deadline && !node.transport.is_linked(&member.name) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            Err(e) => {
                tracing::debug!(target: "troupe::cluster", peer = %member.name, "connect failed: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}
