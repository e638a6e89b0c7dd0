//! The dynamic face of an agent: JSON values in and out, for callers that do not know the
//! agent's Rust types (workflow tasks, the CLI, later remote nodes).

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::Value;

use super::{Agent, AgentRef};
use crate::error::CallError;
use crate::ids::AgentId;
use crate::snapshot::Snapshot;
use crate::BoxFuture;

/// An agent called with JSON values. Implemented for every agent of a registered kind.
pub trait DynAgent: Send + Sync + 'static {
    /// The agent's logical id.
    fn id(&self) -> &AgentId;
    /// The agent's kind name.
    fn kind(&self) -> &str;
    /// Sends a JSON request (decoded into the agent's request type) and returns the JSON reply.
    fn ask_value(
        &self,
        request: Value,
        timeout: Option<Duration>,
    ) -> BoxFuture<'_, Result<Value, CallError>>;
    /// Like [`Self::ask_value`], with an idempotency key the agent sees in
    /// [`AgentContext::idempotency_key`](super::AgentContext::idempotency_key) (implementations
    /// that cannot pass it on ignore it).
    fn ask_value_keyed(
        &self,
        request: Value,
        key: &str,
        timeout: Option<Duration>,
    ) -> BoxFuture<'_, Result<Value, CallError>> {
        let _ = key;
        self.ask_value(request, timeout)
    }
    /// Sends a JSON request one way (the reply, if any, is dropped). Fails only when the
    /// request does not fit the agent, no actor serves it right now, or its mailbox is full
    /// ([`CallError::MailboxFull`]: nothing was queued).
    fn tell_value(&self, request: Value) -> Result<(), CallError>;
    /// Like [`Self::tell_value`] for a one-way message already accepted elsewhere (a peer
    /// node's, delivered in order from its connection): queued even when the mailbox is full
    /// (not counted against its bound), so that nothing accepted is lost. The default is
    /// [`Self::tell_value`].
    fn deliver_value(&self, request: Value) -> Result<(), CallError> {
        self.tell_value(request)
    }
    /// Asks the agent for a snapshot of its state.
    fn snapshot(&self) -> BoxFuture<'_, Result<Option<Snapshot>, CallError>>;
    /// Whether an actor currently serves the agent.
    fn is_running(&self) -> bool;
    /// How many times the agent has been started (restarts + 1).
    fn starts(&self) -> u64;
    /// The "agent started again" notification (see [`AgentRef::watch_starts`]). `None` when
    /// the implementation has none (then poll [`DynAgent::is_running`]).
    fn watch_starts(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
    /// The typed handle, for downcasting with [`DynAgentRef::typed`].
    fn as_any(&self) -> &dyn Any;
}

/// A shared handle to a dynamically typed agent.
pub type DynAgentRef = Arc<dyn DynAgent>;

/// Adapter from a typed [`AgentRef`] to [`DynAgent`].
pub(crate) struct TypedDyn<A: Agent> {
    inner: AgentRef<A>,
    kind: Arc<str>,
}

impl<A: Agent> TypedDyn<A> {
    pub(crate) fn new(inner: AgentRef<A>, kind: Arc<str>) -> Self {
        Self { inner, kind }
    }
}

impl<A> TypedDyn<A>
where
    A: Agent,
    A::Request: DeserializeOwned,
    A::Reply: Serialize,
{
    fn ask_with(
        &self,
        request: Value,
        key: Option<Arc<str>>,
        timeout: Option<Duration>,
    ) -> BoxFuture<'_, Result<Value, CallError>> {
        Box::pin(async move {
            let request: A::Request =
                serde_json::from_value(request).map_err(|e| CallError::BadRequest {
                    agent: self.inner.id().clone(),
                    reason: format!("request does not fit kind {}: {e}", self.kind),
                })?;
            let reply = self.inner.call(request, key, timeout).await?;
            serde_json::to_value(reply).map_err(|e| CallError::BadRequest {
                agent: self.inner.id().clone(),
                reason: format!("reply is not representable as JSON: {e}"),
            })
        })
    }

    /// A one-way JSON message; `accepted`: already accepted elsewhere (not bounded).
    fn tell_value_with(&self, request: Value, accepted: bool) -> Result<(), CallError> {
        // Decoded from a reference: a message that cannot be delivered is kept as it came.
        let result = match A::Request::deserialize(&request) {
            Ok(typed) if accepted => self.inner.deliver(typed),
            Ok(typed) => self.inner.send_tell(typed),
            Err(e) => Err(CallError::BadRequest {
                agent: self.inner.id().clone(),
                reason: format!("request does not fit kind {}: {e}", self.kind),
            }),
        };
        if let Err(error) = &result {
            super::undelivered::keep(&self.inner.slot.runtime, self.inner.id(), request, error);
        }
        result
    }
}

impl<A> DynAgent for TypedDyn<A>
where
    A: Agent,
    A::Request: DeserializeOwned,
    A::Reply: Serialize,
{
    fn id(&self) -> &AgentId {
        self.inner.id()
    }

    fn kind(&self) -> &str {
        &self.kind
    }

    fn ask_value(
        &self,
        request: Value,
        timeout: Option<Duration>,
    ) -> BoxFuture<'_, Result<Value, CallError>> {
        self.ask_with(request, None, timeout)
    }

    fn ask_value_keyed(
        &self,
        request: Value,
        key: &str,
        timeout: Option<Duration>,
    ) -> BoxFuture<'_, Result<Value, CallError>> {
        self.ask_with(request, Some(Arc::from(key)), timeout)
    }

    fn tell_value(&self, request: Value) -> Result<(), CallError> {
        self.tell_value_with(request, false)
    }

    fn deliver_value(&self, request: Value) -> Result<(), CallError> {
        self.tell_value_with(request, true)
    }

    fn snapshot(&self) -> BoxFuture<'_, Result<Option<Snapshot>, CallError>> {
        Box::pin(self.inner.snapshot())
    }

    fn is_running(&self) -> bool {
        self.inner.is_running()
    }

    fn watch_starts(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.inner.watch_starts())
    }

    fn starts(&self) -> u64 {
        self.inner.starts()
    }

    fn as_any(&self) -> &dyn Any {
        &self.inner
    }
}

/// Downcasting a dynamic handle back to its typed form.
pub trait DynAgentExt {
    /// The typed handle, when the agent is of type `A`.
    fn typed<A: Agent>(&self) -> Option<AgentRef<A>>;
}

impl DynAgentExt for DynAgentRef {
    fn typed<A: Agent>(&self) -> Option<AgentRef<A>> {
        self.as_any().downcast_ref::<AgentRef<A>>().cloned()
    }
}

impl std::fmt::Debug for dyn DynAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynAgent")
            .field("id", self.id())
            .field("kind", &self.kind())
            .finish()
    }
}
