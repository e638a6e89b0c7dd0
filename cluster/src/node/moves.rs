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

use troupe_runtime::AgentId;

use super::core::failover::{self, Takeover};
use super::core::moves::{self, Evacuate, Op, Owner};
use super::core::ownership::{self, AfterMerge, Resident};
use super::gate::Redirect;
use super::locals::LocalAgent;
use super::state::{self, join_all, Inner};
use crate::registry::NodeName;
use crate::wire::{AgentRecord, Control, ControlReply, Msg, WireError};

/// Migrates `agent` to `to` from whichever node runs it.
pub(crate) async fn migrate_anywhere(
    inner: &Arc<Inner>,
    agent: AgentId,
    to: NodeName,
) -> Result<(), WireError> {
    match owner(inner, Op::Migrate, &agent) {
        Owner::Here => migrate_local(inner, agent, to).await,
        Owner::Ask(owner) => inner
            .request_control(&owner, Control::Migrate { agent, to }, None)
            .await
            .map(|_| ()),
        Owner::Tombstone | Owner::Missing => Err(WireError::NoSuchAgent),
    }
}

/// Who carries out `op` on `agent` ([`moves::owner_for`]).
fn owner(inner: &Inner, op: Op, agent: &AgentId) -> Owner {
    let local = inner.locals.contains(agent);
    let slot = if local {
        None
    } else {
        inner.registry.lock().winner(agent).cloned()
    };
    moves::owner_for(op, local, slot.as_ref(), &inner.name, |n| inner.is_live(n))
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
        return Err(WireError::NotMember { node: to });
    }
    let Some(local) = inner.locals.get(&agent) else {
        return Err(WireError::NoSuchAgent);
    };
    if !local.gate.close_and_drain().await {
        return Err(WireError::Moving {
            agent: agent.clone(),
        });
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
        .request_value(&to, id, Msg::Activate { id, spec }, None)
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
            inner.registry_changed();
            inner.push_entry(&agent);
            inner.locals.remove(&agent);
            inner.checkpoints.forget_own(&agent);
            let backups = std::mem::take(&mut *local.backups.lock());
            for b in &moves::drop_after_migration(backups, &to) {
                let version = record.version;
                let _ = inner.transport.send(
                    b,
                    Msg::DropReplica {
                        agent: agent.clone(),
                        version,
                    },
                );
            }
            inner
                .stats
                .migrations
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let held = local.gate.release(Redirect::To(to.clone()));
            tracing::info!(target: "troupe::cluster", node = %inner.name, %agent, %to, held,
                "migrated");
            Ok(())
        }
        Err(e) => {
            // Resume here from the snapshot just taken; held calls retry against it.
            inner.locals.remove(&agent);
            let restored = inner.activate_local(record, true).await;
            local.gate.release(Redirect::Retry);
            tracing::warn!(target: "troupe::cluster", node = %inner.name, %agent, %to,
                "migration failed, agent kept here: {e}");
            restored.and(Err(e))
        }
    }
}

