//! Agents on the move: migration, passivation, checkpoints to a backup node, failover from
//! those checkpoints, rebalancing when a node joins, and evacuation on shutdown.
//!
//! Every move follows one protocol: close the agent's gate (new calls wait), drain the calls in
//! flight, snapshot, stop the actor, start it where it goes, update the registry, then release
//! the waiting calls towards the new home. Nothing is lost (calls wait at the gate, never in a
//! stopping mailbox) and nothing is handled twice (each call is admitted exactly once).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::Value;
use troupe_runtime::AgentId;

use super::gate::Redirect;
use super::inbound::unavailable;
use super::Inner;
use crate::registry::{NodeName, SlotState};
use crate::wire::{AgentRecord, Control, Msg, WireError};

/// Migrates `agent` to `to` from whichever node runs it.
pub(crate) async fn migrate_anywhere(
    inner: &Arc<Inner>,
    agent: AgentId,
    to: NodeName,
) -> Result<(), WireError> {
    if inner.local.contains_key(&agent) {
        return migrate_local(inner, agent, to).await;
    }
    let owner = inner
        .registry
        .lock()
        .winner(&agent)
        .filter(|s| s.state == SlotState::Active)
        .map(|s| s.node.clone());
    match owner {
        Some(owner) if owner != inner.name && inner.is_live(&owner) => {
            let id = inner.next_id();
            let op = Control::Migrate { agent, to };
            inner
                .request(&owner, id, Msg::Control { id, op }, None)
                .await
                .map(|_| ())
        }
        _ => Err(WireError::NoSuchAgent),
    }
}

/// Moves a local agent to `to` with its state.
pub(crate) async fn migrate_local(
    inner: &Arc<Inner>,
    agent: AgentId,
    to: NodeName,
) -> Result<(), WireError> {
    if to == inner.name {
        return Ok(());
    }
    if !inner.is_live(&to) {
        return Err(unavailable(format!("node {to} is not a live member")));
    }
    let Some(local) = inner.local.get(&agent).map(|e| e.value().clone()) else {
        return Err(WireError::NoSuchAgent);
    };
    if !local.gate.close_and_drain().await {
        return Err(unavailable(format!("agent {agent} is already moving")));
    }
    let record = match checkpoint_record(&local).await {
        Ok(r) => r,
        Err(e) => {
            local.gate.release(Redirect::Retry);
            return Err(e);
        }
    };
    inner.rt.stop_agent(agent.as_str()).await;
    let id = inner.next_id();
    let spec = record.clone();
    match inner
        .request(&to, id, Msg::Activate { id, spec }, None)
        .await
    {
        Ok(_) => {
            let incarnation = inner.members.read().get(&to).map_or(0, |m| m.incarnation);
            let stamp = inner.clock.now();
            inner.registry.lock().activate(
                agent.clone(),
                to.clone(),
                incarnation,
                record.version,
                stamp,
            );
            inner.push_entry(&agent);
            inner.local.remove(&agent);
            let backups = std::mem::take(&mut *local.backups.lock());
            for b in backups.iter().filter(|b| *b != &to) {
                let version = record.version;
                let _ = inner.transport.send(
                    b,
                    Msg::DropReplica {
                        agent: agent.clone(),
                        version,
                    },
                );
            }
            let held = local.gate.release(Redirect::To(to.clone()));
            tracing::info!(target: "troupe::cluster", node = %inner.name, %agent, %to, held,
                "migrated");
            Ok(())
        }
        Err(e) => {
            // Resume here from the snapshot just taken; held calls retry against it.
            inner.local.remove(&agent);
            let restored = inner.activate_local(record, true).await;
            local.gate.release(Redirect::Retry);
            tracing::warn!(target: "troupe::cluster", node = %inner.name, %agent, %to,
                "migration failed, agent kept here: {e}");
            restored.and(Err(e))
        }
    }
}

/// The agent's record with a fresh snapshot and a bumped version.
async fn checkpoint_record(local: &super::LocalAgent) -> Result<AgentRecord, WireError> {
    let snapshot = local
        .agent
        .snapshot()
        .await
        .map_err(|e| WireError::from_call(&e))?;
    let mut record = local.record.lock();
    record.version += 1;
    record.snapshot = snapshot.map(|s| s.as_bytes().to_vec());
    Ok(record.clone())
}

