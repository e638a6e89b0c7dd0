//! The node's shared state (the shell's side): the runtime, transport and membership handles,
//! the registry, the core's membership view, and one narrow type per concern, each owned by
//! its own file: the local agents ([`Locals`]), the checkpoints held here ([`Checkpoints`]),
//! held one-way messages ([`Held`]), the task scheduler, and (here) requests awaiting
//! replies ([`Requests`]). Every other file of the shell works on an [`Inner`] through their
//! methods; this file imports only the core and the leaves.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use tokio::sync::{oneshot, Notify};
use troupe_runtime::{AgentId, Runtime};

use super::checkpoints::Checkpoints;
use super::config::ClusterConfig;
use super::core::members::Members;
use super::core::route::RouteView;
use super::core::{failover, Command, Input};
use super::faults::Blocklist;
use super::held::Held;
use super::locals::Locals;
use super::scheduler::Scheduler;
use crate::membership::MembershipHandle;
use crate::placement::Candidate;
use crate::registry::{Clock, Delta, DeltaEntry, NodeName, Registry, Slot};
use crate::transport::Transport;
use crate::wire::{AgentRecord, ControlReply, Msg, WireError};

/// What a peer answered a request with.
pub(crate) enum Answer {
    /// An agent's reply (calls, activations).
    Value(Value),
    /// A node's typed reply to a [`crate::wire::Control`] request.
    Control(ControlReply),
}

struct Pending {
    node: NodeName,
    tx: oneshot::Sender<Result<Answer, WireError>>,
}

/// Requests sent to peers and waiting for their answers, by request id.
pub(crate) struct Requests {
    pending: DashMap<u64, Pending>,
    next_id: AtomicU64,
}

impl Default for Requests {
    fn default() -> Self {
        Self {
            pending: DashMap::new(),
            next_id: AtomicU64::new(1),
        }
    }
}

impl Requests {
    /// A fresh request id.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Waits for the answer to request `id`, sent to `node`.
    fn expect(&self, id: u64, node: &NodeName) -> oneshot::Receiver<Result<Answer, WireError>> {
        let (tx, rx) = oneshot::channel();
        let node = node.clone();
        self.pending.insert(id, Pending { node, tx });
        rx
    }

    /// Stops waiting for request `id` (it could not be sent, or timed out).
    fn forget(&self, id: u64) {
        self.pending.remove(&id);
    }

    /// Answers request `id`.
    fn complete(&self, id: u64, result: Result<Answer, WireError>) {
        if let Some((_, p)) = self.pending.remove(&id) {
            let _ = p.tx.send(result);
        }
    }

    /// Fails every request waiting on `node`.
    fn fail_node(&self, node: &NodeName) {
        let ids: Vec<u64> = self
            .pending
            .iter()
            .filter(|p| &p.node == node)
            .map(|p| *p.key())
            .collect();
        for id in ids {
            if let Some((_, p)) = self.pending.remove(&id) {
                let node = node.clone();
                let _ = p.tx.send(Err(WireError::NodeDown { node }));
            }
        }
    }
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
    /// The agents this node runs.
    pub(crate) locals: Locals,
    /// Checkpoints this node holds: as the backup of another node's agent, or of its own
    /// passivated agents.
    pub(crate) checkpoints: Checkpoints,
    /// Requests waiting for a peer's answer.
    pub(crate) requests: Requests,
    /// The core's view of the cluster: live members (this node included), when others went
    /// down, which dials are current.
    pub(crate) members: RwLock<Members>,
    pub(crate) stopping: AtomicBool,
    /// Notified whenever a fact a routing decision reads changes: the registry, membership or
    /// links, the checkpoints held here (calls waiting for a failover decide again).
    pub(crate) changed: Notify,
    pub(crate) scheduler: Scheduler,
    /// One-way messages waiting until their agent can be reached, in arrival order.
    pub(crate) held: Held,
    pub(crate) blocked: Blocklist,
    /// What serves run requests here ([`crate::runs::RunService`]), once installed.
    pub(crate) run_service: std::sync::OnceLock<std::sync::Arc<dyn crate::runs::RunService>>,
    /// Moves counted for the metrics (`troupe_cluster_*_total`).
    pub(crate) stats: NodeStats,
}

/// Moves counted since the node started (read by [`crate::metrics`]).
#[derive(Default)]
pub(crate) struct NodeStats {
    /// Agents this node migrated away successfully.
    pub(crate) migrations: std::sync::atomic::AtomicU64,
    /// Agents this node re-activated from a checkpoint after their node went down.
    pub(crate) failovers: std::sync::atomic::AtomicU64,
}

/// The shell's clock reading, as the core takes it.
pub(crate) fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// Shorthand for handlers that answer with an error.
pub(crate) fn unavailable(reason: impl Into<String>) -> WireError {
    WireError::Unavailable {
        reason: reason.into(),
    }
}

impl Inner {
    pub(crate) fn next_id(&self) -> u64 {
        self.requests.next_id()
    }

    pub(crate) fn is_live(&self, node: &NodeName) -> bool {
        self.members.read().is_live(node)
    }

    /// Feeds the core's membership view one input now and returns its commands.
    pub(crate) fn members_handle(&self, input: Input) -> Vec<Command> {
        let commands = self.members.write().handle(input, now());
        self.changed.notify_waiters();
        commands
    }

