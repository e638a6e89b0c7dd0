//! The actor that serves one agent: a thin ractor shell around the user's [`Agent`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::{Agent, AgentContext, Persistence};
use crate::error::AgentError;
use crate::events::{EventBus, EventKind};
use crate::ids::AgentId;
use crate::runtime::WeakRuntime;
use crate::snapshot::Snapshot;

/// Messages of an agent actor. Local only: they never cross a node.
pub(crate) enum AgentMsg<A: Agent> {
    Ask(A::Request, RpcReplyPort<Result<A::Reply, AgentError>>),
    Tell(A::Request),
    Snapshot(RpcReplyPort<Result<Option<Snapshot>, AgentError>>),
}

impl<A: Agent> ractor::Message for AgentMsg<A> {}

/// What survives the agent's restarts: its identity, its configuration, the current actor and
/// the latest snapshot. Every [`super::AgentRef`] to the agent shares it.
pub(crate) struct AgentSlot<A: Agent> {
    pub(crate) id: AgentId,
    pub(crate) kind: Arc<str>,
    pub(crate) agent: Arc<A>,
    pub(crate) current: RwLock<Option<ActorRef<AgentMsg<A>>>>,
    pub(crate) starts: AtomicU64,
    pub(crate) last_snapshot: Mutex<Option<Snapshot>>,
    pub(crate) runtime: WeakRuntime,
    pub(crate) events: EventBus,
}

impl<A: Agent> AgentSlot<A> {
    pub(crate) fn current(&self) -> Option<ActorRef<AgentMsg<A>>> {
        self.current.read().clone()
    }
}

/// The ractor actor of one agent incarnation.
pub(crate) struct AgentActor<A: Agent> {
    pub(crate) slot: Arc<AgentSlot<A>>,
}

pub(crate) struct AgentActorState<A: Agent> {
    ctx: AgentContext,
    state: A::State,
}

impl<A: Agent> Actor for AgentActor<A> {
    type Msg = AgentMsg<A>;
    type State = AgentActorState<A>;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        _args: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        let slot = &self.slot;
        let starts = slot.starts.fetch_add(1, Ordering::Relaxed) + 1;
        let ctx = AgentContext {
            id: slot.id.clone(),
            kind: slot.kind.clone(),
            runtime: slot.runtime.clone(),
            starts,
            cell: Some(myself.get_cell()),
        };
        let restored = slot.last_snapshot.lock().clone();
        let state = slot.agent.init(&ctx, restored).await?;
        *slot.current.write() = Some(myself);
        let kind = if starts == 1 {
            EventKind::AgentStarted
        } else {
            EventKind::AgentRestarted {
                restarts: starts - 1,
            }
        };
        slot.events.agent(&slot.id, kind);
        Ok(AgentActorState { ctx, state })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let agent = &self.slot.agent;
        match message {
            AgentMsg::Ask(request, reply) => {
                let result = agent.handle(&st.ctx, &mut st.state, request).await;
                if result.is_ok() {
                    self.persist(st);
                }
                // The caller may have given up (timeout): nothing to do then.
                let _ = reply.send(result);
            }
            AgentMsg::Tell(request) => match agent.handle(&st.ctx, &mut st.state, request).await {
                Ok(_) => self.persist(st),
                Err(error) => {
                    tracing::warn!(agent = %self.slot.id, %error, "agent rejected a one-way message")
                }
            },
            AgentMsg::Snapshot(reply) => {
                let _ = reply.send(agent.snapshot(&st.state));
            }
        }
        Ok(())
    }

    /// The agent's children are its teams ([`AgentContext::start_team`]) and actors it linked
    /// ([`AgentContext::link`]). A child that fails (a team that gave up) fails the agent: the
    /// failure escalates to the agent's supervisor. Clean exits are ignored.
    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        event: ractor::SupervisionEvent,
        _st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            ractor::SupervisionEvent::ActorFailed(_, reason) => {
                Err(format!("agent {}: its team gave up: {reason}", self.slot.id).into())
            }
            _ => Ok(()),
        }
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        self.clear_if_current(&myself);
        self.slot.agent.stopped(&st.ctx, &mut st.state).await;
        self.slot
            .events
            .agent(&self.slot.id, EventKind::AgentStopped);
        Ok(())
    }
}

impl<A: Agent> AgentActor<A> {
    fn persist(&self, st: &AgentActorState<A>) {
        if self.slot.agent.persistence() != Persistence::AfterEachRequest {
            return;
        }
        match self.slot.agent.snapshot(&st.state) {
            Ok(Some(snapshot)) => *self.slot.last_snapshot.lock() = Some(snapshot),
            Ok(None) => {}
            Err(error) => tracing::warn!(agent = %self.slot.id, %error, "snapshot failed"),
        }
    }

    fn clear_if_current(&self, myself: &ActorRef<AgentMsg<A>>) {
        let mut current = self.slot.current.write();
        if current.as_ref().map(|c| c.get_id()) == Some(myself.get_id()) {
            *current = None;
        }
    }
}
