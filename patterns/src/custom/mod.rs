//! The custom pattern (`pattern.custom`): a user-defined topology. Nodes are agents of any
//! registered kind — sub-patterns included (`pattern.swarm`, ...) — and edges are routes between
//! them. The topology must be acyclic; it is validated like a workflow DAG (by the workflow
//! planner), with every problem reported at once: a cycle is printed in edge direction
//! (`cycle: a -> b -> c -> a`), an edge to an unknown node names the edge and the nodes that
//! exist.
//!
//! **Semantics** (dataflow, see [`Flow`] for the details): the request enters every root; a
//! node's output flows along its outgoing edges; a node with several incoming edges waits for
//! all of them and receives an object keyed by predecessor; a node with conditional edges
//! (`"when": "approve"`) replies `{"route": "approve", "output": ...}` (see [`route`]) and only
//! the chosen routes fire (unconditional edges always do); a node none of whose incoming edges
//! fired is skipped. The reply is the `exit` node's output, or, without an `exit`, the output
//! of the only sink, or an object keyed by the sinks that ran. Independent branches run
//! concurrently. A node that fails fails the request with the node named.
//!
//! **Config** (`pattern.custom`):
//!
//! ```json
//! {
//!   "nodes": {
//!     "draft":   {"type": "text.transform", "config": {"op": "trim"}},
//!     "review":  {"type": "my.reviewer"},
//!     "publish": {"type": "util.echo"}
//!   },
//!   "edges": [
//!     {"from": "draft", "to": "review"},
//!     {"from": "review", "to": "publish", "when": "approve"}
//!   ],
//!   "exit": "publish"
//! }
//! ```
//!
//! `team` (a [`TeamPolicy`]) sets the nodes' supervision. Member ids are
//! `<agent id>/<node>/0`.

mod flow;
mod topology;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::task::JoinSet;
use troupe_runtime::workflow::PatternAdapter;
use troupe_runtime::ConfigError;
use troupe_runtime::{
    Agent, AgentContext, AgentError, CallError, DynAgentRef, KindLookup, KindRegistry, Snapshot,
};

pub use self::flow::{Flow, FlowError, Run};
pub use self::topology::{CustomError, CustomErrors, Exit, Out, Topology};
use crate::member::{self, MemberSpec, TeamPolicy};

/// The kind name.
pub const KIND: &str = "pattern.custom";

/// Registers the `pattern.custom` kind. Configs are checked against the kinds of `registry`
/// (as registered when an agent is spawned).
pub fn register(registry: &KindRegistry) {
    let kinds = registry.clone();
    registry.register_pattern(
        "custom",
        "a user-defined acyclic topology of agents and sub-patterns, routed by their replies",
        move |config: &Value| {
            let custom = Custom::from_config(config)?;
            custom
                .validate(&kinds)
                .map_err(|e| crate::member::config_error(KIND, e.to_string()))?;
            Ok(custom)
        },
        nodes_adapter(),
    );
    registry.nested_agents(KIND, |config| crate::member::nested_in(config, "nodes"));
}

/// A workflow file's pools become the topology's `nodes` (`type`, `config`: one agent per
/// node), unless the `pattern:` block lists its own.
fn nodes_adapter() -> PatternAdapter {
    PatternAdapter::new(|mut block, pools| {
        if !block.contains_key("nodes") {
            let nodes: serde_json::Map<String, Value> = pools
                .iter()
                .map(|(name, p)| {
                    let node = serde_json::json!({"type": p.kind, "config": p.config});
                    (name.clone(), node)
                })
                .collect();
            block.insert("nodes".into(), Value::Object(nodes));
        }
        Value::Object(block)
    })
}

/// A route reply for a node with conditional edges: `{"route": route, "output": output}`.
pub fn route(route: &str, output: impl Into<Value>) -> Value {
    serde_json::json!({"route": route, "output": output.into()})
}

/// A node: an agent of a registered kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// The agent kind.
    #[serde(rename = "type")]
    pub kind: String,
    /// The kind's config.
    #[serde(default)]
    pub config: Value,
}

impl NodeSpec {
    /// A node of `kind` with a null config.
    pub fn new(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            config: Value::Null,
        }
    }

    /// Sets the config.
    pub fn config(mut self, config: Value) -> Self {
        self.config = config;
        self
    }
}

/// An edge: `from`'s output goes to `to`, always or (with `when`) when `from` chose that route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeSpec {
    /// The sending node.
    pub from: String,
    /// The receiving node.
    pub to: String,
    /// The route label that fires this edge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
}

/// The JSON config of `pattern.custom`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomConfig {
    /// The nodes by name.
    pub nodes: BTreeMap<String, NodeSpec>,
    /// The edges.
    #[serde(default)]
    pub edges: Vec<EdgeSpec>,
    /// The node whose output is the reply.
    #[serde(default)]
    pub exit: Option<String>,
    /// The nodes' supervision.
    #[serde(default)]
    pub team: TeamPolicy,
}

/// The custom agent. Build it with [`Custom::builder`] or [`Custom::from_config`].
#[derive(Debug, Clone)]
pub struct Custom {
    config: CustomConfig,
    topology: Topology,
}

