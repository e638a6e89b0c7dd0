//! The entry: the swarm agent's state (team, peers, the entry channel) and one run: seed the
//! items, feed completions to [`EntryCore`] until all credit is back, reduce, reply.

use std::sync::Arc;
use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{Actor, ActorRef};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use troupe_runtime::{AgentContext, AgentError, SupervisorRef};

use super::engine::{resolve_target, PeerInput, PeerSettings, PeerStats};
use super::entry::EntryCore;
use super::item::{Item, ItemFailure};
use super::peer::{EntryMsg, MemberLink, PeerActor, PeerArgs, PeerMsg};
use super::protocol::{Reducer, Target};
use super::{peer_groups, Replies, SwarmConfig};
use crate::member::{self, Member};

/// The reply of a swarm with `report: true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwarmReport {
    /// The reduced result of the items that completed.
    pub result: Value,
    /// Items that finally failed, in item order.
    pub failed: Vec<ItemFailure>,
    /// What each peer did.
    pub peers: Vec<PeerReport>,
}

/// One peer in a [`SwarmReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerReport {
    /// The peer's index.
    pub peer: usize,
    /// Its member agent's id.
    pub member: String,
    /// Its counters for the run.
    #[serde(flatten)]
    pub stats: PeerStats,
}

impl SwarmReport {
    /// Reads a swarm reply made with `report: true`.
    pub fn from_value(value: Value) -> Result<SwarmReport, crate::ProtocolError> {
        Self::from_value_text(value).map_err(crate::ProtocolError::from)
    }

    fn from_value_text(value: Value) -> Result<SwarmReport, String> {
        serde_json::from_value(value).map_err(|e| format!("not a swarm report: {e}"))
    }
}

/// The swarm agent's state.
pub struct SwarmState {
    team: SupervisorRef,
    members: Vec<Member>,
    groups: Arc<[String]>,
    peers: Arc<[ActorRef<PeerMsg>]>,
    tx: UnboundedSender<EntryMsg>,
    rx: UnboundedReceiver<EntryMsg>,
    run: u64,
}

impl SwarmState {
    /// Spawns the team and one peer per member.
    pub(crate) async fn start(ctx: &AgentContext, config: &SwarmConfig) -> Result<Self, String> {
        let (team, members) = member::spawn_team(ctx, &config.members, &config.team)
            .await
            .map_err(|e| e.to_string())?;
        let (tx, rx) = unbounded_channel();
        let mut st = SwarmState {
            team,
            members,
            groups: peer_groups(config),
            peers: Arc::from(Vec::new()),
            tx,
            rx,
            run: 0,
        };
        st.spawn_peers(config).await?;
        Ok(st)
    }

    /// Spawns the peers linked to the team (they die with it) and wires them together.
    async fn spawn_peers(&mut self, config: &SwarmConfig) -> Result<(), String> {
        let team_cell = self.team.cell().ok_or("the swarm's team is not running")?;
        let mut peers = Vec::with_capacity(self.members.len());
        for (me, m) in self.members.iter().enumerate() {
            let mut settings = PeerSettings::new(me, self.groups.clone());
            settings.max_attempts = config.max_attempts;
            settings.replies_are_results = config.replies == Replies::Results;
            if let Some(seed) = config.rng_seed {
                settings.rng_seed = seed;
            }
            let link = MemberLink {
                member: m.agent.clone(),
                team: self.team.clone(),
                timeout: config.item_timeout.map(Duration::from_secs_f64),
                wait: Duration::from_secs_f64(config.member_wait),
            };
            let args = PeerArgs {
                settings,
                link,
                entry: self.tx.clone(),
            };
            let (peer, _) = Actor::spawn_linked(None, PeerActor, args, team_cell.clone())
                .await
                .map_err(|e| format!("swarm peer {me} failed to start: {e}"))?;
            peers.push(peer);
        }
        self.peers = Arc::from(peers);
        for p in self.peers.iter() {
            let _ = p.send_message(PeerMsg::Wire(self.peers.clone()));
        }
        Ok(())
    }

    /// Stops the peers (the agent is stopping, or a run lost a peer).
    pub(crate) fn stop_peers(&mut self) {
        for p in self.peers.iter() {
            p.stop(Some("swarm stopping".into()));
        }
        self.peers = Arc::from(Vec::new());
    }

    /// Whether every peer is alive (starting counts: spawn returns before the status settles).
    fn peers_ok(&self) -> bool {
        !self.peers.is_empty()
            && self
                .peers
                .iter()
                .all(|p| p.get_status() <= ractor::ActorStatus::Upgrading)
    }

