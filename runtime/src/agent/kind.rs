//! The kind registry: agent constructors by name, so that "activate kind K with config C (and
//! snapshot S) as agent A" is plain data — what a workflow file names, and what the cluster will
//! send to another node.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

use super::dynamic::{DynAgentRef, TypedDyn};
use super::Agent;
use crate::error::SpawnError;
use crate::ids::AgentId;
use crate::runtime::{Runtime, SpawnOptions};
use crate::snapshot::Snapshot;
use crate::BoxFuture;

type SpawnFn = dyn Fn(
        Runtime,
        AgentId,
        Value,
        Option<Snapshot>,
        SpawnOptions,
    ) -> BoxFuture<'static, Result<DynAgentRef, SpawnError>>
    + Send
    + Sync;

/// A registered agent kind.
#[derive(Clone)]
pub struct AgentKind {
    name: Arc<str>,
    description: Arc<str>,
    spawn: Arc<SpawnFn>,
}

impl AgentKind {
    /// The kind's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// One line saying what agents of this kind do.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Spawns an agent of this kind on `runtime`.
    pub async fn spawn(
        &self,
        runtime: &Runtime,
        id: AgentId,
        config: Value,
        snapshot: Option<Snapshot>,
        options: SpawnOptions,
    ) -> Result<DynAgentRef, SpawnError> {
        (self.spawn)(runtime.clone(), id, config, snapshot, options).await
    }
}

impl std::fmt::Debug for AgentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentKind")
            .field("name", &self.name)
            .finish()
    }
}

/// The agent kinds a runtime knows, by name. Each runtime has its own (no global registry).
#[derive(Clone, Default)]
pub struct KindRegistry {
    kinds: Arc<RwLock<BTreeMap<String, AgentKind>>>,
}

impl KindRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers kind `name`: `factory` builds the agent from its JSON config (an `Err` names
    /// what is wrong with the config). Requests arrive as JSON values decoded into
    /// `A::Request`; replies leave as JSON values. Registering a name again replaces it.
    pub fn register<A, F>(&self, name: &str, description: &str, factory: F)
    where
        A: Agent,
        A::Request: DeserializeOwned,
        A::Reply: Serialize,
        F: Fn(&Value) -> Result<A, String> + Send + Sync + 'static,
    {
        let kind_name: Arc<str> = name.into();
        let factory = Arc::new(factory);
        let k = kind_name.clone();
        let spawn: Arc<SpawnFn> = Arc::new(move |runtime, id, config, snapshot, options| {
            let factory = factory.clone();
            let kind = k.clone();
            Box::pin(async move {
                let agent = factory(&config).map_err(|reason| SpawnError::BadConfig {
                    kind: kind.to_string(),
                    reason,
                })?;
                let options = SpawnOptions {
                    kind: Some(kind.clone()),
                    snapshot,
                    ..options
                };
                let typed = runtime.spawn_with(id, agent, options).await?;
                Ok(Arc::new(TypedDyn::new(typed, kind)) as DynAgentRef)
            })
        });
        let kind = AgentKind {
            name: kind_name,
            description: description.into(),
            spawn,
        };
        self.write().insert(name.to_string(), kind);
    }

    /// The kind registered under `name`.
    pub fn get(&self, name: &str) -> Option<AgentKind> {
        self.read().get(name).cloned()
    }

    /// Whether `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.read().contains_key(name)
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    /// Every registered kind, sorted by name.
    pub fn kinds(&self) -> Vec<AgentKind> {
        self.read().values().cloned().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, AgentKind>> {
        self.kinds.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, AgentKind>> {
        self.kinds.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for KindRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// Answers "is there a kind of this name?" for validation, without needing a runtime.
pub trait KindLookup {
    /// Whether `name` is a known kind.
    fn has_kind(&self, name: &str) -> bool;
    /// Every known kind name, for error messages.
    fn kind_names(&self) -> Vec<String>;
}

impl KindLookup for KindRegistry {
    fn has_kind(&self, name: &str) -> bool {
        self.contains(name)
    }
    fn kind_names(&self) -> Vec<String> {
        self.names()
    }
}

impl KindLookup for [&str] {
    fn has_kind(&self, name: &str) -> bool {
        self.contains(&name)
    }
    fn kind_names(&self) -> Vec<String> {
        self.iter().map(|s| s.to_string()).collect()
    }
}