impl Custom {
    /// A custom agent from a config whose structure is valid (kinds are checked at start, or
    /// with [`Custom::validate`]).
    pub fn new(config: CustomConfig) -> Result<Custom, CustomErrors> {
        let topology = Topology::structure(&config)?;
        Ok(Custom { config, topology })
    }

    /// Decodes and checks a JSON config.
    pub fn from_config(config: &Value) -> Result<Custom, ConfigError> {
        let config: CustomConfig = member::decode_config(KIND, config)?;
        Custom::new(config).map_err(|e| crate::member::config_error(KIND, e.to_string()))
    }

    /// Starts a topology in code.
    pub fn builder() -> CustomBuilder {
        CustomBuilder {
            config: CustomConfig::default(),
        }
    }

    /// Checks the topology against the agent kinds of `kinds`.
    pub fn validate<K: KindLookup + ?Sized>(&self, kinds: &K) -> Result<(), CustomErrors> {
        Topology::new(&self.config, kinds).map(|_| ())
    }

    /// The validated topology.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The config.
    pub fn config(&self) -> &CustomConfig {
        &self.config
    }
}

/// Builds a [`Custom`] topology in code.
#[derive(Debug, Clone)]
pub struct CustomBuilder {
    config: CustomConfig,
}

impl CustomBuilder {
    /// Adds (or replaces) a node.
    pub fn node(mut self, name: impl Into<String>, node: NodeSpec) -> Self {
        self.config.nodes.insert(name.into(), node);
        self
    }

    /// Adds an unconditional edge.
    pub fn edge(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.config.edges.push(EdgeSpec {
            from: from.into(),
            to: to.into(),
            when: None,
        });
        self
    }

    /// Adds a conditional edge, fired when `from` replies with route `when`.
    pub fn route(
        mut self,
        from: impl Into<String>,
        to: impl Into<String>,
        when: impl Into<String>,
    ) -> Self {
        self.config.edges.push(EdgeSpec {
            from: from.into(),
            to: to.into(),
            when: Some(when.into()),
        });
        self
    }

    /// Sets the node whose output is the reply.
    pub fn exit(mut self, node: impl Into<String>) -> Self {
        self.config.exit = Some(node.into());
        self
    }

    /// Sets the nodes' supervision.
    pub fn team(mut self, team: TeamPolicy) -> Self {
        self.config.team = team;
        self
    }

    /// Checks the structure and builds.
    pub fn build(self) -> Result<Custom, CustomErrors> {
        Custom::new(self.config)
    }
}

/// The custom agent's state: one member per node, by node index.
pub struct CustomState {
    nodes: Vec<DynAgentRef>,
}

impl Agent for Custom {
    type Request = Value;
    type Reply = Value;
    type State = CustomState;

    async fn init(
        &self,
        ctx: &AgentContext,
        _restored: Option<Snapshot>,
    ) -> Result<CustomState, AgentError> {
        let runtime = ctx
            .runtime()
            .ok_or_else(|| AgentError::permanent("the runtime is gone"))?;
        self.validate(runtime.kinds())
            .map_err(|e| AgentError::permanent(format!("{KIND}: {e}")))?;
        let members: BTreeMap<String, MemberSpec> = self
            .config
            .nodes
            .iter()
            .map(|(name, n)| {
                (
                    name.clone(),
                    MemberSpec::new(n.kind.clone(), 1).config(n.config.clone()),
                )
            })
            .collect();
        let (_team, members) = member::spawn_team(ctx, &members, &self.config.team).await?;
        // Groups come in name order, one member each: member i is node i.
        let nodes = members.into_iter().map(|m| m.agent).collect();
        Ok(CustomState { nodes })
    }

    async fn handle(
        &self,
        _ctx: &AgentContext,
        state: &mut CustomState,
        request: Value,
    ) -> Result<Value, AgentError> {
        let topo = &self.topology;
        let (mut flow, runs) = Flow::start(topo, request);
        let mut pending = runs;
        let mut tasks: JoinSet<(usize, Result<Value, CallError>)> = JoinSet::new();
        loop {
            // One node ready and nothing else running: call it in place (no task hop).
            let reply = if pending.len() == 1 && tasks.is_empty() {
                let Some(Run { node, input }) = pending.pop() else {
                    break;
                };
                (node, state.nodes[node].ask_value(input, None).await)
            } else {
                for Run { node, input } in pending.drain(..) {
                    let agent = state.nodes[node].clone();
                    tasks.spawn(async move { (node, agent.ask_value(input, None).await) });
                }
                match tasks.join_next().await {
                    Some(joined) => joined.map_err(|e| {
                        AgentError::permanent(format!("{KIND}: a node call panicked: {e}"))
                    })?,
                    None => break,
                }
            };
            let (node, result) = reply;
            let output = result.map_err(|e| node_failed(&topo.names[node], e))?;
            pending = flow
                .on_output(node, output)
                .map_err(|e| AgentError::permanent(format!("{KIND}: {e}")))?;
            if pending.is_empty() && flow.is_finished() {
                break;
            }
        }
        flow.result()
            .map_err(|e| AgentError::permanent(format!("{KIND}: {e}")))
    }
}

fn node_failed(node: &str, e: CallError) -> AgentError {
    let msg = format!("{KIND}: node {node:?} failed: {e}");
    if e.is_retryable() {
        AgentError::transient(msg)
    } else {
        AgentError::permanent(msg)
    }
}
