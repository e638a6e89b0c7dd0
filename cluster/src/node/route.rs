//! Location-transparent calls: serve locally, forward to the node the registry names, or
//! activate the agent where placement says.

use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use serde_json::Value;
use troupe_runtime::{AgentId, Snapshot, SpawnOptions};

use super::core::route::{held_step, next_step, tell_step, HeldStep, Next, TellRefusal, TellStep};
use super::gate::{Admission, Redirect};
use super::locals::LocalAgent;
use super::state::{self, join_all, unavailable, Inner};
use crate::registry::NodeName;
use crate::wire::{AgentRecord, Control, ControlReply, Msg, WireError};

pub(crate) use super::core::route::MAX_HOPS;

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
        self.held.wait_released(&agent, deadline).await;
        let mut asked_peers = false;
        loop {
            if Instant::now() >= deadline {
                return Err(WireError::Timeout {
                    after_ms: timeout.unwrap_or(self.config.call_timeout).as_millis() as u64,
                });
            }
            let local = self.locals.get(&agent);
            if let Some(local) = local {
                match local.gate.admit() {
                    Admission::Enter(pass) => {
                        let result = local.agent.ask_value(body, timeout).await;
                        local.touched();
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
            match next_step(&**self, &agent, kind.as_deref(), state::now()) {
                Next::Forward(node) => {
                    return self.forward(node, agent, kind, body, hops, timeout).await
                }
                Next::Activate(record) => {
                    self.activate_local(record, true).await?;
                }
                Next::Wait { .. } => {
                    // The agent's node is gone and its backup has not taken over yet: decide
                    // again when the registry or membership changes, or the decision's time
                    // comes.
                    self.wait_for_change(&agent, kind.as_deref(), deadline)
                        .await;
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
                let op = Control::Locate { agent };
                inner
                    .request_control(&peer, op, Some(Duration::from_secs(2)))
                    .await
            }
        });
        let mut found = false;
        for answer in join_all(asks).await {
            let Ok(ControlReply::Slot { slot: Some(slot) }) = answer else {
                continue;
            };
            let _ = self.clock.update(&slot.stamp);
            self.registry.lock().apply(agent.clone(), slot);
            found = true;
        }
        if found {
            self.registry_changed();
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
        let Some((body, hops)) = self.held.append(&agent, (body, hops)) else {
            return Ok(());
        };
        match self.tell_now(&agent, body, hops) {
            Ok(None) => Ok(()),
            Ok(Some((body, hops))) => {
                self.hold(agent, body, hops);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// After the core said [`Next::Wait`]: waits until the registry or membership changes,
    /// but not past the time the decision may change by itself, nor `deadline`. Subscribes
    /// first and decides again, so that no change between the decision and the wait is missed
    /// (and the hot paths never touch the notifier).
    async fn wait_for_change(&self, agent: &AgentId, kind: Option<&str>, deadline: Instant) {
        let changed = self.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let Next::Wait { until } = next_step(self, agent, kind, state::now()) else {
            return;
        };
        let limit = until.map_or(deadline, |u| Instant::from_std(u).min(deadline));
        let _ = tokio::time::timeout_at(limit, changed).await;
    }

    /// Delivers one-way messages from a peer to `agent`, in order, as [`Inner::tell`] would
    /// one by one; a message that cannot be delivered is logged and dropped. When nothing is
    /// held for the agent and it runs here, the whole run goes in under one admission.
    pub(crate) fn tell_run(self: &Arc<Self>, agent: AgentId, run: Vec<(Value, u8)>) {
        if run.len() > 1 && !self.held.is_held(&agent) {
            if let Some(local) = self.locals.get(&agent) {
                if let Admission::Enter(pass) = local.gate.admit() {
                    for (body, _) in run {
                        // Accepted by the peer: queued even past the mailbox bound.
                        if let Err(e) = local.agent.deliver_value(body) {
                            tracing::debug!(target: "troupe::cluster", %agent, "tell dropped: {e}");
                        }
                    }
                    local.touched();
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
        if let Some(local) = self.locals.get(agent) {
            if let Admission::Enter(pass) = local.gate.admit() {
                // A cluster tell was accepted by its sender: it is not refused for a full
                // mailbox (remote one-way messages are not bounded yet).
                let r = local.agent.deliver_value(body);
                local.touched();
                drop(pass);
                return r.map(|()| None).map_err(|e| WireError::from_call(&e));
            }
            return Ok(Some((body, hops)));
        }
        match tell_step(&**self, agent, hops, state::now()) {
            TellStep::Forward(node) => {
                let msg = Msg::Tell {
                    agent: agent.clone(),
                    body,
                    hops: hops + 1,
                };
                self.transport
                    .send(&node, msg)
                    .map(|()| None)
                    .map_err(|e| unavailable(e.to_string()))
            }
            TellStep::Hold => Ok(Some((body, hops))),
            TellStep::Refuse(TellRefusal::TooManyHops) => Err(WireError::TooManyHops { hops }),
            TellStep::Refuse(TellRefusal::Missing) => Err(WireError::NoSuchAgent),
        }
    }

    fn hold(self: &Arc<Self>, agent: AgentId, body: Value, hops: u8) {
        if self.held.hold(&agent, (body, hops)) {
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
                if let Some(local) = self.locals.get(&agent) {
                    match local.gate.admit() {
                        Admission::Enter(_) => break true,
                        Admission::Wait(rx) => {
                            let _ = rx.await;
                            continue;
                        }
                    }
                }
                match held_step(&*self, &agent, asked_peers, state::now()) {
                    HeldStep::Deliver => break true,
                    HeldStep::Locate => {
                        asked_peers = true;
                        self.locate_from_peers(&agent).await;
                    }
                    HeldStep::Activate(record) => {
                        if let Err(e) = self.activate_local(record, true).await {
                            // A retry with a short backoff (bounded by the deadline): the
                            // activation failed (the node lost its lock race, or the kind
                            // failed to start), not a state to be told about.
                            tracing::debug!(target: "troupe::cluster", %agent,
                                "activation for held messages failed, retrying: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                    HeldStep::Wait { .. } => self.wait_for_change(&agent, None, deadline).await,
                    HeldStep::GiveUp => break false,
                }
            };
            loop {
                let Some(batch) = self.held.take(&agent) else {
                    return;
                };
                if batch.is_empty() {
                    if self.held.finish(&agent) {
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
                            self.held.put_back(&agent, back, rest);
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
            return Err(WireError::TooManyHops { hops });
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
        self.request_value(&node, id, msg, timeout).await
    }

    /// Starts an agent here (or finds it already running) and records it in the registry.
    pub(crate) async fn activate_local(
        self: &Arc<Self>,
        record: AgentRecord,
        announce: bool,
    ) -> Result<(), WireError> {
        if self.stopping.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(WireError::ShuttingDown {
                node: self.name.clone(),
            });
        }
        if let Some(kinds) = &self.config.kinds {
            if !kinds.contains(&record.kind) {
                return Err(WireError::Activation {
                    reason: format!("node {} does not host kind {}", self.name, record.kind),
                });
            }
        }
        let lock = self.locals.activation_lock(&record.agent);
        let _guard = lock.lock().await;
        if self.locals.contains(&record.agent) {
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
        // With a store, this node re-activates it when started again on that store.
        self.checkpoints.persist_own(&record);
        let local = Arc::new(LocalAgent::new(agent, record));
        let stamp = self.clock.now();
        // The agent becomes local and active in the registry under the registry's lock: a
        // merge (which decides under that lock which local agents lost ownership) never sees
        // it local while the registry still names its previous home.
        let change = {
            let mut registry = self.registry.lock();
            self.locals.insert(id.clone(), local);
            registry.activate(
                id.clone(),
                self.name.clone(),
                self.incarnation,
                version,
                stamp,
            )
        };
        self.registry_changed();
        if announce && change.is_some() {
            self.push_entry(&id);
        }
        tracing::debug!(target: "troupe::cluster", node = %self.name, agent = %id, "activated");
        Ok(())
    }
}
