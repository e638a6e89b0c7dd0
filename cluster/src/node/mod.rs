//! A cluster node: a [`Runtime`] linked to its peers.
//!
//! [`ClusterNode`] is the thin shell around the IO-free parts: it runs membership (SWIM over
//! UDP), the transport (ractor_cluster sessions and one gateway), and keeps the node's copy of
//! the CRDT registry. Agents are called by id wherever they live ([`ClusterNode::call`]);
//! they move with [`ClusterNode::migrate`], rest with [`ClusterNode::passivate`], and come
//! back on demand. When a member is declared down, the agents it ran are re-activated from
//! their latest checkpoint on the node that held it.
//!
//! The node's decisions (routing, the resolver of held one-way messages, failover turns,
//! ownership after a registry merge, rebalancing, whom to ask to migrate, stop or checkpoint
//! an agent, which checkpoints to drop, evacuation targets, the task queue and its ledger of
//! lent tasks, steal batches and hints, admission) live in the IO-free `core` module: inputs
//! in, commands out, time as an input. The other files are the shell that executes them, in
//! layers that import downwards only: `core` ← `gate`, `scheduler`, `checkpoints`, `held` ←
//! `locals` ← `state` (the shared `Inner`, which holds one narrow type per concern) ←
//! `route`, `gossip`, `moves`, `tasks` ← `links` (membership and link events through the
//! core), `inbound` (frames and control requests) ← this file.

mod checkpoints;
mod config;
mod core;
mod faults;
mod gate;
mod gossip;
mod held;
mod inbound;
mod links;
mod locals;
mod moves;
mod persisted;
mod restore;
mod route;
mod runs;
mod scheduler;
mod state;
mod tasks;

#[cfg(test)]
mod error_tests;
#[cfg(test)]
mod inbound_tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use tokio::sync::Notify;
use troupe_runtime::{AgentId, CallError, Runtime};

pub use crate::ConfigError;
pub use config::ClusterConfig;

use crate::membership::{MembershipHandle, NodeIdentity, NodeMeta};
use crate::registry::{Clock, ClockId, NodeName, Registry, Slot};
use crate::transport::{StartCause, Transport, TransportError};
use crate::wire::{AgentRecord, Msg, WireError};
use core::failover::FAILOVER_DELAY;
use core::members::Members;
use core::Input;
use state::Inner;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The listen address could not be bound (to pick a free port for port 0).
    #[error("listen address {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The gossip (UDP) socket could not be bound or used.
    #[error("gossip socket {addr}: {source}")]
    GossipSocket {
        /// The address.
        addr: std::net::SocketAddr,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// Membership refused to start on the gossip socket.
    #[error("gossip socket {addr}: {source}")]
    Membership {
        /// The gossip address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: crate::membership::MembershipError,
    },
}

