//! The skynet tree three ways — a Troupe hierarchical pattern with function leaves, raw ractor
//! actors, plain tokio tasks — shared by the `tree` suite, `examples/skynet.rs` (1M leaves, one
//! process per variant) and the criterion bench `bench/benches/skynet.rs` (10k and 100k
//! leaves).
//!
//! A 10-ary tree whose leaves answer their index and whose inner nodes sum their ten children,
//! so the root answers n(n-1)/2 for n leaves.

use std::future::Future;
use std::pin::Pin;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde_json::json;
use tokio::sync::oneshot;
use troupe_patterns::hierarchical::{Combine, FunctionLeaf, Split, TeamSpec};
use troupe_runtime::AgentError;

// ---------------------------------------------------------------------------------------------
// Troupe: a hierarchical pattern tree with function leaves.

/// The tree for `leaves` leaves: teams of ten sub-teams down to teams of ten function leaves.
/// A team's input is `[start, size]`; child k gets `[start + k*size/10, size/10]`.
pub fn skynet_spec(leaves: u64) -> TeamSpec {
    let split = Split::custom(|input, children| {
        let start = input[0]
            .as_u64()
            .ok_or_else(|| AgentError::permanent("skynet: input[0] must be a number"))?;
        let size = input[1]
            .as_u64()
            .ok_or_else(|| AgentError::permanent("skynet: input[1] must be a number"))?;
        let part = size / children.len() as u64;
        Ok((0..children.len() as u64)
            .map(|k| json!([start + k * part, part]))
            .collect())
    });
    let leaf = FunctionLeaf::sync(|call| Ok(call.input[0].clone()));
    let mut spec = TeamSpec::new()
        .split(split.clone())
        .combine(Combine::Sum)
        .functions("l", 10, leaf);
    let mut size = 10;
    while size < leaves {
        spec = TeamSpec::new()
            .split(split.clone())
            .combine(Combine::Sum)
            .teams("t", 10, spec);
        size *= 10;
    }
    spec
}

// ---------------------------------------------------------------------------------------------
// Raw ractor: one actor per node, leaves included.

struct Node;

enum NodeMsg {
    Result(u64),
}

impl ractor::Message for NodeMsg {}

enum Parent {
    Actor(ActorRef<NodeMsg>),
    Root(oneshot::Sender<u64>),
}

impl Parent {
    fn report(self, value: u64) {
        match self {
            Parent::Actor(a) => {
                let _ = a.cast(NodeMsg::Result(value));
            }
            Parent::Root(tx) => {
                let _ = tx.send(value);
            }
        }
    }
}

struct NodeState {
    num: u64,
    size: u64,
    pending: u32,
    sum: u64,
    parent: Option<Parent>,
}

impl Actor for Node {
    type Msg = NodeMsg;
    type State = NodeState;
    type Arguments = (u64, u64, Parent);

    async fn pre_start(
        &self,
        _myself: ActorRef<NodeMsg>,
        (num, size, parent): (u64, u64, Parent),
    ) -> Result<NodeState, ActorProcessingErr> {
        Ok(NodeState {
            num,
            size,
            pending: 0,
            sum: 0,
            parent: Some(parent),
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<NodeMsg>,
        st: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        if st.size == 1 {
            if let Some(parent) = st.parent.take() {
                parent.report(st.num);
            }
            myself.stop(None);
            return Ok(());
        }
        let part = st.size / 10;
        for k in 0..10 {
            let args = (st.num + k * part, part, Parent::Actor(myself.clone()));
            Actor::spawn_linked(None, Node, args, myself.get_cell()).await?;
        }
        st.pending = 10;
        Ok(())
    }

    /// A child that finished is fine; a child that failed fails this node (to its parent).
    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<NodeMsg>,
        event: ractor::SupervisionEvent,
        _st: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            ractor::SupervisionEvent::ActorFailed(_, reason) => Err(reason),
            _ => Ok(()),
        }
    }

    async fn handle(
        &self,
        myself: ActorRef<NodeMsg>,
        msg: NodeMsg,
        st: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        let NodeMsg::Result(v) = msg;
        st.sum += v;
        st.pending -= 1;
        if st.pending == 0 {
            if let Some(parent) = st.parent.take() {
                parent.report(st.sum);
            }
            myself.stop(None);
        }
        Ok(())
    }
}

/// The raw ractor tree: the root answers the sum.
pub async fn ractor_skynet(leaves: u64) -> Result<u64, Box<dyn std::error::Error>> {
    let (tx, rx) = oneshot::channel();
    let (_root, handle) = Actor::spawn(None, Node, (0, leaves, Parent::Root(tx))).await?;
    let sum = rx.await?;
    handle.await?;
    Ok(sum)
}

// ---------------------------------------------------------------------------------------------
// Plain tokio tasks.

/// The tokio tree: a task per node.
pub fn tokio_skynet(num: u64, size: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if size == 1 {
            return num;
        }
        let part = size / 10;
        let children: Vec<_> = (0..10)
            .map(|k| tokio::spawn(tokio_skynet(num + k * part, part)))
            .collect();
        let mut sum = 0;
        for child in children {
            sum += child.await.unwrap_or(0);
        }
        sum
    })
}
