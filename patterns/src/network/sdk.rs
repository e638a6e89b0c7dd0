//! The typed side for Rust users: a client for a running network pattern, and members written
//! as plain functions.

use serde_json::Value;
use troupe_runtime::{
    AgentError, AgentId, AgentRef, CallError, DynAgentRef, FnAgent, KindRegistry, Runtime,
    SpawnError,
};

use super::agent::NetworkPattern;
use super::config::NetworkConfig;
use super::protocol::{Answer, PeerInput, Step};
use crate::handoff::PatternHandle;

/// A typed handle to a running network pattern agent (however it was spawned).
#[derive(Clone)]
pub struct NetworkClient {
    handle: PatternHandle,
}

impl NetworkClient {
    /// Spawns a network pattern agent `id` with `config` on `runtime`.
    pub async fn spawn(
        runtime: &Runtime,
        id: impl Into<AgentId>,
        config: NetworkConfig,
    ) -> Result<Self, SpawnError> {
        let pattern = NetworkPattern::new(config).map_err(SpawnError::BadConfig)?;
        Ok(runtime.spawn(id, pattern).await?.into())
    }

    /// The pattern agent's id.
    pub fn id(&self) -> &AgentId {
        self.handle.id()
    }

    /// Delivers `message` to the entry member and waits for the network's answer.
    pub async fn ask(&self, message: impl Into<Value>) -> Result<Answer, CallError> {
        self.handle.ask(message.into()).await
    }
}

impl From<DynAgentRef> for NetworkClient {
    fn from(agent: DynAgentRef) -> Self {
        Self {
            handle: PatternHandle::from_dyn(agent),
        }
    }
}

impl From<AgentRef<NetworkPattern>> for NetworkClient {
    fn from(agent: AgentRef<NetworkPattern>) -> Self {
        Self {
            handle: PatternHandle::from_typed(agent),
        }
    }
}

impl std::fmt::Debug for NetworkClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkClient")
            .field("id", self.handle.id())
            .finish()
    }
}

/// A member written as a function from [`PeerInput`] to [`Step`]: a [`FnAgent`]. A panic in the
/// function crashes the member (its team restarts it).
pub type FnMember = FnAgent<PeerInput, Step>;

/// Registers kind `kind` whose agents are network [`FnMember`]s running `f` (config ignored).
pub fn register_member<F>(registry: &KindRegistry, kind: &str, description: &str, f: F)
where
    F: Fn(PeerInput) -> Result<Step, AgentError> + Send + Sync + 'static,
{
    let member = FnMember::new(f);
    registry.register(kind, description, move |_config: &Value| Ok(member.clone()));
}