/// Snapshots a local agent, stops it and keeps the snapshot here; the next call re-activates
/// it on this node.
pub(crate) async fn passivate(inner: &Arc<Inner>, agent: &AgentId) -> Result<(), WireError> {
    let Some(local) = inner.local.get(agent).map(|e| e.value().clone()) else {
        return Err(WireError::NoSuchAgent);
    };
    if !local.gate.close_and_drain().await {
        return Err(unavailable(format!("agent {agent} is already moving")));
    }
    let record = match checkpoint_record(&local).await {
        Ok(r) => r,
        Err(e) => {
            local.gate.release(Redirect::Retry);
            return Err(e);
        }
    };
    inner.rt.stop_agent(agent.as_str()).await;
    let version = record.version;
    inner.replicas.insert(agent.clone(), record.clone());
    let backups = local.backups.lock().clone();
    for b in &backups {
        let record = record.clone();
        let _ = inner.transport.send(b, Msg::Replica { record });
    }
    let stamp = inner.clock.now();
    inner.registry.lock().passivate(
        agent.clone(),
        inner.name.clone(),
        inner.incarnation,
        version,
        stamp,
    );
    inner.push_entry(agent);
    inner.local.remove(agent);
    local.gate.release(Redirect::Retry);
    tracing::debug!(target: "troupe::cluster", node = %inner.name, %agent, "passivated");
    Ok(())
}

/// Stops `agent` for good wherever it runs: drains it, stops it, writes a tombstone to the
/// registry and drops its checkpoints. Calls held meanwhile fail with `NoSuchAgent`.
pub(crate) async fn stop(inner: &Arc<Inner>, agent: &AgentId) -> Result<(), WireError> {
    let Some(local) = inner.local.get(agent).map(|e| e.value().clone()) else {
        let owner = inner
            .registry
            .lock()
            .winner(agent)
            .filter(|s| s.state != SlotState::Removed)
            .map(|s| s.node.clone());
        return match owner {
            Some(owner) if owner != inner.name && inner.is_live(&owner) => {
                let id = inner.next_id();
                let op = Control::Stop {
                    agent: agent.clone(),
                };
                inner
                    .request(&owner, id, Msg::Control { id, op }, None)
                    .await
                    .map(|_| ())
            }
            Some(_) => {
                // Passivated here, or its node is gone: a tombstone is enough.
                tombstone(inner, agent, 0);
                Ok(())
            }
            None => Err(WireError::NoSuchAgent),
        };
    };
    if !local.gate.close_and_drain().await {
        return Err(unavailable(format!("agent {agent} is moving; try again")));
    }
    inner.rt.stop_agent(agent.as_str()).await;
    let version = local.record.lock().version;
    tombstone(inner, agent, version);
    let backups = std::mem::take(&mut *local.backups.lock());
    for b in &backups {
        let _ = inner.transport.send(
            b,
            Msg::DropReplica {
                agent: agent.clone(),
                version: u64::MAX,
            },
        );
    }
    inner.local.remove(agent);
    local.gate.release(Redirect::Retry);
    Ok(())
}

fn tombstone(inner: &Arc<Inner>, agent: &AgentId, _version: u64) {
    inner.replicas.remove(agent);
    let stamp = inner.clock.now();
    inner
        .registry
        .lock()
        .remove(agent.clone(), inner.name.clone(), inner.incarnation, stamp);
    inner.push_entry(agent);
}

/// Stops a local agent that lost ownership after a registry merge (a partition healed and
/// another node's activation won). Calls held meanwhile go to the winner.
pub(crate) async fn yield_ownership(inner: &Arc<Inner>, agent: AgentId) {
    let Some(local) = inner.local.get(&agent).map(|e| e.value().clone()) else {
        return;
    };
    if !local.gate.close_and_drain().await {
        return;
    }
    let slot = inner.registry.lock().winner(&agent).cloned();
    if slot.as_ref().is_some_and(|s| s.is_active_on(&inner.name)) {
        // Ownership came back here meanwhile (a newer write, e.g. a migration to this node
        // recorded after the merge that made it look lost): keep serving.
        local.gate.release(Redirect::Retry);
        return;
    }
    let winner = slot
        .filter(|s| s.state == SlotState::Active && s.node != inner.name)
        .map(|s| s.node.clone());
    inner.rt.stop_agent(agent.as_str()).await;
    inner.local.remove(&agent);
    tracing::info!(target: "troupe::cluster", node = %inner.name, %agent, ?winner,
        "stopped a duplicate activation after a merge");
    local
        .gate
        .release(winner.map_or(Redirect::Retry, Redirect::To));
}

/// Stores a checkpoint sent by an agent's owner (newest version wins).
pub(crate) fn store_replica(inner: &Arc<Inner>, record: AgentRecord) {
    if inner.local.contains_key(&record.agent) {
        return;
    }
    let agent = record.agent.clone();
    let newer = inner
        .replicas
        .get(&agent)
        .is_none_or(|r| r.version <= record.version);
    if newer {
        inner.replicas.insert(agent, record);
    }
}

