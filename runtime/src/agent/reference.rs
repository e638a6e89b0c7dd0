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

    /// Sends a request and waits for the reply, without a deadline. When the agent's mailbox
    /// is full, first waits for room.
    pub async fn ask(&self, request: A::Request) -> Result<A::Reply, CallError> {
        self.call(request, None, None).await
    }

    /// Sends a request and waits at most `timeout` for the reply; the time spent waiting for
    /// room in a full mailbox counts ([`CallError::Timeout`] when it runs out first).
    pub async fn ask_timeout(
        &self,
        request: A::Request,
        timeout: Duration,
    ) -> Result<A::Reply, CallError> {
        self.call(request, None, Some(timeout)).await
    }

    /// Sends a request without waiting for (or receiving) the reply. A full mailbox refuses
    /// it at once with [`CallError::MailboxFull`] (nothing is queued); [`Self::tell_wait`]
    /// waits for room instead. A request that cannot be delivered (the agent is stopped, or
    /// between a crash and its restart) is an error here and, when the runtime has a
    /// dead-letter store, a dead letter naming the agent and the request's type (see
    /// `agent::undelivered`).
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
        let place = self.slot.mailbox.try_place().ok_or_else(|| self.full())?;
        actor
            .send_message(AgentMsg::Tell(request, Some(place)))
            .map_err(|_| self.stopped())
    }

    /// A one-way request that was already accepted elsewhere (by a peer node, whose sender
    /// was told it went): queued even when the mailbox is full, so it is not lost, and not
    /// counted against the bound.
    pub(crate) fn deliver(&self, request: A::Request) -> Result<(), CallError> {
        self.actor()?
            .send_message(AgentMsg::Tell(request, None))
            .map_err(|_| self.stopped())
    }

    /// Like [`Self::tell`], but when the mailbox is full waits for room (at most `timeout`;
    /// `None`: as long as it takes). [`CallError::Timeout`] when the time ran out first:
    /// nothing was queued.
    pub async fn tell_wait(
        &self,
        request: A::Request,
        timeout: Option<Duration>,
    ) -> Result<(), CallError> {
        let place = match self.slot.mailbox.try_place() {
            Some(place) => place,
            None => {
                self.actor()?;
                self.place(timeout).await?
            }
        };
        self.actor()?
            .send_message(AgentMsg::Tell(request, Some(place)))
            .map_err(|_| self.stopped())
    }

    /// Requests queued for the agent right now (at most [`Self::mailbox_capacity`]).
    pub fn mailbox_len(&self) -> usize {
        self.slot.mailbox.queued()
    }

    /// How many requests the agent's mailbox holds before callers wait or are refused.
    pub fn mailbox_capacity(&self) -> usize {
        self.slot.mailbox.capacity()
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
        let (place, left) = match self.slot.mailbox.try_place() {
            Some(place) => (place, timeout),
            None => {
                // Full: fail fast if nobody serves the agent, else wait for room; what is
                // left of the deadline after the wait bounds the call.
                self.actor()?;
                let started = std::time::Instant::now();
                let place = self.place(timeout).await?;
                (place, timeout.map(|t| t.saturating_sub(started.elapsed())))
            }
        };
        let actor = self.actor()?;
        match actor
            .call(|reply| AgentMsg::Ask(request, key, reply, place), left)
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

    /// A place in the mailbox within `timeout` (a [`CallError::Timeout`] otherwise).
    async fn place(&self, timeout: Option<Duration>) -> Result<super::mailbox::Permit, CallError> {
        self.slot
            .mailbox
            .place(timeout)
            .await
            .ok_or_else(|| CallError::Timeout {
                agent: self.slot.id.clone(),
                after: timeout.unwrap_or_default(),
            })
    }

    fn full(&self) -> CallError {
        CallError::MailboxFull {
            agent: self.slot.id.clone(),
            capacity: self.slot.mailbox.capacity(),
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