/// Why a cluster operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The agent call failed (the same errors as a local call).
    #[error(transparent)]
    Call(#[from] CallError),
    /// The node could not start.
    #[error("cannot start node: {0}")]
    Start(#[from] StartError),
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
    /// node shutting down, the agent moving, ...): which case, as the serving node said.
    #[error("agent {agent}: {cause}")]
    Unavailable {
        /// The agent.
        agent: AgentId,
        /// Why.
        cause: WireError,
    },
    /// A run request to `node` failed (it hosts no runs, refused, is down, ...).
    #[error("run request to node {node}: {cause}")]
    Run {
        /// The node asked.
        node: NodeName,
        /// Why.
        cause: WireError,
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
            cause => Self::Unavailable {
                agent: agent.clone(),
                cause,
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
        config.validate().map_err(StartError::from)?;
        // A port of 0 means "any free port": pick one, and pick again if another process
        // takes it before the node server binds it.
        let auto_listen = config.listen.port() == 0;
        let wanted = (config.listen, config.gossip);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut config = config.clone();
            (config.listen, config.gossip) = wanted;
            resolve_ports(&mut config)?;
            let addr = config.gossip;
            let gossip_error = |source| StartError::GossipSocket { addr, source };
            let socket = tokio::net::UdpSocket::bind(addr)
                .await
                .map_err(gossip_error)?;
            config.gossip = socket.local_addr().map_err(gossip_error)?;
            match Self::start_on(config, runtime.clone(), socket, None).await {
                Err(ClusterError::Transport(TransportError::Start {
                    cause: StartCause::AddressInUse,
                    ..
                })) if auto_listen && attempt < 5 => continue,
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
        config.validate().map_err(StartError::from)?;
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
                resources: config.resources.clone(),
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
            Err(source) => {
                transport.stop().await;
                return Err(StartError::Membership {
                    addr: config.gossip,
                    source,
                }
                .into());
            }
        };
        let members = Members::new(identity, FAILOVER_DELAY, config.rebalance_on_join);
        let inner = Arc::new(Inner {
            clock: Clock::new(clock_id(&name, incarnation)),
            name,
            incarnation,
            config,
            rt: runtime,
            transport,
            membership,
            registry: Mutex::new(Registry::new()),
            locals: locals::Locals::default(),
            checkpoints: checkpoints::Checkpoints::default(),
            requests: state::Requests::default(),
            members: RwLock::new(members),
            stopping: AtomicBool::new(false),
            changed: Notify::new(),
            scheduler: scheduler::Scheduler::default(),
            held: held::Held::default(),
            blocked,
            stats: Default::default(),
            run_service: std::sync::OnceLock::new(),
        });
        sink.attach(Arc::downgrade(&inner));
        tokio::spawn(links::event_loop(
            Arc::downgrade(&inner),
            member_events,
            link_events,
        ));
        tokio::spawn(gossip::anti_entropy(Arc::downgrade(&inner)));
        tokio::spawn(moves::checkpoints(Arc::downgrade(&inner)));
        inner
            .scheduler
            .set_resources(inner.config.resources.clone());
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
        self.inner.checkpoints.version(agent)
    }

    /// The state in the checkpoint of `agent` this node holds, if any.
    pub fn checkpoint_snapshot(&self, agent: &str) -> Option<troupe_runtime::Snapshot> {
        self.inner
            .checkpoints
            .snapshot(agent)
            .map(troupe_runtime::Snapshot::from_bytes)
    }

    /// Workflow tasks this node has run (its own and stolen ones).
    pub fn tasks_executed(&self) -> usize {
        self.inner.scheduler.executed()
    }

    /// Tasks this node stole from busier nodes.
    pub fn tasks_stolen(&self) -> usize {
        self.inner.scheduler.stolen()
    }

    /// Tasks this node accepted that `node` is running for it right now (stolen by it).
    pub fn tasks_lent_to(&self, node: &str) -> usize {
        self.inner.scheduler.ledger.lock().lent_to(node)
    }

    /// Agents this node migrated to another node (since it started).
    pub fn migrations(&self) -> u64 {
        self.inner
            .stats
            .migrations
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Agents this node re-activated from a checkpoint after their node went down.
    pub fn failovers(&self) -> u64 {
        self.inner
            .stats
            .failovers
            .load(std::sync::atomic::Ordering::Relaxed)
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
        self.inner.members.read().live().cloned().collect()
    }

    /// Waits until a transport session with `peer` is up, at most `timeout`; returns whether
    /// it is (woken when the session comes up, not by polling).
    pub async fn wait_linked(&self, peer: &NodeName, timeout: Duration) -> bool {
        self.inner.transport.wait_linked(peer, timeout).await
    }

    /// Waits until this node's view changes (a member or a transport session came or went, the
    /// registry changed), at most `timeout`; returns whether it changed. Woken by the change,
    /// not by polling; a change just before the call is not seen, so callers re-check their
    /// condition after at most `timeout`.
    pub async fn wait_changed(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.inner.changed.notified())
            .await
            .is_ok()
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
        self.inner.locals.ids()
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
                .request_value(node, id, Msg::Activate { id, spec: record }, None)
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

    /// Packs `pools` onto the live members by the resources they declare
    /// ([`crate::packing::pack`]): where each agent of a pool that needs resources would go,
    /// or why it cannot be placed (the pool named). A cluster where no live member declares
    /// resources places every pool anywhere (an empty packing).
    pub fn place_pools(
        &self,
        pools: &[crate::packing::PoolNeed],
    ) -> Result<crate::packing::Packing, crate::packing::Unplaced> {
        let nodes: Vec<_> = self
            .inner
            .members
            .read()
            .live()
            .filter(|m| m.meta.kinds.as_ref().is_none_or(|k| !k.is_empty()))
            .map(|m| (m.name.clone(), m.meta.resources.clone()))
            .collect();
        if nodes.iter().all(|(_, r)| r.is_none()) {
            return Ok(Vec::new());
        }
        crate::packing::pack(pools, &nodes)
    }

    /// Keeps this node's checkpoints (of the agents it runs, and those it holds as a backup)
    /// in `store` from now on, and re-activates the agents persisted there by an earlier life
    /// of this node (same name): its own ones after a short settle, the ones it held as a
    /// backup only if, after a grace for their owner to come back, no live node runs them.
    /// Returns how many checkpoints it read back. Call it once, soon after [`Self::start`];
    /// a later call does nothing (0).
    pub async fn persist_checkpoints(
        &self,
        store: Arc<dyn troupe_runtime::Store>,
    ) -> Result<usize, troupe_runtime::StoreError> {
        restore::install(&self.inner, store).await
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
        links::feed(&self.inner, Input::Stopping);
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
        links::feed(&self.inner, Input::Stopping);
        self.inner.membership.shutdown();
        self.inner.transport.stop().await;
    }
}

/// Replaces port 0 in the listen address with a free port, so the address peers learn is real.
fn resolve_ports(config: &mut ClusterConfig) -> Result<(), StartError> {
    if config.listen.port() == 0 {
        let addr = config.listen;
        let listen_error = |source| StartError::Listen { addr, source };
        let l = std::net::TcpListener::bind(addr).map_err(listen_error)?;
        config.listen = l.local_addr().map_err(listen_error)?;
    }
    Ok(())
}

fn clock_id(name: &NodeName, incarnation: u64) -> ClockId {
    let h = crate::placement::stable_hash(name.as_str(), &incarnation.to_string());
    let lo = crate::placement::stable_hash(&incarnation.to_string(), name.as_str());
    let v = (u128::from(h) << 64) | u128::from(lo) | 1;
    ClockId::try_from(v.to_le_bytes()).expect("non-zero clock id")
}
