//! Location-transparent calls: serve locally, forward to the node the registry names, or
//! activate the agent where placement says.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use parking_lot::Mutex;
use serde_json::Value;
use troupe_runtime::{AgentId, Snapshot, SpawnOptions};

use super::gate::{Admission, Gate, Redirect};
use super::{Inner, LocalAgent};
use crate::registry::{NodeName, SlotState};
use crate::wire::{AgentRecord, Msg, WireError};

/// A call is forwarded at most this many times (an agent moving faster than calls chase it).
pub(crate) const MAX_HOPS: u8 = 8;

/// How long after a node is declared down calls for its agents wait for their backup to
/// re-activate them, before activating them fresh (state lost) where the caller names a kind.
const FAILOVER_GRACE: Duration = Duration::from_secs(3);

/// What the registry says to do with a call that is not served locally.
enum Next {
    Forward(NodeName),
    Activate(AgentRecord),
    Wait,
    Missing,
}

impl Inner {
    /// Serves a call on this node or sends it where the agent is.
    pub(crate) async fn route(
        self: &Arc<Self>,
        agent: AgentId,
        kind: Option<String>,
        body: Value,
        hops: u8,
        timeout: Option<Duration>,
    ) -> Result<Value, WireError> {
        let deadline = Instant::now() + timeout.unwrap_or(self.config.call_timeout);
        // One-way messages held here for the agent (not reachable yet) were sent before this
        // call: the call must not overtake them.
        self.wait_for_held(&agent, deadline).await;
        let mut asked_peers = false;
        loop {
            if Instant::now() >= deadline {
                return Err(WireError::Timeout {
                    after_ms: timeout.unwrap_or(self.config.call_timeout).as_millis() as u64,
                });
            }
            let local = self.local.get(&agent).map(|e| e.value().clone());
            if let Some(local) = local {
                match local.gate.admit() {
                    Admission::Enter(pass) => {
                        let result = local.agent.ask_value(body, timeout).await;
                        local.dirty.store(true, Ordering::Relaxed);
                        *local.last_used.lock() = Instant::now();
                        drop(pass);
                        return result.map_err(|e| WireError::from_call(&e));
                    }
                    Admission::Wait(rx) => match rx.await {
                        Ok(Redirect::To(node)) if node != self.name => {
                            return self.forward(node, agent, kind, body, hops, timeout).await;
                        }
                        _ => continue,
                    },
                }
            }
            if !asked_peers && self.registry.lock().winner(&agent).is_none() {
                // Not heard of through gossip yet (just spawned elsewhere?): ask the peers.
                asked_peers = true;
                if self.locate_from_peers(&agent).await {
                    continue;
                }
            }
            match self.next_step(&agent, kind.as_deref()) {
                Next::Forward(node) => {
                    return self.forward(node, agent, kind, body, hops, timeout).await
                }
                Next::Activate(record) => {
                    self.activate_local(record, true).await?;
                }
                Next::Wait => {
                    // The agent's node is gone and its backup has not taken over yet.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Next::Missing => return Err(WireError::NoSuchAgent),
            }
        }
    }

    /// Asks every linked peer for its registry entry of `agent` and merges the answers.
    /// Returns whether any peer knew it.
    pub(crate) async fn locate_from_peers(self: &Arc<Self>, agent: &AgentId) -> bool {
        let peers = self.transport.peers();
        let asks = peers.into_iter().map(|peer| {
            let inner = self.clone();
            let agent = agent.clone();
            async move {
                let id = inner.next_id();
                let op = crate::wire::Control::Locate { agent };
                inner
                    .request(
                        &peer,
                        id,
                        Msg::Control { id, op },
                        Some(Duration::from_secs(2)),
                    )
                    .await
            }
        });
        let mut found = false;
        for answer in futures_join_all(asks).await {
            let Ok(value) = answer else { continue };
            let Ok(Some(slot)) = serde_json::from_value::<Option<crate::registry::Slot>>(value)
            else {
                continue;
            };
            let _ = self.clock.update(&slot.stamp);
            self.registry.lock().apply(agent.clone(), slot);
            found = true;
        }
        found
    }

    /// Sends a one-way message where the agent is. Messages from this node to one agent are
    /// delivered in order: while the agent cannot be reached at once (not yet located, moving,
    /// passivated, failing over) they are held here, in order, and a single resolver per agent
    /// delivers them when it can.
    pub(crate) fn tell(
        self: &Arc<Self>,
        agent: AgentId,
        body: Value,
        hops: u8,
    ) -> Result<(), WireError> {
        if let Some(mut held) = self.held.get_mut(&agent) {
            held.push((body, hops));
            return Ok(());
        }
        match self.tell_now(&agent, body, hops) {
            Ok(None) => Ok(()),
            Ok(Some((body, hops))) => {
                self.hold(agent, body, hops);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Waits (at most until `deadline`) until no one-way message to `agent` is held here: its
    /// resolver has handed them all on (to the agent, or to the transport queue, which a call
    /// then follows).
    async fn wait_for_held(&self, agent: &AgentId, deadline: Instant) {
        let mut pause = Duration::from_millis(1);
        while self.held.contains_key(agent) && Instant::now() < deadline {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }

    /// Delivers one-way messages from a peer to `agent`, in order, as [`Inner::tell`] would
    /// one by one; a message that cannot be delivered is logged and dropped. When nothing is
    /// held for the agent and it runs here, the whole run goes in under one admission.
    pub(crate) fn tell_run(self: &Arc<Self>, agent: AgentId, run: Vec<(Value, u8)>) {
        if run.len() > 1 && !self.held.contains_key(&agent) {
            if let Some(local) = self.local.get(&agent).map(|e| e.value().clone()) {
                if let Admission::Enter(pass) = local.gate.admit() {
                    for (body, _) in run {
                        if let Err(e) = local.agent.tell_value(body) {
                            tracing::debug!(target: "troupe::cluster", %agent, "tell dropped: {e}");
                        }
                    }
                    local.dirty.store(true, Ordering::Relaxed);
                    *local.last_used.lock() = Instant::now();
                    drop(pass);
                    return;
                }
            }
        }
        for (body, hops) in run {
            if let Err(e) = self.tell(agent.clone(), body, hops) {
                tracing::debug!(target: "troupe::cluster", %agent, "tell dropped: {e}");
            }
        }
    }

    /// Delivers at once if the agent is reachable now; otherwise hands the message back.
    #[allow(clippy::type_complexity)]
    fn tell_now(
        self: &Arc<Self>,
        agent: &AgentId,
        body: Value,
        hops: u8,
    ) -> Result<Option<(Value, u8)>, WireError> {
        if let Some(local) = self.local.get(agent).map(|e| e.value().clone()) {
            if let Admission::Enter(pass) = local.gate.admit() {
                let r = local.agent.tell_value(body);
                local.dirty.store(true, Ordering::Relaxed);
                *local.last_used.lock() = Instant::now();
                drop(pass);
                return r.map(|()| None).map_err(|e| WireError::from_call(&e));
            }
            return Ok(Some((body, hops)));
        }
        if self.registry.lock().winner(agent).is_none() {
            return Ok(Some((body, hops)));
        }
        match self.next_step(agent, None) {
            Next::Forward(_) if hops >= MAX_HOPS => Err(WireError::Unavailable {
                reason: "forwarded too many times".into(),
            }),
            Next::Forward(node) => {
                let msg = Msg::Tell {
                    agent: agent.clone(),
                    body,
                    hops: hops + 1,
                };
                self.transport
                    .send(&node, msg)
                    .map(|()| None)
                    .map_err(|e| WireError::Unavailable {
                        reason: e.to_string(),
                    })
            }
            Next::Activate(_) | Next::Wait => Ok(Some((body, hops))),
            Next::Missing => Err(WireError::NoSuchAgent),
        }
    }

    fn hold(self: &Arc<Self>, agent: AgentId, body: Value, hops: u8) {
        let mut first = false;
        self.held
            .entry(agent.clone())
            .or_insert_with(|| {
                first = true;
                Vec::new()
            })
            .push((body, hops));
        if first {
            let inner = self.clone();
            tokio::spawn(async move { inner.resolve_held(agent).await });
        }
    }

    /// Makes `agent` reachable (locate, wait for a move, activate), then delivers what is held
    /// for it, in order. Gives up (dropping the messages, as one-way messages to a missing
    /// agent are) after the call timeout.
    async fn resolve_held(self: Arc<Self>, agent: AgentId) {
        let deadline = Instant::now() + self.config.call_timeout;
        let mut asked_peers = false;
        'wait: loop {
            let reachable = loop {
                if Instant::now() >= deadline {
                    break false;
                }
                if let Some(local) = self.local.get(&agent).map(|e| e.value().clone()) {
                    match local.gate.admit() {
                        Admission::Enter(_) => break true,
                        Admission::Wait(rx) => {
                            let _ = rx.await;
                            continue;
                        }
                    }
                }
                if self.registry.lock().winner(&agent).is_none() {
                    if asked_peers {
                        break false;
                    }
                    asked_peers = true;
                    self.locate_from_peers(&agent).await;
                    continue;
                }
                match self.next_step(&agent, None) {
                    Next::Forward(_) => break true,
                    Next::Activate(record) => {
                        if self.activate_local(record, true).await.is_err() {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                    Next::Wait => tokio::time::sleep(Duration::from_millis(50)).await,
                    Next::Missing => break false,
                }
            };
            loop {
                let batch: Vec<(Value, u8)> = match self.held.get_mut(&agent) {
                    Some(mut held) => held.drain(..).collect(),
                    None => return,
                };
                if batch.is_empty() {
                    if self.held.remove_if(&agent, |_, v| v.is_empty()).is_some() {
                        return;
                    }
                    continue;
                }
                if !reachable {
                    tracing::debug!(target: "troupe::cluster", %agent, dropped = batch.len(),
                        "one-way messages dropped: agent unreachable");
                    continue;
                }
                let mut rest = batch.into_iter();
                while let Some((body, hops)) = rest.next() {
                    match self.tell_now(&agent, body, hops) {
                        Ok(None) => {}
                        Ok(Some(back)) => {
                            // Unreachable again (it started moving): keep order, wait again.
                            if let Some(mut held) = self.held.get_mut(&agent) {
                                let later = std::mem::take(&mut *held);
                                held.push(back);
                                held.extend(rest);
                                held.extend(later);
                            }
                            continue 'wait;
                        }
                        Err(e) => {
                            tracing::debug!(target: "troupe::cluster", %agent, "one-way message dropped: {e}");
                        }
                    }
                }
            }
        }
    }

    fn next_step(&self, agent: &AgentId, kind: Option<&str>) -> Next {
        let slot = self.registry.lock().winner(agent).cloned();
        let replica = self.replicas.get(agent).map(|r| r.value().clone());
        match slot {
            Some(s)
                if s.state != SlotState::Removed
                    && s.node != self.name
                    && self.is_live(&s.node) =>
            {
                Next::Forward(s.node)
            }
            Some(s) if s.state != SlotState::Removed && s.node == self.name => match replica {
                // Passivated here, or failed over to here: resume from the checkpoint.
                Some(r) => Next::Activate(r),
                None => self.fresh(agent, kind),
            },
            Some(s) if s.state != SlotState::Removed => {
                // Its node is down. A backup re-activates it from its checkpoint; if that is
                // us and it is our turn, do it now; otherwise wait for the registry to say
                // where it went.
                match replica {
                    Some(r) if self.failover_turn_came(agent, &r.kind, &s.node) => {
                        Next::Activate(r)
                    }
                    Some(_) => Next::Wait,
                    None if self.recently_down(&s.node) => Next::Wait,
                    None => self.fresh(agent, kind),
                }
            }
            _ => match replica {
                Some(r) => Next::Activate(r),
                None => self.fresh(agent, kind),
            },
        }
    }

    /// Whether this node, holding a checkpoint of `agent` whose node `down` is gone, may
    /// re-activate it now: its failover turn is now, or has passed since `down` was declared
    /// down.
    fn failover_turn_came(&self, agent: &AgentId, kind: &str, down: &NodeName) -> bool {
        let turn = self.failover_turn(agent, kind);
        turn.is_zero()
            || self
                .down_at
                .get(down)
                .is_some_and(|at| at.elapsed() >= turn)
    }

    /// Whether `node` was declared down less than [`FAILOVER_GRACE`] ago (or is unknown to
    /// membership but not yet reported down).
    fn recently_down(&self, node: &NodeName) -> bool {
        self.down_at
            .get(node)
            .is_none_or(|at| at.elapsed() < FAILOVER_GRACE)
    }

    /// A first activation of a virtual agent of `kind`, on the node placement picks.
    fn fresh(&self, agent: &AgentId, kind: Option<&str>) -> Next {
        let Some(kind) = kind else {
            return Next::Missing;
        };
        match self.place(agent, Some(kind), None) {
            Some(node) if node == self.name => Next::Activate(AgentRecord {
                agent: agent.clone(),
                kind: kind.into(),
                config: Value::Null,
                snapshot: None,
                version: 0,
                movable: true,
            }),
            Some(node) => Next::Forward(node),
            None => Next::Missing,
        }
    }

    async fn forward(
        self: &Arc<Self>,
        node: NodeName,
        agent: AgentId,
        kind: Option<String>,
        body: Value,
        hops: u8,
        timeout: Option<Duration>,
    ) -> Result<Value, WireError> {
        if hops >= MAX_HOPS {
            return Err(WireError::Unavailable {
                reason: format!("forwarded {hops} times without reaching agent {agent}"),
            });
        }
        let id = self.next_id();
        let msg = Msg::Call {
            id,
            agent,
            kind,
            body,
            hops: hops + 1,
            timeout_ms: timeout.map(|t| t.as_millis() as u64),
        };
        self.request(&node, id, msg, timeout).await
    }

    /// Starts an agent here (or finds it already running) and records it in the registry.
    pub(crate) async fn activate_local(
        self: &Arc<Self>,
        record: AgentRecord,
        announce: bool,
    ) -> Result<(), WireError> {
        if self.stopping.load(Ordering::Relaxed) {
            return Err(WireError::Unavailable {
                reason: format!("node {} is shutting down", self.name),
            });
        }
        if let Some(kinds) = &self.config.kinds {
            if !kinds.contains(&record.kind) {
                return Err(WireError::Activation {
                    reason: format!("node {} does not host kind {}", self.name, record.kind),
                });
            }
        }
        let lock = self
            .activating
            .entry(record.agent.clone())
            .or_default()
            .clone();
        let _guard = lock.lock().await;
        if self.local.contains_key(&record.agent) {
            return Ok(());
        }
        let mut options = SpawnOptions::default();
        if let Some(bytes) = &record.snapshot {
            options = options.from_snapshot(Snapshot::from_bytes(bytes.clone()));
        }
        let agent = self
            .rt
            .spawn_kind_with(
                &record.kind,
                record.agent.clone(),
                record.config.clone(),
                options,
            )
            .await
            .map_err(|e| WireError::Activation {
                reason: e.to_string(),
            })?;
        let id = record.agent.clone();
        let version = record.version;
        let local = Arc::new(LocalAgent {
            agent,
            record: Mutex::new(record),
            gate: Gate::new(),
            dirty: std::sync::atomic::AtomicBool::new(true),
            last_used: Mutex::new(Instant::now()),
            backups: Mutex::new(Vec::new()),
        });
        let stamp = self.clock.now();
        // The agent becomes local and active in the registry under the registry's lock: a
        // merge (which decides under that lock which local agents lost ownership) never sees
        // it local while the registry still names its previous home.
        let change = {
            let mut registry = self.registry.lock();
            self.local.insert(id.clone(), local);
            registry.activate(
                id.clone(),
                self.name.clone(),
                self.incarnation,
                version,
                stamp,
            )
        };
        if announce && change.is_some() {
            self.push_entry(&id);
        }
        tracing::debug!(target: "troupe::cluster", node = %self.name, agent = %id, "activated");
        Ok(())
    }
}

/// Awaits all futures concurrently (a tiny `join_all` without the futures crate).
pub(crate) async fn futures_join_all<F>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output>
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
