//! The typed side for Rust users: a client for a running handoff pattern, and members written
//! as plain functions.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;
use troupe_runtime::{
    Agent, AgentError, AgentId, AgentRef, BoxFuture, CallError, DynAgentRef, FnAgent, KindRegistry,
    Runtime, SpawnError,
};

use super::agent::HandoffPattern;
use super::config::HandoffConfig;
use super::protocol::{ConversationView, TurnInput, TurnOutcome};
use super::request::HandoffRequest;
use super::turn::Turn;

/// A JSON handle to a pattern agent, however it was spawned (by kind: a [`DynAgentRef`]; in
/// Rust: an [`AgentRef`]). Shared by the typed clients of the patterns.
#[derive(Clone)]
pub(crate) struct PatternHandle {
    id: AgentId,
    ask: Arc<AskFn>,
}

type AskFn = dyn Fn(Value) -> BoxFuture<'static, Result<Value, CallError>> + Send + Sync;

impl PatternHandle {
    pub(crate) fn from_dyn(agent: DynAgentRef) -> Self {
        let id = agent.id().clone();
        let ask = Arc::new(move |request: Value| {
            let agent = agent.clone();
            Box::pin(async move { agent.ask_value(request, None).await }) as BoxFuture<'static, _>
        });
        Self { id, ask }
    }

    pub(crate) fn from_typed<A>(agent: AgentRef<A>) -> Self
    where
        A: Agent<Request = Value, Reply = Value>,
    {
        let id = agent.id().clone();
        let ask = Arc::new(move |request: Value| {
            let agent = agent.clone();
            Box::pin(async move { agent.ask(request).await }) as BoxFuture<'static, _>
        });
        Self { id, ask }
    }

    pub(crate) fn id(&self) -> &AgentId {
        &self.id
    }

    /// Asks and decodes the reply as `T`.
    pub(crate) async fn ask<T: DeserializeOwned>(&self, request: Value) -> Result<T, CallError> {
        let reply = (self.ask)(request).await?;
        serde_json::from_value(reply).map_err(|e| CallError::BadRequest {
            agent: self.id.clone(),
            reason: format!("unexpected reply from the pattern: {e}"),
        })
    }
}

/// A typed handle to a running handoff pattern agent (however it was spawned).
#[derive(Clone)]
pub struct HandoffClient {
    handle: PatternHandle,
}

impl HandoffClient {
    /// Spawns a handoff pattern agent `id` with `config` on `runtime`.
    pub async fn spawn(
        runtime: &Runtime,
        id: impl Into<AgentId>,
        config: HandoffConfig,
    ) -> Result<Self, SpawnError> {
        let pattern = HandoffPattern::new(config).map_err(SpawnError::BadConfig)?;
        Ok(runtime.spawn(id, pattern).await?.into())
    }

    /// The pattern agent's id.
    pub fn id(&self) -> &AgentId {
        self.handle.id()
    }

    /// Runs a turn of `conversation` with `message` (a new id starts a conversation).
    pub async fn turn(
        &self,
        conversation: &str,
        message: impl Into<Value>,
    ) -> Result<TurnOutcome, CallError> {
        let request = HandoffRequest::turn(conversation, message);
        self.handle.ask(request.to_value()).await
    }

    /// Runs a turn, first merging `context` (an object) into the conversation's context.
    pub async fn turn_with_context(
        &self,
        conversation: &str,
        message: impl Into<Value>,
        context: Value,
    ) -> Result<TurnOutcome, CallError> {
        let request = HandoffRequest::Turn {
            conversation: conversation.into(),
            message: message.into(),
            context: Some(context),
        };
        self.handle.ask(request.to_value()).await
    }

    /// A conversation's state: its active member, context, stack and history.
    pub async fn query(&self, conversation: &str) -> Result<ConversationView, CallError> {
        let request = HandoffRequest::Query {
            conversation: conversation.into(),
        };
        self.handle.ask(request.to_value()).await
    }

    /// Ends a conversation, returning its final state.
    pub async fn end(&self, conversation: &str) -> Result<ConversationView, CallError> {
        let request = HandoffRequest::End {
            conversation: conversation.into(),
        };
        self.handle.ask(request.to_value()).await
    }
}

impl From<DynAgentRef> for HandoffClient {
    fn from(agent: DynAgentRef) -> Self {
        Self {
            handle: PatternHandle::from_dyn(agent),
        }
    }
}

impl From<AgentRef<HandoffPattern>> for HandoffClient {
    fn from(agent: AgentRef<HandoffPattern>) -> Self {
        Self {
            handle: PatternHandle::from_typed(agent),
        }
    }
}

impl std::fmt::Debug for HandoffClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandoffClient")
            .field("id", self.handle.id())
            .finish()
    }
}

/// A member written as a function from [`TurnInput`] to [`Turn`]: a [`FnAgent`]. A panic in the
/// function crashes the member (its team restarts it).
pub type FnMember = FnAgent<TurnInput, Turn>;

/// Registers kind `kind` whose agents are [`FnMember`]s running `f` (their config is ignored).
pub fn register_member<F>(registry: &KindRegistry, kind: &str, description: &str, f: F)
where
    F: Fn(TurnInput) -> Result<Turn, AgentError> + Send + Sync + 'static,
{
    let member = FnMember::new(f);
    registry.register(kind, description, move |_config: &Value| Ok(member.clone()));
}
