//! The raw ractor equivalents of each pattern's hops: the same actors and messages, without the
//! agent layer, the JSON protocols or the patterns' bookkeeping (the payload is still a JSON
//! value, as it is through the patterns).

use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::scenario::{reason, Reason};
use crate::suites::err;

/// A request and its reply port.
pub(crate) struct Echo(pub Value, pub RpcReplyPort<Value>);

impl ractor::Message for Echo {}

/// What a raw node does with a request.
pub(crate) enum Shape {
    /// Answers with the request.
    Leaf,
    /// Answers with a fixed value.
    Answer(Value),
    /// Calls its child and answers `[answer]` (a level of a hierarchy).
    Nest(ActorRef<Echo>),
    /// Calls each node in turn, feeding each the previous answer (a coordinator, a chain).
    Sequence(Vec<ActorRef<Echo>>),
    /// Calls node 0; while an answer is `{"handoff": k}`, calls node k; answers the last.
    Router(Vec<ActorRef<Echo>>),
    /// Calls its member (if any), then passes the request and its reply port on to `next` by a
    /// one-way send, or answers (a network peer).
    Peer {
        member: Option<ActorRef<Echo>>,
        next: Option<ActorRef<Echo>>,
    },
}

pub(crate) struct Node;

async fn call(node: &ActorRef<Echo>, v: Value) -> Result<Value, ActorProcessingErr> {
    match node.call(|r| Echo(v, r), None).await? {
        CallResult::Success(answer) => Ok(answer),
        _ => Err("a raw node did not answer".into()),
    }
}

impl Actor for Node {
    type Msg = Echo;
    type State = Shape;
    type Arguments = Shape;

    async fn pre_start(
        &self,
        _: ActorRef<Echo>,
        shape: Shape,
    ) -> Result<Shape, ActorProcessingErr> {
        Ok(shape)
    }

    async fn handle(
        &self,
        _: ActorRef<Echo>,
        Echo(v, reply): Echo,
        shape: &mut Shape,
    ) -> Result<(), ActorProcessingErr> {
        let answer = match shape {
            Shape::Leaf => v,
            Shape::Answer(a) => a.clone(),
            Shape::Nest(child) => json!([call(child, v).await?]),
            Shape::Sequence(nodes) => {
                let mut v = v;
                for n in nodes.iter() {
                    v = call(n, v).await?;
                }
                v
            }
            Shape::Router(nodes) => {
                let mut at = 0;
                loop {
                    let answer = call(&nodes[at], v.clone()).await?;
                    match answer.get("handoff").and_then(Value::as_u64) {
                        Some(k) => at = k as usize,
                        None => break answer,
                    }
                }
            }
            Shape::Peer { member, next } => {
                let v = match member {
                    Some(m) => call(m, v).await?,
                    None => v,
                };
                if let Some(next) = next {
                    next.cast(Echo(v, reply))?;
                    return Ok(());
                }
                v
            }
        };
        let _ = reply.send(answer);
        Ok(())
    }
}

/// Spawns a raw node.
pub(crate) async fn node(shape: Shape) -> Result<ActorRef<Echo>, Reason> {
    Ok(Actor::spawn(None, Node, shape).await.map_err(reason)?.0)
}

/// One request through a raw topology.
pub(crate) async fn request(head: &ActorRef<Echo>) -> Result<Value, Reason> {
    match head.call(|r| Echo(json!(1), r), None).await {
        Ok(CallResult::Success(v)) => Ok(v),
        Ok(_) => Err("the raw topology did not answer".into()),
        Err(e) => Err(err("raw call", e)),
    }
}

/// The raw swarm pipeline: caller → peer actor → a task calling the member → peer → caller.
pub(crate) enum PeerMsg {
    Item(Value, oneshot::Sender<Value>),
    Finished(Value, oneshot::Sender<Value>),
}

impl ractor::Message for PeerMsg {}

pub(crate) struct SwarmPeer;

impl Actor for SwarmPeer {
    type Msg = PeerMsg;
    type State = ActorRef<Echo>;
    type Arguments = ActorRef<Echo>;

    async fn pre_start(
        &self,
        _: ActorRef<PeerMsg>,
        member: ActorRef<Echo>,
    ) -> Result<ActorRef<Echo>, ActorProcessingErr> {
        Ok(member)
    }

    async fn handle(
        &self,
        me: ActorRef<PeerMsg>,
        msg: PeerMsg,
        member: &mut ActorRef<Echo>,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PeerMsg::Item(v, done) => {
                let member = member.clone();
                tokio::spawn(async move {
                    if let Ok(r) = call(&member, v).await {
                        let _ = me.send_message(PeerMsg::Finished(r, done));
                    }
                });
            }
            PeerMsg::Finished(v, done) => {
                let _ = done.send(v);
            }
        }
        Ok(())
    }
}

/// One item through the raw swarm pipeline.
pub(crate) async fn swarm_item(peer: &ActorRef<PeerMsg>) -> Result<Value, Reason> {
    let (tx, rx) = oneshot::channel();
    peer.send_message(PeerMsg::Item(json!(1), tx))
        .map_err(|e| err("raw peer", e))?;
    rx.await
        .map_err(|_| "the raw swarm peer dropped the item".into())
}

/// Every actor of a raw topology, to stop them at teardown.
#[derive(Default)]
pub(crate) struct Actors(pub Vec<ractor::ActorCell>);

impl Actors {
    pub(crate) fn keep<T: ractor::Message>(&mut self, a: &ActorRef<T>) -> ActorRef<T> {
        self.0.push(a.get_cell());
        a.clone()
    }

    pub(crate) fn stop(self) {
        for a in self.0 {
            a.stop(None);
        }
    }
}