/// A member was declared down: re-activate here every agent it ran whose checkpoint we hold,
/// when it is this node's turn ([`Inner::failover_turn`]: the first live holder in placement
/// order at once, the others later and only if the agent is not active elsewhere by then).
pub(crate) fn fail_over(inner: &Arc<Inner>, down: &NodeName) {
    let orphans: Vec<AgentId> = inner
        .registry
        .lock()
        .iter()
        .filter(|(_, s)| &s.node == down && s.state != SlotState::Removed)
        .map(|(id, _)| id.clone())
        .collect();
    for agent in orphans {
        let Some(mut record) = inner.replicas.get(&agent).map(|r| r.value().clone()) else {
            continue;
        };
        record.version += 1;
        let turn = inner.failover_turn(&agent, &record.kind);
        let inner = inner.clone();
        let down = down.clone();
        tokio::spawn(async move {
            if !turn.is_zero() {
                tokio::time::sleep(turn).await;
                if inner.local.contains_key(&agent) || taken_over(&inner, &agent, &down) {
                    return;
                }
            }
            match inner.activate_local(record, true).await {
                Ok(()) => tracing::info!(target: "troupe::cluster", node = %inner.name, %agent,
                    "re-activated from checkpoint after its node went down"),
                Err(e) => tracing::warn!(target: "troupe::cluster", node = %inner.name, %agent,
                    "failover activation failed: {e}"),
            }
        });
    }
}

/// Whether the registry says `agent` (whose node `down` went down) is active on a live node
/// again, or was stopped.
pub(crate) fn taken_over(inner: &Inner, agent: &AgentId, down: &NodeName) -> bool {
    inner.registry.lock().winner(agent).is_some_and(|s| {
        s.state == SlotState::Removed
            || (s.state == SlotState::Active && &s.node != down && inner.is_live(&s.node))
    })
}

/// Marks every local agent for a checkpoint (membership changed: backups may have moved).
pub(crate) fn mark_all_dirty(inner: &Arc<Inner>) {
    for e in inner.local.iter() {
        e.dirty.store(true, Ordering::Relaxed);
    }
}

