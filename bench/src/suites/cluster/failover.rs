//! `kill -9` of a node running checkpointed agents: the time until the client sees every one
//! of them active on a live node, and, from the same kills, the time until its membership
//! no longer lists the node (failure detection alone).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fleet::{nonce, Fleet, IPS};
use super::paired::Paired;
use super::{agent_id, Context, FAILOVER_AGENTS};
use crate::scenario::{Prepared, Reason, Variant};
use crate::suites::err;
use serde_json::{json, Value};
use troupe_cluster::registry::NodeName;

/// How often the client's view is polled after the kill.
const POLL: Duration = Duration::from_millis(5);
/// A failover that takes longer fails the scenario.
const GIVE_UP: Duration = Duration::from_secs(30);

/// The base cluster (two worker nodes and the client), and the figures of the last round's
/// kills waiting for the variant that did not run them.
struct Kills {
    fleet: Fleet,
    run: String,
    victims: AtomicU64,
    paired: Paired,
}

impl Kills {
    /// `ops` samples: of the time until all agents are active elsewhere (`active`), or until
    /// the node is gone from the client's members. Both variants' samples come from the same
    /// kills.
    async fn samples(&self, active: bool, ops: u64) -> Result<Vec<u64>, Reason> {
        self.paired.samples(active, ops, || self.one_kill()).await
    }

    /// Starts a victim node, puts the agents on it, checkpoints them, kills it; the time until
    /// all of them are active elsewhere, and until the victim is no longer a member.
    async fn one_kill(&self) -> Result<(Duration, Duration), Reason> {
        let client = self.fleet.client();
        let k = self.victims.fetch_add(1, Ordering::Relaxed);
        let name = format!("victim-{}-{k}", self.run);
        let mut victim = self.fleet.start_node(&name, IPS[2]).await?;
        let node = victim.name.clone();
        self.fleet.wait_linked(std::slice::from_ref(&node)).await?;
        let ids: Vec<String> = (0..FAILOVER_AGENTS)
            .map(|i| agent_id(&format!("fo{k}-{i}")))
            .collect();
        for id in &ids {
            client
                .spawn_on(&node, "util.counter", id, Value::Null, false)
                .await
                .map_err(|e| err("spawning a counter on the victim", e))?;
            client
                .call(id, json!(1))
                .await
                .map_err(|e| err("calling a counter on the victim", e))?;
        }
        for id in &ids {
            checkpoint(client, id).await?;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ids.iter().all(|id| {
            client
                .locate(id)
                .is_some_and(|l| l.slot.is_active_on(&node))
        }) {
            if Instant::now() > deadline {
                return Err(format!("the client never saw the agents active on {node}"));
            }
            tokio::time::sleep(POLL).await;
        }

        let killed = Instant::now();
        victim.kill9();
        let (mut active, mut detected) = (None, None);
        while active.is_none() || detected.is_none() {
            tokio::time::sleep(POLL).await;
            let members: Vec<NodeName> = client.members().into_iter().map(|m| m.name).collect();
            if detected.is_none() && !members.contains(&node) {
                detected = Some(killed.elapsed());
            }
            if active.is_none()
                && ids.iter().all(|id| {
                    client.locate(id).is_some_and(|l| {
                        l.node != node && members.contains(&l.node) && l.slot.is_active_on(&l.node)
                    })
                })
            {
                active = Some(killed.elapsed());
            }
            if killed.elapsed() > GIVE_UP {
                return Err(format!(
                    "{GIVE_UP:?} after kill -9 of {node}: detected {detected:?}, all agents active \
                     elsewhere {active:?}"
                ));
            }
        }
        // Untimed: each agent resumed from its checkpoint (total 1), not fresh.
        for id in &ids {
            let r = client
                .call(id, json!({"get": true}))
                .await
                .map_err(|e| err("calling a failed-over counter", e))?;
            if r["total"] != 1 {
                return Err(format!("{id} resumed with {r}, not from its checkpoint"));
            }
        }
        for id in &ids {
            let _ = client.stop(id).await;
        }
        Ok((active.unwrap_or_default(), detected.unwrap_or_default()))
    }
}

/// Checkpoints `id`, retrying while its node has no backup to send it to yet (just joined).
async fn checkpoint(client: &troupe_cluster::node::ClusterNode, id: &str) -> Result<(), Reason> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match client.checkpoint(id).await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(err("checkpointing a counter", e)),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// The failover scenario: always on node processes of its own (it kills one per operation).
pub(super) async fn kill_9(ctx: Context) -> Result<Prepared, Reason> {
    let fleet = Fleet::local(&ctx, 2, "failover").await?;
    let base = fleet.note();
    let kills = Arc::new(Kills {
        fleet,
        run: nonce(),
        victims: AtomicU64::new(0),
        paired: Paired::default(),
    });
    let (a, b) = (kills.clone(), kills.clone());
    let subject = Variant::subject("troupe: all agents active elsewhere", move |ops| {
        let kills = a.clone();
        async move { kills.samples(true, ops).await }
    });
    let detection = Variant::baseline("membership: node declared down", move |ops| {
        let kills = b.clone();
        async move { kills.samples(false, ops).await }
    });
    let mut prepared = Prepared::new(vec![subject, detection])
        .note(format!(
            "each operation: a fresh node process on {} joins, gets {FAILOVER_AGENTS} util.counter \
             agents (called once, checkpointed), is killed with SIGKILL; the client's view is \
             polled every {} ms",
            IPS[2],
            POLL.as_millis()
        ))
        .note(format!("survivors: {base}"))
        .note(
            "no raw baseline exists (ractor_cluster has no failover): the second variant is the \
             detection part of the same kills",
        )
        .note("budget: under 3 s (ARCHITECTURE.md)");
    if ctx.cluster.is_some() {
        prepared = prepared.note("runs on node processes of its own, not on --cluster");
    }
    Ok(prepared.teardown(async move {
        if let Ok(kills) = Arc::try_unwrap(kills) {
            kills.fleet.shutdown().await;
        }
    }))
}