/// The agent's record with a fresh snapshot and a bumped version.
async fn checkpoint_record(local: &LocalAgent) -> Result<AgentRecord, WireError> {
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
    let Some(local) = inner.locals.get(agent) else {
        return Err(WireError::NoSuchAgent);
    };
    if !local.gate.close_and_drain().await {
        return Err(WireError::Moving {
            agent: agent.clone(),
        });
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
    inner.checkpoints.put(record.clone());
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
    inner.registry_changed();
    inner.push_entry(agent);
    inner.locals.remove(agent);
    local.gate.release(Redirect::Retry);
    tracing::debug!(target: "troupe::cluster", node = %inner.name, %agent, "passivated");
    Ok(())
}

/// Stops `agent` for good wherever it runs: drains it, stops it, writes a tombstone to the
/// registry and drops its checkpoints. Calls held meanwhile fail with `NoSuchAgent`.
pub(crate) async fn stop(inner: &Arc<Inner>, agent: &AgentId) -> Result<(), WireError> {
    let local = match owner(inner, Op::Stop, agent) {
        Owner::Here => inner.locals.get(agent),
        Owner::Ask(owner) => {
            let op = Control::Stop {
                agent: agent.clone(),
            };
            return inner.request_control(&owner, op, None).await.map(|_| ());
        }
        Owner::Tombstone => {
            tombstone(inner, agent, 0);
            return Ok(());
        }
        Owner::Missing => None,
    };
    let Some(local) = local else {
        return Err(WireError::NoSuchAgent);
    };
    if !local.gate.close_and_drain().await {
        return Err(WireError::Moving {
            agent: agent.clone(),
        });
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
    inner.locals.remove(agent);
    local.gate.release(Redirect::Retry);
    Ok(())
}

fn tombstone(inner: &Arc<Inner>, agent: &AgentId, _version: u64) {
    inner.checkpoints.remove(agent);
    let stamp = inner.clock.now();
    inner
        .registry
        .lock()
        .remove(agent.clone(), inner.name.clone(), inner.incarnation, stamp);
    inner.registry_changed();
    inner.push_entry(agent);
}

/// Stops a local agent that lost ownership after a registry merge (a partition healed and
/// another node's activation won). Calls held meanwhile go to the winner.
pub(crate) async fn yield_ownership(inner: &Arc<Inner>, agent: AgentId) {
    let Some(local) = inner.locals.get(&agent) else {
        return;
    };
    if !local.gate.close_and_drain().await {
        return;
    }
    let slot = inner.registry.lock().winner(&agent).cloned();
    let winner = match ownership::after_merge(slot.as_ref(), &inner.name) {
        AfterMerge::Keep => {
            local.gate.release(Redirect::Retry);
            return;
        }
        AfterMerge::Yield { winner } => winner,
    };
    inner.rt.stop_agent(agent.as_str()).await;
    inner.locals.remove(&agent);
    inner.checkpoints.forget_own(&agent);
    tracing::info!(target: "troupe::cluster", node = %inner.name, %agent, ?winner,
        "stopped a duplicate activation after a merge");
    local
        .gate
        .release(winner.map_or(Redirect::Retry, Redirect::To));
}

/// Stores a checkpoint sent by an agent's owner (newest version wins).
pub(crate) fn store_replica(inner: &Arc<Inner>, record: AgentRecord) {
    if inner.locals.contains(&record.agent) {
        return;
    }
    if inner.checkpoints.put_if_newer(record) {
        // A call waiting for this agent's failover may take over now.
        inner.registry_changed();
    }
}

/// A member was declared down: re-activate here every agent it ran whose checkpoint we hold,
/// when it is this node's turn (decided by [`failover::plan`]: the first live holder in
/// placement order at once, the others later and only if the agent is not active elsewhere
/// by then).
pub(crate) fn fail_over(inner: &Arc<Inner>, down: &NodeName) {
    let orphans = failover::orphans(inner.registry.lock().iter(), down);
    let now = state::now();
    for agent in orphans {
        let Some(record) = inner.checkpoints.get(&agent) else {
            continue;
        };
        let turn = inner.failover_turn(&agent, &record.kind);
        let inner = inner.clone();
        let down = down.clone();
        tokio::spawn(async move {
            let record = match failover::plan(record, turn, now) {
                Takeover::Now(record) => record,
                Takeover::At { at, record } => {
                    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                    let slot = inner.registry.lock().winner(&agent).cloned();
                    if inner.locals.contains(&agent)
                        || failover::taken_over(slot.as_ref(), &down, |n| inner.is_live(n))
                    {
                        return;
                    }
                    record
                }
            };
            match inner.activate_local(record, true).await {
                Ok(()) => {
                    inner
                        .stats
                        .failovers
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::info!(target: "troupe::cluster", node = %inner.name, %agent,
                        "re-activated from checkpoint after its node went down")
                }
                Err(e) => tracing::warn!(target: "troupe::cluster", node = %inner.name, %agent,
                    "failover activation failed: {e}"),
            }
        });
    }
}

/// Marks every local agent for a checkpoint (membership changed: backups may have moved).
pub(crate) fn mark_all_dirty(inner: &Arc<Inner>) {
    inner.locals.mark_all_dirty();
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
        for local in inner.locals.take_dirty() {
            if to_backups(&inner, &local).await.is_none() {
                local.mark_dirty();
            }
        }
    }
}

/// Sends a fresh checkpoint of a local agent to its backups (the next `config.backups` nodes
/// in placement order) and drops it from nodes that are no longer backups; with a store,
/// persists it there too. Returns the backups that were sent it and the version. `None` if
/// there is no other node and no store, or it could be neither sent nor persisted.
async fn to_backups(inner: &Arc<Inner>, local: &LocalAgent) -> Option<(Vec<NodeName>, u64)> {
    let (agent, kind) = {
        let r = local.record.lock();
        (r.agent.clone(), r.kind.clone())
    };
    let backups = inner.backups_for(&agent, &kind);
    let persists = inner.checkpoints.persists();
    if backups.is_empty() && !persists {
        return None;
    }
    let record = checkpoint_record(local).await.ok()?;
    inner.checkpoints.persist_own(&record);
    let version = record.version;
    let old = std::mem::replace(&mut *local.backups.lock(), backups.clone());
    let sent: Vec<NodeName> = backups
        .into_iter()
        .filter(|b| {
            let record = record.clone();
            inner.transport.send(b, Msg::Replica { record }).is_ok()
        })
        .collect();
    for gone in moves::stale_backups(&old, &sent) {
        let agent = agent.clone();
        let _ = inner
            .transport
            .send(gone, Msg::DropReplica { agent, version });
    }
    (persists || !sent.is_empty()).then_some((sent, version))
}

/// Checkpoints `agent` (local) to its backup and returns once the backup has stored it: a
/// `Locate` sent after the replica is answered only after the replica was handled (messages
/// between two nodes arrive in order).
pub(crate) async fn checkpoint_now(inner: &Arc<Inner>, agent: &AgentId) -> Result<u64, WireError> {
    let local = match owner(inner, Op::Checkpoint, agent) {
        Owner::Here => inner.locals.get(agent),
        Owner::Ask(owner) => {
            let op = Control::Checkpoint {
                agent: agent.clone(),
            };
            return match inner.request_control(&owner, op, None).await? {
                ControlReply::Checkpointed { version } => Ok(version),
                other => Err(WireError::UnexpectedReply {
                    node: owner,
                    request: "a checkpoint request".into(),
                    got: other.name().into(),
                }),
            };
        }
        Owner::Tombstone | Owner::Missing => None,
    };
    let Some(local) = local else {
        return Err(WireError::NoSuchAgent);
    };
    let Some((backups, version)) = to_backups(inner, &local).await else {
        return Err(WireError::NoBackup);
    };
    // With a store, the checkpoint is on this node's disk before the call returns.
    inner.checkpoints.flush().await;
    let asks = backups.into_iter().map(|backup| {
        let inner = inner.clone();
        let op = Control::Locate {
            agent: agent.clone(),
        };
        async move { inner.request_control(&backup, op, None).await }
    });
    for answer in join_all(asks).await {
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
        let now = state::now();
        for agent in inner.locals.idle(after, now) {
            let _ = passivate(&inner, &agent).await;
        }
    }
}

/// A node joined: move the movable agents that placement now assigns to it
/// ([`ownership::movers`]).
pub(crate) fn rebalance_towards(inner: &Arc<Inner>, peer: &NodeName) {
    if inner.stopping.load(Ordering::Relaxed) {
        return;
    }
    let residents = inner.locals.residents();
    let movers = ownership::movers(
        residents.iter().map(|(agent, kind, movable)| Resident {
            agent,
            kind,
            movable: *movable,
        }),
        peer,
        |agent, kind| inner.place(agent, Some(kind), None),
    );
    tracing::debug!(target: "troupe::cluster", node = %inner.name, %peer, movers = movers.len(),
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
    let agents = inner.locals.residents().into_iter().map(|(a, k, _)| (a, k));
    let plan = moves::evacuation(agents, |agent, kind| {
        inner.place(agent, Some(kind), Some(&inner.name))
    });
    for (agent, step) in plan {
        match step {
            Evacuate::To(to) => {
                if let Err(e) = migrate_local(inner, agent.clone(), to).await {
                    tracing::warn!(target: "troupe::cluster", %agent, "could not move away: {e}");
                }
            }
            Evacuate::Passivate => {
                let _ = passivate(inner, &agent).await;
            }
        }
    }
}
