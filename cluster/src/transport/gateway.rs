//! The gateway actor: the one remotable actor per node. Peers send it frames; it hands them
//! to the node. Everything else on the node stays local (ARCHITECTURE.md: every remotable
//! actor is proxied on every peer, so there is exactly one).

use std::sync::Arc;

use ractor::message::SerializedMessage;
use ractor::{Actor, ActorProcessingErr, ActorRef, BytesConvertable, Message};

/// Receives frames from the network.
pub trait FrameSink: Send + Sync + 'static {
    /// A frame (still encoded) arrived from a peer.
    fn on_frame(&self, bytes: Vec<u8>);
}

/// What travels between gateways: one encoded [`crate::wire::Frame`].
#[derive(Debug)]
pub struct GatewayMsg(pub Vec<u8>);

impl Message for GatewayMsg {
    fn serializable() -> bool {
        true
    }

    fn serialize(self) -> Result<SerializedMessage, ractor::message::BoxedDowncastErr> {
        Ok(SerializedMessage::Cast {
            variant: "frame".into(),
            args: self.0.into_bytes(),
            metadata: None,
        })
    }

    fn deserialize(bytes: SerializedMessage) -> Result<Self, ractor::message::BoxedDowncastErr> {
        match bytes {
            SerializedMessage::Cast { args, .. } => Ok(Self(Vec::<u8>::from_bytes(args))),
            _ => Err(ractor::message::BoxedDowncastErr),
        }
    }
}

/// The process-group scope gateways join (ractor's groups are process-global, so the group
/// name carries the node's name: `gw.<node>`).
pub const SCOPE: &str = "troupe";

/// The group of node `name`'s gateway.
pub fn group(name: &str) -> String {
    format!("gw.{name}")
}

pub(crate) struct Gateway;

pub(crate) struct GatewayArgs {
    pub node: String,
    pub sink: Arc<dyn FrameSink>,
}

impl Actor for Gateway {
    type Msg = GatewayMsg;
    type State = Arc<dyn FrameSink>;
    type Arguments = GatewayArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: GatewayArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        ractor::pg::join_scoped(SCOPE.into(), group(&args.node), vec![myself.get_cell()]);
        Ok(args.sink)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: GatewayMsg,
        sink: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        sink.on_frame(msg.0);
        Ok(())
    }
}