    /// One run: the request's items through the swarm until termination.
    pub(crate) async fn run(
        &mut self,
        config: &SwarmConfig,
        reducer: &Reducer,
        request: Value,
    ) -> Result<Value, AgentError> {
        if !self.peers_ok() {
            self.stop_peers();
            self.spawn_peers(config)
                .await
                .map_err(AgentError::transient)?;
        }
        let (items, to) = parse_request(request);
        let targets = self.seed_targets(to.as_ref())?;
        self.run += 1;
        let run = self.run;
        let (mut entry, placed) = EntryCore::seed(items, |i| targets[i % targets.len()]);
        if !entry.is_complete() {
            let mut per_peer: Vec<Vec<Item>> = self.peers.iter().map(|_| Vec::new()).collect();
            for (p, item) in placed {
                per_peer[p].push(item);
            }
            let idle: Vec<usize> = (0..per_peer.len())
                .filter(|&p| per_peer[p].is_empty())
                .collect();
            for (peer, items) in self.peers.iter().zip(per_peer) {
                let idle = idle.clone();
                let input = PeerInput::Seed { items, idle };
                if peer.send_message(PeerMsg::Run { run, input }).is_err() {
                    return Err(self.lost(None));
                }
            }
        }
        while !entry.is_complete() {
            let message = self.rx.recv().await;
            let done = match message {
                Some(EntryMsg::Done {
                    run: r,
                    credit,
                    result,
                }) if r == run => entry.on_done(credit, result),
                Some(EntryMsg::Failed {
                    run: r,
                    credit,
                    failure,
                }) if r == run => entry.on_failed(credit, failure),
                Some(EntryMsg::PeerLost { peer, id }) if self.is_current(peer, id) => {
                    return Err(self.lost(Some(peer)));
                }
                Some(_) => Ok(false), // a straggler of an aborted run, or a stale notice
                None => return Err(self.lost(None)),
            };
            done.map_err(|e| AgentError::permanent(format!("swarm: {e}")))?;
        }
        let outcome = entry.finish();
        let labels: Vec<String> = outcome
            .results
            .iter()
            .map(|(id, _)| id.to_string())
            .collect();
        let values = outcome.results.into_iter().map(|(_, v)| v).collect();
        let result = reducer.reduce(values, &labels)?;
        if config.report {
            let report = SwarmReport {
                result,
                failed: outcome.failures,
                peers: self.peer_reports(run).await,
            };
            return serde_json::to_value(report).map_err(|e| AgentError::permanent(e.to_string()));
        }
        if !outcome.failures.is_empty() {
            return Err(AgentError::permanent(failure_message(&outcome.failures)));
        }
        Ok(result)
    }

    /// Whether `id` is the current actor of peer `peer` (not one replaced earlier).
    fn is_current(&self, peer: usize, id: ractor::ActorId) -> bool {
        self.peers.get(peer).is_some_and(|p| p.get_id() == id)
    }

    /// A run lost a peer: its items are gone. Stop the rest; the next run starts new peers.
    fn lost(&mut self, peer: Option<usize>) -> AgentError {
        self.stop_peers();
        let who = peer.map_or("a swarm peer".to_string(), |p| format!("swarm peer {p}"));
        AgentError::transient(format!(
            "{who} stopped unexpectedly; the run's outstanding items are lost (retry the request)"
        ))
    }

    fn seed_targets(&self, to: Option<&Target>) -> Result<Vec<usize>, AgentError> {
        let all = 0..self.groups.len();
        let targets: Vec<usize> = match to {
            None => all.collect(),
            Some(Target::Group(g)) => all.filter(|&p| self.groups[p] == *g).collect(),
            Some(Target::Peer(p)) => all.filter(|q| q == p).collect(),
        };
        if targets.is_empty() {
            let mut rng = fastrand::Rng::with_seed(0);
            let why = to
                .and_then(|t| resolve_target(t, &self.groups, &mut rng).err())
                .unwrap_or_else(|| "the swarm has no peers".into());
            return Err(AgentError::permanent(format!(
                "swarm request: bad `to`: {why}"
            )));
        }
        Ok(targets)
    }

    async fn peer_reports(&self, run: u64) -> Vec<PeerReport> {
        let mut out = Vec::with_capacity(self.peers.len());
        for (i, p) in self.peers.iter().enumerate() {
            let stats = match p.call(|reply| PeerMsg::Stats { run, reply }, None).await {
                Ok(CallResult::Success(s)) => s,
                _ => PeerStats::default(),
            };
            out.push(PeerReport {
                peer: i,
                member: self.members[i].agent.id().to_string(),
                stats,
            });
        }
        out
    }
}

/// `{"items": [..]}` (optionally with `"to"`) is a batch; any other value is one item.
fn parse_request(request: Value) -> (Vec<Value>, Option<Target>) {
    match request {
        Value::Object(mut map) if is_batch(&map) => {
            let to = map
                .remove("to")
                .and_then(|t| serde_json::from_value(t).ok());
            match map.remove("items") {
                Some(Value::Array(items)) => (items, to),
                _ => (Vec::new(), to),
            }
        }
        other => (vec![other], None),
    }
}

fn is_batch(map: &serde_json::Map<String, Value>) -> bool {
    matches!(map.get("items"), Some(Value::Array(_)))
        && map.keys().all(|k| k == "items" || k == "to")
        && map
            .get("to")
            .is_none_or(|t| serde_json::from_value::<Target>(t.clone()).is_ok())
}

fn failure_message(failures: &[ItemFailure]) -> String {
    const SHOWN: usize = 3;
    let mut msg = format!("swarm: {} item(s) failed: ", failures.len());
    for (i, f) in failures.iter().take(SHOWN).enumerate() {
        if i > 0 {
            msg.push_str("; ");
        }
        msg.push_str(&format!("item {} ({}): {}", f.item, f.payload, f.error));
    }
    if failures.len() > SHOWN {
        msg.push_str(&format!("; and {} more", failures.len() - SHOWN));
    }
    msg
}