/// Checkpoints agents that handled requests to their backup node, every `checkpoint_every`.
pub(crate) async fn checkpoints(inner: Weak<Inner>) {
    let every = match inner.upgrade() {
        Some(i) => i.config.checkpoint_every,
        None => return,
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        if inner.stopping.load(Ordering::Relaxed) {
            return;
        }
        let dirty: Vec<_> = inner
            .local
            .iter()
            .filter(|e| e.dirty.swap(false, Ordering::Relaxed))
            .map(|e| e.value().clone())
            .collect();
        for local in dirty {
            if to_backups(&inner, &local).await.is_none() {
                local.dirty.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// Sends a fresh checkpoint of a local agent to its backups (the next `config.backups` nodes
/// in placement order) and drops it from nodes that are no longer backups; returns the
/// backups that were sent it and the version. `None` if there is no other node, or no backup
/// could be sent it.
async fn to_backups(inner: &Arc<Inner>, local: &super::LocalAgent) -> Option<(Vec<NodeName>, u64)> {
    let (agent, kind) = {
        let r = local.record.lock();
        (r.agent.clone(), r.kind.clone())
    };
    let backups = inner.backups_for(&agent, &kind);
    if backups.is_empty() {
        return None;
    }
    let record = checkpoint_record(local).await.ok()?;
    let version = record.version;
    let old = std::mem::replace(&mut *local.backups.lock(), backups.clone());
    let sent: Vec<NodeName> = backups
        .into_iter()
        .filter(|b| {
            let record = record.clone();
            inner.transport.send(b, Msg::Replica { record }).is_ok()
        })
        .collect();
    for gone in old.iter().filter(|o| !sent.contains(o)) {
        let agent = agent.clone();
        let _ = inner
            .transport
            .send(gone, Msg::DropReplica { agent, version });
    }
    (!sent.is_empty()).then_some((sent, version))
}

/// Checkpoints `agent` (local) to its backup and returns once the backup has stored it: a
/// `Locate` sent after the replica is answered only after the replica was handled (messages
/// between two nodes arrive in order).
pub(crate) async fn checkpoint_now(inner: &Arc<Inner>, agent: &AgentId) -> Result<u64, WireError> {
    let Some(local) = inner.local.get(agent).map(|e| e.value().clone()) else {
        let owner = inner
            .registry
            .lock()
            .winner(agent)
            .filter(|s| s.state == SlotState::Active && s.node != inner.name)
            .map(|s| s.node.clone());
        let Some(owner) = owner else {
            return Err(WireError::NoSuchAgent);
        };
        let id = inner.next_id();
        let op = Control::Checkpoint {
            agent: agent.clone(),
        };
        let v = inner
            .request(&owner, id, Msg::Control { id, op }, None)
            .await?;
        return v
            .as_u64()
            .ok_or_else(|| unavailable("bad checkpoint reply"));
    };
    let Some((backups, version)) = to_backups(inner, &local).await else {
        return Err(unavailable("no live node to hold a checkpoint"));
    };
    let asks = backups.into_iter().map(|backup| {
        let inner = inner.clone();
        let op = Control::Locate {
            agent: agent.clone(),
        };
        async move {
            let id = inner.next_id();
            inner
                .request(&backup, id, Msg::Control { id, op }, None)
                .await
        }
    });
    for answer in super::route::futures_join_all(asks).await {
        answer?;
    }
    Ok(version)
}

/// Passivates agents idle for longer than `passivate_after`.
pub(crate) async fn passivate_idle(inner: Weak<Inner>) {
    let Some(after) = inner.upgrade().and_then(|i| i.config.passivate_after) else {
        return;
    };
    let mut tick =
        tokio::time::interval((after / 2).clamp(Duration::from_millis(10), Duration::from_secs(1)));
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        if inner.stopping.load(Ordering::Relaxed) {
            return;
        }
        let idle: Vec<AgentId> = inner
            .local
            .iter()
            .filter(|e| e.last_used.lock().elapsed() >= after)
            .map(|e| e.key().clone())
            .collect();
        for agent in idle {
            let _ = passivate(&inner, &agent).await;
        }
    }
}

/// A node joined: move the movable agents that placement now assigns to it.
pub(crate) fn rebalance_towards(inner: &Arc<Inner>, peer: &NodeName) {
    if !inner.config.rebalance_on_join || inner.stopping.load(Ordering::Relaxed) {
        return;
    }
    let movers: Vec<AgentId> = inner
        .local
        .iter()
        .filter(|e| {
            let r = e.record.lock();
            r.movable && inner.place(&r.agent, Some(&r.kind), None).as_ref() == Some(peer)
        })
        .map(|e| e.key().clone())
        .collect();
    tracing::debug!(target: "troupe::cluster", node = %inner.name, %peer, movers = movers.len(),
        candidates = ?inner.candidates(None).iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
        "rebalance towards a new link");
    if movers.is_empty() {
        return;
    }
    let inner = inner.clone();
    let peer = peer.clone();
    tokio::spawn(async move {
        for agent in movers {
            if let Err(e) = migrate_local(&inner, agent.clone(), peer.clone()).await {
                tracing::debug!(target: "troupe::cluster", %agent, "rebalance skipped: {e}");
            }
        }
    });
}

/// Moves every local agent away before this node leaves.
pub(crate) async fn evacuate(inner: &Arc<Inner>) {
    let agents: Vec<(AgentId, String)> = inner
        .local
        .iter()
        .map(|e| (e.key().clone(), e.record.lock().kind.clone()))
        .collect();
    for (agent, kind) in agents {
        match inner.place(&agent, Some(&kind), Some(&inner.name)) {
            Some(to) => {
                if let Err(e) = migrate_local(inner, agent.clone(), to).await {
                    tracing::warn!(target: "troupe::cluster", %agent, "could not move away: {e}");
                }
            }
            None => {
                let _ = passivate(inner, &agent).await;
            }
        }
    }
}

/// Node-level requests from peers. `None`: no reply expected.
pub(crate) async fn control(
    inner: &Arc<Inner>,
    from: &NodeName,
    op: Control,
) -> Option<Result<Value, WireError>> {
    match op {
        Control::Migrate { agent, to } => {
            Some(migrate_local(inner, agent, to).await.map(|()| Value::Null))
        }
        Control::Locate { agent } => {
            let slot = inner.registry.lock().winner(&agent).cloned();
            Some(Ok(serde_json::to_value(slot).unwrap_or(Value::Null)))
        }
        Control::Steal { max } => Some(Ok(super::tasks::on_steal(inner, from, max))),
        Control::Stop { agent } => Some(stop(inner, &agent).await.map(|()| Value::Null)),
        Control::Checkpoint { agent } => Some(checkpoint_now(inner, &agent).await.map(Value::from)),
        Control::WorkAvailable => {
            super::tasks::on_hint(inner, from);
            None
        }
        Control::TaskDone { key, result } => {
            super::tasks::on_task_done(inner, from, &key, result);
            None
        }
    }
}
