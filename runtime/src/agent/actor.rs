//! The actor that serves one agent: a thin ractor shell around the user's [`Agent`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::mailbox::{Mailbox, Permit};
use super::{Agent, AgentContext, Persistence};
use crate::error::AgentError;
use crate::events::{EventBus, EventKind};
use crate::ids::AgentId;
use crate::runtime::WeakRuntime;
use crate::snapshot::Snapshot;

/// Messages of an agent actor. Local only: they never cross a node. Requests hold their
/// place in the agent's [`Mailbox`](super::mailbox::Mailbox) until the handler takes them.
pub(crate) enum AgentMsg<A: Agent> {
    /// A request, with the caller's idempotency key if it has one.
    Ask(
        A::Request,
        Option<std::sync::Arc<str>>,
        RpcReplyPort<Result<A::Reply, AgentError>>,
        Permit,
    ),
    /// A one-way request; `None`: one accepted elsewhere (a peer node's), not counted
    /// against the bound (see [`super::DynAgent::deliver_value`]).
    Tell(A::Request, Option<Permit>),
    Snapshot(RpcReplyPort<Result<Option<Snapshot>, AgentError>>),
    /// The period of [`Persistence::Every`] has passed since the first unsaved request.
    Flush,
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
    /// The number of starts, sent each time an actor of the agent is running (after its
    /// `init`): the "agent started again" notification.
    /// Made on the first `watch_starts` (a watch channel is ~0.5 KB: most agents never have a
    /// watcher, and memory per agent is a budget).
    pub(crate) started: std::sync::OnceLock<tokio::sync::watch::Sender<u64>>,
    /// The runtime's store, for agents that persist (see [`super::persist`]).
    pub(crate) store: super::persist::SlotStore,
    /// The bound on queued requests (see [`super::mailbox`]).
    pub(crate) mailbox: Mailbox,
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
    /// Requests served since the last periodic snapshot ([`Persistence::Every`]).
    unsaved: bool,
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
            call_key: None,
        };
        let mut restored = slot.last_snapshot.lock().clone();
        if starts == 1 && slot.agent.persistence() != Persistence::Never {
            // First start: the store has the state of an earlier process (and the version
            // to continue from), unless the spawn gave a snapshot itself.
            let stored = slot.store.load(&slot.id).await?;
            restored = restored.or(stored);
        }
        let state = crate::crash::as_agent(&slot.id, slot.agent.init(&ctx, restored)).await?;
        *slot.current.write() = Some(myself);
        let kind = if starts == 1 {
            EventKind::AgentStarted
        } else {
            EventKind::AgentRestarted {
                restarts: starts - 1,
            }
        };
        slot.events.agent(&slot.id, kind);
        Ok(AgentActorState {
            ctx,
            state,
            unsaved: false,
        })
    }

    async fn post_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // The actor is current and takes requests (`is_running`): whoever waits for the agent
        // to be back sees it running.
        if let Some(started) = self.slot.started.get() {
            started.send_replace(st.ctx.starts);
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let agent = &self.slot.agent;
        match message {
            AgentMsg::Ask(request, key, reply, place) => {
                // Taken: the place in the mailbox is free for the next caller.
                drop(place);
                st.ctx.call_key = key;
                let result = crate::crash::as_agent(
                    &self.slot.id,
                    agent.handle(&st.ctx, &mut st.state, request),
                )
                .await;
                st.ctx.call_key = None;
                if result.is_ok() {
                    // With a store, the reply waits for the snapshot to be durable.
                    if let Some(reply) = self.persist(&myself, st, Some((reply, result))) {
                        // The caller may have given up (timeout): nothing to do then.
                        let _ = reply.0.send(reply.1);
                    }
                } else {
                    let _ = reply.send(result);
                }
            }
            AgentMsg::Tell(request, place) => {
                drop(place);
                let handled = agent.handle(&st.ctx, &mut st.state, request);
                match crate::crash::as_agent(&self.slot.id, handled).await {
                    Ok(_) => {
                        self.persist(&myself, st, None);
                    }
                    Err(error) => {
                        tracing::warn!(agent = %self.slot.id, %error, "agent rejected a one-way message")
                    }
                }
            }
            AgentMsg::Snapshot(reply) => {
                let _ = reply.send(agent.snapshot(&st.state));
            }
            AgentMsg::Flush => self.flush(st, None),
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
        if st.unsaved {
            let (tx, rx) = tokio::sync::oneshot::channel();
            self.flush(
                st,
                Some(Box::new(move |_| {
                    let _ = tx.send(());
                })),
            );
            let _ = rx.await;
        }
        self.slot.agent.stopped(&st.ctx, &mut st.state).await;
        self.slot
            .events
            .agent(&self.slot.id, EventKind::AgentStopped);
        Ok(())
    }
}

/// A reply held back until the snapshot after its request is durable.
type HeldReply<A> = (
    RpcReplyPort<Result<<A as Agent>::Reply, AgentError>>,
    Result<<A as Agent>::Reply, AgentError>,
);

impl<A: Agent> AgentActor<A> {
    /// After a request served without error: snapshots as the agent's [`Persistence`] says.
    /// Returns the reply when it may be sent now; keeps it when it waits for the store.
    fn persist(
        &self,
        myself: &ActorRef<AgentMsg<A>>,
        st: &mut AgentActorState<A>,
        reply: Option<HeldReply<A>>,
    ) -> Option<HeldReply<A>> {
        match self.slot.agent.persistence() {
            Persistence::Never => reply,
            Persistence::Every(period) => {
                if !st.unsaved {
                    st.unsaved = true;
                    myself.send_after(period, || AgentMsg::Flush);
                }
                reply
            }
            Persistence::AfterEachRequest => {
                let snapshot = match self.slot.agent.snapshot(&st.state) {
                    Ok(Some(snapshot)) => snapshot,
                    Ok(None) => return reply,
                    Err(error) => {
                        tracing::warn!(agent = %self.slot.id, %error, "snapshot failed");
                        return reply;
                    }
                };
                *self.slot.last_snapshot.lock() = Some(snapshot.clone());
                if !self.slot.store.is_enabled() {
                    return reply;
                }
                let done = reply.map(|(port, result)| {
                    let agent = self.slot.id.clone();
                    let location = self.slot.store.location().to_string();
                    Box::new(move |stored: Result<(), crate::store::StoreError>| {
                        let answer = match stored {
                            Ok(()) => result,
                            Err(e) => Err(AgentError::transient(format!(
                                "agent {agent}: its state could not be stored in {location}: {e}"
                            ))),
                        };
                        let _ = port.send(answer);
                    }) as super::persist::Done
                });
                self.slot.store.write(&self.slot.id, snapshot, done);
                None
            }
        }
    }

    /// Takes and writes the periodic snapshot ([`Persistence::Every`]); `done` when durable.
    fn flush(&self, st: &mut AgentActorState<A>, done: Option<super::persist::Done>) {
        st.unsaved = false;
        match self.slot.agent.snapshot(&st.state) {
            Ok(Some(snapshot)) => {
                *self.slot.last_snapshot.lock() = Some(snapshot.clone());
                self.slot.store.write(&self.slot.id, snapshot, done);
                return;
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(agent = %self.slot.id, %error, "snapshot failed"),
        }
        if let Some(done) = done {
            done(Ok(()));
        }
    }

    fn clear_if_current(&self, myself: &ActorRef<AgentMsg<A>>) {
        let mut current = self.slot.current.write();
        if current.as_ref().map(|c| c.get_id()) == Some(myself.get_id()) {
            *current = None;
        }
    }
}
