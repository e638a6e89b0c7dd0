//! The kind registry: agent constructors by name, so that "activate kind K with config C (and
//! snapshot S) as agent A" is plain data — what a workflow file names, and what the cluster will
//! send to another node.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

use super::dynamic::{DynAgentRef, TypedDyn};
use super::Agent;
use crate::config::ConfigError;
use crate::error::SpawnError;
use crate::ids::AgentId;
use crate::runtime::{Runtime, SpawnOptions};
use crate::snapshot::Snapshot;
use crate::workflow::PatternAdapter;
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

type ValidateFn = dyn Fn(&Value) -> Result<(), ConfigError> + Send + Sync;

type NestedFn = dyn Fn(&Value) -> Vec<NestedAgent> + Send + Sync;

/// An agent that a config of another kind starts (a pattern's member, a custom pattern's node):
/// validation decodes its config too (see [`KindRegistry::nested_agents`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NestedAgent {
    /// Where its config sits inside the outer config, as a path (`/members/fetch/config`).
    pub path: String,
    /// Where its kind is named inside the outer config (`/members/fetch/type`).
    pub kind_path: String,
    /// Its kind.
    pub kind: String,
    /// Its config.
    pub config: Value,
}

/// Deepest nesting of agents inside agents that validation follows.
const MAX_NESTING: usize = 32;

/// The prefix of the kind names of orchestration patterns: pattern `swarm` is kind
/// `pattern.swarm`.
pub const PATTERN_PREFIX: &str = "pattern.";

/// A registered agent kind.
#[derive(Clone)]
pub struct AgentKind {
    name: Arc<str>,
    description: Arc<str>,
    spawn: Arc<SpawnFn>,
    validate: Arc<ValidateFn>,
    adapter: Option<PatternAdapter>,
    nested: Option<Arc<NestedFn>>,
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

    /// Checks `config` with the decoder the kind's factory uses, without starting an agent.
    pub fn validate(&self, config: &Value) -> Result<(), ConfigError> {
        (self.validate)(config)
    }

