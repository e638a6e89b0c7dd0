//! [`AgentRef`]: a typed handle to an agent, addressed by its logical id. It stays valid across
//! the agent's restarts.

use std::sync::Arc;
use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::MessagingErr;

use super::actor::{AgentMsg, AgentSlot};
use super::Agent;
use crate::error::{AgentError, CallError};
use crate::ids::AgentId;
use crate::snapshot::Snapshot;

/// A typed handle to an agent. Cheap to clone; survives the agent's restarts (calls made while
/// the agent is between a crash and its restart fail with [`CallError::AgentStopped`]).
pub struct AgentRef<A: Agent> {
    pub(crate) slot: Arc<AgentSlot<A>>,
}

impl<A: Agent> Clone for AgentRef<A> {
    fn clone(&self) -> Self {
        Self {
            slot: self.slot.clone(),
        }
    }
}

impl<A: Agent> std::fmt::Debug for AgentRef<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentRef")
            .field("id", &self.slot.id)
            .field("kind", &self.slot.kind)
            .finish()
    }
}

impl<A: Agent> AgentRef<A> {
    /// The agent's logical id.
    pub fn id(&self) -> &AgentId {
        &self.slot.id
    }

    /// The agent's kind name.
    pub fn kind(&self) -> &str {
        &self.slot.kind
    }

    /// Sends a request and waits for the reply, without a deadline.
    pub async fn ask(&self, request: A::Request) -> Result<A::Reply, CallError> {
        self.call(request, None, None).await
    }

    /// Sends a request and waits at most `timeout` for the reply.
    pub async fn ask_timeout(
        &self,
        request: A::Request,
        timeout: Duration,
    ) -> Result<A::Reply, CallError> {
        self.call(request, None, Some(timeout)).await
    }

    /// Sends a request without waiting for (or receiving) the reply. A request that cannot be
    /// delivered (the agent is stopped, or between a crash and its restart) is an error here
    /// and, when the runtime has a dead-letter store, a dead letter naming the agent and the
    /// request's type (see [`super::undelivered`]).
    pub fn tell(&self, request: A::Request) -> Result<(), CallError> {
        let result = self.send_tell(request);
        if let Err(error) = &result {
            super::undelivered::keep_typed::<A::Request>(
                &self.slot.runtime,
                &self.slot.id,
                &self.slot.kind,
                error,
            );
        }
        result
    }

    /// [`Self::tell`] without keeping a dead letter (the caller keeps its own).
    pub(crate) fn send_tell(&self, request: A::Request) -> Result<(), CallError> {
        let actor = self.actor()?;
        actor
            .send_message(AgentMsg::Tell(request))
            .map_err(|_| self.stopped())
    }

    /// Asks the agent for a snapshot of its state (`None` when its kind keeps none).
    pub async fn snapshot(&self) -> Result<Option<Snapshot>, CallError> {
        let actor = self.actor()?;
        match actor.call(AgentMsg::Snapshot, None).await {
            Ok(CallResult::Success(Ok(snapshot))) => Ok(snapshot),
            Ok(CallResult::Success(Err(error))) => Err(self.rejected(error)),
            Ok(CallResult::Timeout) | Ok(CallResult::SenderError) => Err(CallError::AgentFailed {
                agent: self.slot.id.clone(),
            }),
            Err(_) => Err(self.stopped()),
        }
    }

    /// The latest snapshot the runtime kept on its own (see [`super::Persistence`]).
    pub fn last_snapshot(&self) -> Option<Snapshot> {
        self.slot.last_snapshot.lock().clone()
    }

    /// Whether an actor currently serves the agent: one has finished its `init` and takes
    /// requests (it may still be finishing its start; requests then wait in its mailbox). The
    /// [`Self::watch_starts`] notification comes once this holds for a new start.
    pub fn is_running(&self) -> bool {
        self.slot
            .current()
            .is_some_and(|a| a.get_status() < ractor::ActorStatus::Draining)
    }

    /// How many times the agent has been started (restarts + 1).
    pub fn starts(&self) -> u64 {
        self.slot.starts.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The "agent started again" notification: the receiver sees the number of starts change
    /// each time an actor of the agent runs (after its `init`: [`Self::is_running`] holds), so a caller waiting for a
    /// crashed agent to come back is told instead of polling. Take it before checking
    /// [`Self::is_running`], so that a start in between is not missed.
    pub fn watch_starts(&self) -> tokio::sync::watch::Receiver<u64> {
        // A watcher that comes first makes the channel with the starts so far; a start after
        // that is sent by `post_start` (which marks the value changed even when equal).
        self.slot
            .started
            .get_or_init(|| {
                let starts = self.slot.starts.load(std::sync::atomic::Ordering::Relaxed);
                tokio::sync::watch::channel(starts).0
            })
            .subscribe()
    }

    /// Sends a request with an idempotency key (the agent sees it in
    /// [`AgentContext::idempotency_key`](super::AgentContext::idempotency_key)).
    pub(crate) async fn call(
        &self,
        request: A::Request,
        key: Option<std::sync::Arc<str>>,
        timeout: Option<Duration>,
    ) -> Result<A::Reply, CallError> {
        let actor = self.actor()?;
        match actor
            .call(|reply| AgentMsg::Ask(request, key, reply), timeout)
            .await
        {
            Ok(CallResult::Success(Ok(reply))) => Ok(reply),
            Ok(CallResult::Success(Err(error))) => Err(self.rejected(error)),
            Ok(CallResult::Timeout) => Err(CallError::Timeout {
                agent: self.slot.id.clone(),
                after: timeout.unwrap_or_default(),
            }),
            // The reply port was dropped unanswered: the agent crashed on this request.
            Ok(CallResult::SenderError) => Err(CallError::AgentFailed {
                agent: self.slot.id.clone(),
            }),
            Err(MessagingErr::SendErr(_))
            | Err(MessagingErr::ChannelClosed)
            | Err(MessagingErr::InvalidActorType) => Err(self.stopped()),
        }
    }

    fn actor(&self) -> Result<ractor::ActorRef<AgentMsg<A>>, CallError> {
        self.slot.current().ok_or_else(|| self.stopped())
    }

    fn stopped(&self) -> CallError {
        CallError::AgentStopped {
            agent: self.slot.id.clone(),
        }
    }

    fn rejected(&self, error: AgentError) -> CallError {
        CallError::Rejected {
            agent: self.slot.id.clone(),
            error,
        }
    }
}
