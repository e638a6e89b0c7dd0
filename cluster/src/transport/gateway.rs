//! The gateway actor: the one remotable actor per node. Peers send it frames; it hands them
//! to the node. Everything else on the node stays local (ARCHITECTURE.md: every remotable
//! actor is proxied on every peer, so there is exactly one).

use std::sync::Arc;

use ractor::message::SerializedMessage;
use ractor::{Actor, ActorProcessingErr, ActorRef, BytesConvertable, Message, SupervisionEvent};
use tokio::sync::Notify;

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
    /// Notified whenever a gateway (a peer's proxy included) joins or leaves a group of
    /// [`SCOPE`]: a new session's transport waits on it for the peer's gateway proxy.
    pub groups_changed: Arc<Notify>,
}

pub(crate) struct GatewayState {
    sink: Arc<dyn FrameSink>,
    groups_changed: Arc<Notify>,
}

impl Actor for Gateway {
    type Msg = GatewayMsg;
    type State = GatewayState;
    type Arguments = GatewayArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: GatewayArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        ractor::pg::monitor_scope(SCOPE.into(), myself.get_cell());
        ractor::pg::join_scoped(SCOPE.into(), group(&args.node), vec![myself.get_cell()]);
        Ok(GatewayState {
            sink: args.sink,
            groups_changed: args.groups_changed,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: GatewayMsg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.sink.on_frame(msg.0);
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ProcessGroupChanged(_) => state.groups_changed.notify_waiters(),
            // As ractor's default: a linked actor that ended ends the gateway (it has none).
            SupervisionEvent::ActorTerminated(..) | SupervisionEvent::ActorFailed(..) => {
                myself.stop(None);
            }
            _ => {}
        }
        Ok(())
    }
}