    /// For an orchestration pattern registered with [`KindRegistry::register_pattern`]: how a
    /// workflow file's pattern block and pools become its config.
    pub fn pattern_adapter(&self) -> Option<&PatternAdapter> {
        self.adapter.as_ref()
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
    /// what is wrong with the config, and where; its `kind` is set to `name`). The same factory
    /// validates configs without starting agents ([`AgentKind::validate`]). Requests arrive as
    /// JSON values decoded into `A::Request`; replies leave as JSON values. Registering a name
    /// again replaces it.
    pub fn register<A, F>(&self, name: &str, description: &str, factory: F)
    where
        A: Agent,
        A::Request: DeserializeOwned,
        A::Reply: Serialize,
        F: Fn(&Value) -> Result<A, ConfigError> + Send + Sync + 'static,
    {
        let kind = Self::kind_of(name, description, factory, None);
        self.write().insert(name.to_string(), kind);
    }

    /// Registers orchestration pattern `pattern` as kind `pattern.<pattern>` (see
    /// [`KindRegistry::register`]), with the `adapter` that turns a workflow file's pattern
    /// block and pools into its config. Workflow files name it as `orchestration_pattern`.
    pub fn register_pattern<A, F>(
        &self,
        pattern: &str,
        description: &str,
        factory: F,
        adapter: PatternAdapter,
    ) where
        A: Agent,
        A::Request: DeserializeOwned,
        A::Reply: Serialize,
        F: Fn(&Value) -> Result<A, ConfigError> + Send + Sync + 'static,
    {
        let name = format!("{PATTERN_PREFIX}{pattern}");
        let kind = Self::kind_of(&name, description, factory, Some(adapter));
        self.write().insert(name, kind);
    }

    fn kind_of<A, F>(
        name: &str,
        description: &str,
        factory: F,
        adapter: Option<PatternAdapter>,
    ) -> AgentKind
    where
        A: Agent,
        A::Request: DeserializeOwned,
        A::Reply: Serialize,
        F: Fn(&Value) -> Result<A, ConfigError> + Send + Sync + 'static,
    {
        let kind_name: Arc<str> = name.into();
        let factory = Arc::new(factory);
        let (k, f) = (kind_name.clone(), factory.clone());
        let validate: Arc<ValidateFn> =
            Arc::new(move |config| f(config).map(drop).map_err(|e| e.with_kind(&*k)));
        let k = kind_name.clone();
        let spawn: Arc<SpawnFn> = Arc::new(move |runtime, id, config, snapshot, options| {
            let factory = factory.clone();
            let kind = k.clone();
            Box::pin(async move {
                let agent =
                    factory(&config).map_err(|e| SpawnError::BadConfig(e.with_kind(&*kind)))?;
                let options = SpawnOptions {
                    kind: Some(kind.clone()),
                    snapshot,
                    ..options
                };
                let typed = runtime.spawn_with(id, agent, options).await?;
                Ok(Arc::new(TypedDyn::new(typed, kind)) as DynAgentRef)
            })
        });
        AgentKind {
            name: kind_name,
            description: description.into(),
            spawn,
            validate,
            adapter,
            nested: None,
        }
    }

    /// Says which agents a config of kind `name` starts (`f` reads a config the kind's decoder
    /// accepted), so that validation ([`KindLookup::validate_config`]) decodes their configs
    /// too, and theirs in turn, without starting anything. Returns whether `name` is
    /// registered.
    pub fn nested_agents(
        &self,
        name: &str,
        f: impl Fn(&Value) -> Vec<NestedAgent> + Send + Sync + 'static,
    ) -> bool {
        match self.write().get_mut(name) {
            Some(kind) => {
                kind.nested = Some(Arc::new(f));
                true
            }
            None => false,
        }
    }

    /// Checks `config` of `kind` with the kind's decoder, then the configs of the agents it
    /// starts ([`Self::nested_agents`]); a nested error's path starts at `config`'s root.
    fn validate_tree(
        &self,
        kind: &AgentKind,
        config: &Value,
        depth: usize,
    ) -> Result<(), ConfigError> {
        kind.validate(config)?;
        let Some(nested) = &kind.nested else {
            return Ok(());
        };
        for agent in nested(config) {
            let Some(inner) = self.get(&agent.kind) else {
                return Err(ConfigError::new(
                    &*kind.name,
                    agent.kind_path,
                    format!(
                        "unknown agent kind {:?}; known kinds: {}",
                        agent.kind,
                        self.names().join(", ")
                    ),
                ));
            };
            if depth >= MAX_NESTING {
                return Err(ConfigError::new(
                    &*kind.name,
                    agent.path,
                    format!("agents nested more than {MAX_NESTING} deep"),
                ));
            }
            self.validate_tree(&inner, &agent.config, depth + 1)
                .map_err(|e| e.under(&agent.path))?;
        }
        Ok(())
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

/// Answers what validation and planning ask about agent kinds, without needing a runtime: is
/// there a kind of this name, is its config good, which orchestration patterns exist.
pub trait KindLookup {
    /// Whether `name` is a known kind.
    fn has_kind(&self, name: &str) -> bool;
    /// Every known kind name, for error messages.
    fn kind_names(&self) -> Vec<String>;
    /// Checks the config of a kind without starting an agent (by default: every config is
    /// good; a [`KindRegistry`] asks the kind's own decoder, then those of the agents the
    /// config starts, see [`KindRegistry::nested_agents`]).
    fn validate_config(&self, kind: &str, config: &Value) -> Result<(), ConfigError> {
        let _ = (kind, config);
        Ok(())
    }
    /// The orchestration patterns known: the kinds named `pattern.<name>`, as `<name>`.
    fn pattern_names(&self) -> Vec<String> {
        pattern_names(self.kind_names())
    }
    /// How pattern `pattern` turns a workflow's pattern block and pools into its config (by
    /// default: [`PatternAdapter::members`]).
    fn pattern_adapter(&self, pattern: &str) -> PatternAdapter {
        let _ = pattern;
        PatternAdapter::members()
    }
}

fn pattern_names(kinds: Vec<String>) -> Vec<String> {
    kinds
        .into_iter()
        .filter_map(|k| k.strip_prefix(PATTERN_PREFIX).map(str::to_string))
        .collect()
}

impl KindLookup for KindRegistry {
    fn has_kind(&self, name: &str) -> bool {
        self.contains(name)
    }
    fn kind_names(&self) -> Vec<String> {
        self.names()
    }
    fn validate_config(&self, kind: &str, config: &Value) -> Result<(), ConfigError> {
        match self.get(kind) {
            Some(k) => self.validate_tree(&k, config, 0),
            None => Ok(()),
        }
    }
    fn pattern_adapter(&self, pattern: &str) -> PatternAdapter {
        self.get(&format!("{PATTERN_PREFIX}{pattern}"))
            .and_then(|k| k.adapter)
            .unwrap_or_else(PatternAdapter::members)
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
