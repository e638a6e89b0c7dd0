//! Peer actors: one per member, in the pattern's team. A peer receives a message, calls its
//! member, and acts on the answer itself — it sends the message on to the next member's peer
//! (a `cast`, no central loop), or answers the request. Peers find each other in the pattern's
//! own peer table (not ractor's process-global registry); a restarted peer registers again.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde_json::{Map, Value};
use troupe_runtime::DynAgentRef;

use super::error::NetworkError;
use super::protocol::{Answer, Send, Step};
use super::route::{check_deliveries, check_send, hops_left, Branch};
use crate::handoff::MemberCaller;

/// A message travelling through the network, with the branch of the request it belongs to.
pub(crate) struct Envelope {
    pub(crate) branch: Branch,
    pub(crate) message: Value,
    /// The members it passed through, ending with the one it is delivered to.
    pub(crate) path: Vec<Arc<str>>,
}

/// Messages of a peer actor (local only: they never cross a node).
pub(crate) enum PeerMsg {
    Deliver(Envelope),
}

impl ractor::Message for PeerMsg {}

/// What every peer of one pattern agent shares.
pub(crate) struct Net {
    peers: RwLock<HashMap<Arc<str>, ActorRef<PeerMsg>>>,
    /// Member names, sorted.
    pub(crate) members: Vec<String>,
    pub(crate) caller: MemberCaller,
    pub(crate) hop_budget: u32,
    pub(crate) message_budget: u32,
}

impl Net {
    pub(crate) fn new(
        members: Vec<String>,
        caller: MemberCaller,
        hop_budget: u32,
        message_budget: u32,
    ) -> Self {
        Self {
            peers: RwLock::new(HashMap::new()),
            members,
            caller,
            hop_budget,
            message_budget,
        }
    }

    /// Delivers `envelope` to the peer of `to` (the last name of its path); a peer that is not
    /// running fails the branch.
    pub(crate) fn deliver(&self, to: &str, envelope: Envelope) {
        let peer = self.peers.read().get(to).cloned();
        let sent = match peer {
            Some(peer) => peer.send_message(PeerMsg::Deliver(envelope)),
            None => {
                envelope.branch.fail(peer_down(to));
                return;
            }
        };
        if let Err(ractor::MessagingErr::SendErr(PeerMsg::Deliver(envelope))) = sent {
            envelope.branch.fail(peer_down(to));
        }
    }
}

/// The member's input for `envelope`, as JSON: `{"message", "from"?, "path", "hops_left"}`
/// (the JSON form of a [`super::PeerInput`], built without an intermediate copy).
fn peer_input(envelope: &Envelope, hop_budget: u32) -> Value {
    let path = &envelope.path;
    let mut map = Map::new();
    map.insert("message".into(), envelope.message.clone());
    if path.len() > 1 {
        map.insert(
            "from".into(),
            Value::String(path[path.len() - 2].to_string()),
        );
    }
    let names = path.iter().map(|s| Value::String(s.to_string())).collect();
    map.insert("path".into(), Value::Array(names));
    map.insert("hops_left".into(), hops_left(path.len(), hop_budget).into());
    Value::Object(map)
}

fn peer_down(agent: &str) -> NetworkError {
    NetworkError::PeerDown {
        agent: agent.to_string(),
    }
}

/// The peer actor of member `name`.
pub(crate) struct Peer {
    pub(crate) name: Arc<str>,
    pub(crate) member: DynAgentRef,
    pub(crate) net: Arc<Net>,
}

impl Actor for Peer {
    type Msg = PeerMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<PeerMsg>,
        _args: (),
    ) -> Result<(), ActorProcessingErr> {
        self.net.peers.write().insert(self.name.clone(), myself);
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<PeerMsg>,
        message: PeerMsg,
        _state: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let PeerMsg::Deliver(envelope) = message;
        self.serve(envelope).await;
        Ok(())
    }

    async fn post_stop(
        &self,
        myself: ActorRef<PeerMsg>,
        _state: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let mut peers = self.net.peers.write();
        if peers.get(&self.name).map(|p| p.get_id()) == Some(myself.get_id()) {
            peers.remove(&self.name);
        }
        Ok(())
    }
}

impl Peer {
    /// Calls the member with the message and acts on its step. The envelope's branch ends
    /// when the envelope is dropped at the end of this call.
    async fn serve(&self, envelope: Envelope) {
        if envelope.branch.is_done() {
            return; // another branch answered: nothing left to do
        }
        let net = &self.net;
        let input = || peer_input(&envelope, net.hop_budget);
        let answer = match net.caller.call(&self.member, input).await {
            Ok(answer) => answer,
            Err(error) => {
                let agent = self.name.to_string();
                return envelope.branch.fail(NetworkError::Member { agent, error });
            }
        };
        match Step::parse(answer) {
            Err(reason) => envelope.branch.fail(NetworkError::Protocol {
                agent: self.name.to_string(),
                reason: reason.reason,
            }),
            Ok(Step::Reply(answer)) => envelope.branch.answer(Answer {
                answer,
                path: envelope.path.iter().map(|s| s.to_string()).collect(),
            }),
            Ok(Step::Send(sends)) => {
                for send in sends {
                    self.send_on(&envelope, send);
                }
            }
        }
    }

    fn send_on(&self, envelope: &Envelope, send: Send) {
        let net = &self.net;
        let Send { to, message } = send;
        let checked =
            check_send(&envelope.path, &to, &net.members, net.hop_budget).and_then(|()| {
                let deliveries = envelope.branch.count_delivery();
                check_deliveries(&envelope.path, &to, deliveries, net.message_budget)
            });
        if let Err(e) = checked {
            return envelope.branch.fail(e);
        }
        let to: Arc<str> = to.into();
        let mut path = Vec::with_capacity(envelope.path.len() + 1);
        path.extend(envelope.path.iter().cloned());
        path.push(to.clone());
        let next = Envelope {
            branch: envelope.branch.split(),
            message: message.unwrap_or_else(|| envelope.message.clone()),
            path,
        };
        net.deliver(&to, next);
    }
}