    /// Tells calls waiting for a routing decision to change that the registry (or the
    /// checkpoints held here) changed.
    pub(crate) fn registry_changed(&self) {
        self.changed.notify_waiters();
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
    /// went down: its position among the live nodes in placement order
    /// ([`failover::turn`]).
    pub(crate) fn failover_turn(&self, agent: &AgentId, kind: &str) -> Duration {
        let candidates = self.candidates(None);
        let position = crate::placement::rank(agent.as_str(), Some(kind), &candidates)
            .iter()
            .position(|c| c.name == self.name);
        failover::turn(position, candidates.len())
    }

    pub(crate) fn candidates(&self, exclude: Option<&NodeName>) -> Vec<Candidate> {
        self.members
            .read()
            .live()
            .filter(|m| Some(&m.name) != exclude)
            .filter(|m| m.name == self.name || self.transport.is_linked(&m.name))
            .map(|m| Candidate {
                name: m.name.clone(),
                capacity: m.meta.capacity,
                kinds: m.meta.kinds.clone(),
            })
            .collect()
    }

    /// Sends a request to `node` and waits for its answer.
    pub(crate) async fn request(
        &self,
        node: &NodeName,
        id: u64,
        msg: Msg,
        timeout: Option<Duration>,
    ) -> Result<Answer, WireError> {
        let rx = self.requests.expect(id, node);
        if let Err(e) = self.transport.send(node, msg) {
            self.requests.forget(id);
            return Err(unavailable(e.to_string()));
        }
        let limit = timeout.unwrap_or(self.config.call_timeout);
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(WireError::NodeDown { node: node.clone() }),
            Err(_) => {
                self.requests.forget(id);
                Err(WireError::Timeout {
                    after_ms: limit.as_millis() as u64,
                })
            }
        }
    }

    /// Sends a request expecting an agent's reply (a call, an activation).
    pub(crate) async fn request_value(
        &self,
        node: &NodeName,
        id: u64,
        msg: Msg,
        timeout: Option<Duration>,
    ) -> Result<Value, WireError> {
        match self.request(node, id, msg, timeout).await? {
            Answer::Value(v) => Ok(v),
            Answer::Control(r) => Err(WireError::UnexpectedReply {
                node: node.clone(),
                request: "a call".into(),
                got: format!("a control reply ({})", r.name()),
            }),
        }
    }

    /// Sends a control request to `node` and waits for its typed reply.
    pub(crate) async fn request_control(
        &self,
        node: &NodeName,
        op: crate::wire::Control,
        timeout: Option<Duration>,
    ) -> Result<ControlReply, WireError> {
        let id = self.next_id();
        match self
            .request(node, id, Msg::Control { id, op }, timeout)
            .await?
        {
            Answer::Control(r) => Ok(r),
            Answer::Value(_) => Err(WireError::UnexpectedReply {
                node: node.clone(),
                request: "a control request".into(),
                got: "an agent reply".into(),
            }),
        }
    }

    pub(crate) fn complete(&self, id: u64, result: Result<Answer, WireError>) {
        self.requests.complete(id, result);
    }

    /// Fails every request waiting on `node` (it was declared down).
    pub(crate) fn fail_pending(&self, node: &NodeName) {
        self.requests.fail_node(node);
    }

    /// Pushes this node's entry for `agent` to every linked peer.
    pub(crate) fn push_entry(&self, agent: &AgentId) {
        let Some(slot) = self.registry.lock().winner(agent).cloned() else {
            return;
        };
        let delta = Delta {
            entries: vec![DeltaEntry {
                id: agent.clone(),
                slot,
            }],
            ..Delta::default()
        };
        for peer in self.transport.peers() {
            let _ = self.transport.send(
                &peer,
                Msg::Registry {
                    delta: delta.clone(),
                    want_reply: false,
                },
            );
        }
    }

    /// Sends a reply to `to`. A request can arrive on a session whose other side is not yet
    /// registered here (the two ends finish their handshake at slightly different times), so
    /// wait (a few seconds at most) to be told the link is up instead of dropping the reply.
    pub(crate) async fn reply(&self, to: &NodeName, msg: Msg) {
        self.transport.wait_linked(to, Duration::from_secs(5)).await;
        if let Err(e) = self.transport.send(to, msg) {
            tracing::debug!(target: "troupe::cluster", %to, "reply dropped: {e}");
        }
    }
}

impl RouteView for Inner {
    fn me(&self) -> &NodeName {
        &self.name
    }

    fn winner(&self, agent: &AgentId) -> Option<Slot> {
        self.registry.lock().winner(agent).cloned()
    }

    fn replica(&self, agent: &AgentId) -> Option<AgentRecord> {
        self.checkpoints.get(agent)
    }

    fn is_live(&self, node: &NodeName) -> bool {
        Inner::is_live(self, node)
    }

    fn down_since(&self, node: &NodeName) -> Option<std::time::Instant> {
        self.members.read().down_since(node)
    }

    fn failover_turn(&self, agent: &AgentId, kind: &str) -> Duration {
        Inner::failover_turn(self, agent, kind)
    }

    fn place(&self, agent: &AgentId, kind: &str) -> Option<NodeName> {
        Inner::place(self, agent, Some(kind), None)
    }
}

/// Awaits all futures concurrently (a tiny `join_all` without the futures crate).
pub(crate) async fn join_all<F>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(v) = h.await {
            out.push(v);
        }
    }
    out
}
