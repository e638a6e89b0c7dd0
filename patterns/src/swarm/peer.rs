//! The peer actor: a thin ractor shell around [`PeerCore`]. It feeds messages to the core and
//! carries out its commands: member calls run in their own tasks (so a peer keeps answering
//! steal requests while its member works), items and steal traffic go straight to other peers,
//! completions go to the entry's channel.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;
use troupe_runtime::{CallError, DynAgentRef, SupervisorRef};

use super::credit::Credit;
use super::engine::{CallOutcome, PeerCommand, PeerCore, PeerInput, PeerSettings, PeerStats};
use super::item::{ItemFailure, ItemId};
use crate::supervisor::team::changed;

/// Messages of a peer. Local only.
pub(crate) enum PeerMsg {
    /// The other peers, by index (sent once after all are spawned).
    Wire(Arc<[ActorRef<PeerMsg>]>),
    /// A protocol input of run `run`.
    Run { run: u64, input: PeerInput },
    /// This run's counters.
    Stats {
        run: u64,
        reply: RpcReplyPort<PeerStats>,
    },
}

impl ractor::Message for PeerMsg {}

/// What peers tell the entry.
pub(crate) enum EntryMsg {
    Done {
        run: u64,
        credit: Credit,
        result: Option<(ItemId, Value)>,
    },
    Failed {
        run: u64,
        credit: Credit,
        failure: ItemFailure,
    },
    /// A peer actor ended (sent from its state's drop, so also after a panic).
    PeerLost { peer: usize, id: ActorId },
}

/// How a peer calls its member.
#[derive(Clone)]
pub(crate) struct MemberLink {
    pub(crate) member: DynAgentRef,
    pub(crate) team: SupervisorRef,
    pub(crate) timeout: Option<Duration>,
    pub(crate) wait: Duration,
}

pub(crate) struct PeerActor;

pub(crate) struct PeerArgs {
    pub(crate) settings: PeerSettings,
    pub(crate) link: MemberLink,
    pub(crate) entry: UnboundedSender<EntryMsg>,
}

/// Tells the entry when the peer's state goes away.
struct LostGuard {
    entry: UnboundedSender<EntryMsg>,
    peer: usize,
    id: ActorId,
}

impl Drop for LostGuard {
    fn drop(&mut self) {
        let (peer, id) = (self.peer, self.id);
        let _ = self.entry.send(EntryMsg::PeerLost { peer, id });
    }
}

pub(crate) struct PeerState {
    core: PeerCore,
    me: usize,
    peers: Arc<[ActorRef<PeerMsg>]>,
    link: MemberLink,
    guard: LostGuard,
}

impl Actor for PeerActor {
    type Msg = PeerMsg;
    type State = PeerState;
    type Arguments = PeerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<PeerMsg>,
        args: PeerArgs,
    ) -> Result<PeerState, ActorProcessingErr> {
        let me = args.settings.me;
        Ok(PeerState {
            core: PeerCore::new(args.settings),
            me,
            peers: Arc::from(Vec::new()),
            link: args.link,
            guard: LostGuard {
                entry: args.entry,
                peer: me,
                id: myself.get_id(),
            },
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<PeerMsg>,
        message: PeerMsg,
        st: &mut PeerState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            PeerMsg::Wire(peers) => st.peers = peers,
            PeerMsg::Stats { run, reply } => {
                let stats = if run == st.core.run() {
                    st.core.stats()
                } else {
                    PeerStats::default()
                };
                let _ = reply.send(stats);
            }
            PeerMsg::Run { run, input } => {
                if run < st.core.run() {
                    return Ok(()); // a straggler of a finished run (control traffic only)
                }
                if run > st.core.run() {
                    st.core.begin(run);
                }
                for command in st.core.handle(input) {
                    st.execute(&myself, run, command);
                }
            }
        }
        Ok(())
    }
}

impl PeerState {
    fn execute(&self, myself: &ActorRef<PeerMsg>, run: u64, command: PeerCommand) {
        let me = self.me;
        match command {
            PeerCommand::Call(payload) => {
                let link = self.link.clone();
                let myself = myself.clone();
                tokio::spawn(async move {
                    let outcome = call_member(&link, payload).await;
                    let input = PeerInput::Finished(outcome);
                    let _ = myself.send_message(PeerMsg::Run { run, input });
                });
            }
            PeerCommand::Handoff { to, item } => self.send(to, run, PeerInput::Handoff(item)),
            PeerCommand::StealFrom(victim) => {
                self.send(victim, run, PeerInput::StealRequest { thief: me })
            }
            PeerCommand::Grant { thief, items } => {
                self.send(thief, run, PeerInput::Stolen { victim: me, items })
            }
            PeerCommand::Wake(thief) => self.send(thief, run, PeerInput::Wake { from: me }),
            PeerCommand::Decline(waker) => self.send(waker, run, PeerInput::Declined { thief: me }),
            PeerCommand::Done { credit, result } => {
                let _ = self.guard.entry.send(EntryMsg::Done {
                    run,
                    credit,
                    result,
                });
            }
            PeerCommand::Failed { credit, failure } => {
                let _ = self.guard.entry.send(EntryMsg::Failed {
                    run,
                    credit,
                    failure,
                });
            }
        }
    }

    /// A message to another peer. If that peer is gone, its own guard has told the entry,
    /// which ends the run with an error; items in this message are reported lost with it.
    fn send(&self, to: usize, run: u64, input: PeerInput) {
        if let Some(peer) = self.peers.get(to) {
            let _ = peer.send_message(PeerMsg::Run { run, input });
        }
    }
}

/// Calls the member once per attempt. A member between a crash and its restart is waited for
/// (that is not an attempt); one whose team gave up, or that stays down past `link.wait`,
/// fails the item.
async fn call_member(link: &MemberLink, payload: Value) -> CallOutcome {
    let member = &link.member;
    loop {
        match member.ask_value(payload.clone(), link.timeout).await {
            Ok(reply) => return CallOutcome::Replied(reply),
            Err(CallError::AgentFailed { agent }) => {
                return CallOutcome::Crashed(format!("member {agent} crashed"))
            }
            Err(CallError::AgentStopped { .. }) => {
                if let Err(error) = wait_for_member(link).await {
                    return CallOutcome::Failed {
                        error,
                        retryable: false,
                    };
                }
            }
            Err(e) => {
                return CallOutcome::Failed {
                    retryable: e.is_retryable(),
                    error: e.to_string(),
                }
            }
        }
    }
}

/// Waits until the member runs again (its "started again" notification), its team gave up
/// (the team's stop), or `link.wait` passed (the configured limit: a real timer). Nothing is
/// polled.
async fn wait_for_member(link: &MemberLink) -> Result<(), String> {
    let id = link.member.id();
    let mut started = link.member.watch_starts();
    let stopped = link.team.stopped();
    let deadline = tokio::time::sleep(link.wait);
    tokio::pin!(stopped, deadline);
    loop {
        if link.member.is_running() {
            return Ok(());
        }
        tokio::select! {
            biased;
            changed = changed(&mut started) => {
                if changed.is_err() {
                    started = None;
                }
            }
            _ = &mut stopped => return Err(format!("member {id} is down and its team gave up")),
            _ = &mut deadline => {
                return Err(format!(
                    "member {id} is down and did not restart within {:?}",
                    link.wait
                ))
            }
        }
    }
}
