//! Validation of a custom topology into index form. Cycle and kind checks reuse the workflow
//! planner ([`troupe_runtime::workflow::plan`]): each node becomes a task that depends on its
//! predecessors. IO-free.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use troupe_runtime::workflow::plan::plan;
use troupe_runtime::workflow::{PlanError, TaskSpec, WorkflowSpec};
use troupe_runtime::KindLookup;

use super::{CustomConfig, EdgeSpec};

/// One problem found in a custom topology.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CustomError {
    /// No nodes at all.
    #[error("the topology has no nodes")]
    NoNodes,
    /// An edge names a node that does not exist.
    #[error("edge {edge} ({from} -> {to}): unknown node {name:?} (nodes: {})", known.join(", "))]
    UnknownNode {
        /// The edge's position in `edges` (0-based).
        edge: usize,
        /// Its `from`.
        from: String,
        /// Its `to`.
        to: String,
        /// The unknown name.
        name: String,
        /// The nodes that exist.
        known: Vec<String>,
    },
    /// The same edge twice.
    #[error("edge {from} -> {to} is defined twice")]
    DuplicateEdge {
        /// Its `from`.
        from: String,
        /// Its `to`.
        to: String,
    },
    /// A conditional edge with an empty label.
    #[error("edge {from} -> {to}: `when` must be a non-empty route name")]
    EmptyRoute {
        /// Its `from`.
        from: String,
        /// Its `to`.
        to: String,
    },
    /// `exit` names no node.
    #[error("exit {name:?} is not a node (nodes: {})", known.join(", "))]
    UnknownExit {
        /// The name given.
        name: String,
        /// The nodes that exist.
        known: Vec<String>,
    },
    /// Edges form a cycle, listed in edge direction from its first node (by name).
    #[error("cycle: {} -> {} (a custom topology must be acyclic)", path.join(" -> "), path.first().map_or("", String::as_str))]
    Cycle {
        /// The nodes of the cycle, each with an edge to the next and the last to the first.
        path: Vec<String>,
    },
    /// A node's kind is not registered.
    #[error("node {node:?}: unknown agent kind {kind:?}; known kinds: {}", known.join(", "))]
    UnknownKind {
        /// The node.
        node: String,
        /// Its kind.
        kind: String,
        /// The registered kinds.
        known: Vec<String>,
    },
    /// Anything else the planner reported.
    #[error("{0}")]
    Other(String),
}

/// Every problem found, displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CustomErrors(pub Vec<CustomError>);

impl fmt::Display for CustomErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// An outgoing edge in index form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Out {
    /// The receiving node.
    pub to: usize,
    /// The route label of a conditional edge.
    pub when: Option<String>,
}

/// What the custom agent replies with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// This node's output.
    Node(usize),
    /// An object keyed by each of these sinks that ran.
    Sinks(Vec<usize>),
}

/// A validated topology. Node `i` is the `i`-th node by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    /// Node names.
    pub names: Vec<String>,
    /// Per node: its predecessors (one per incoming edge).
    pub preds: Vec<Vec<usize>>,
    /// Per node: its outgoing edges.
    pub outs: Vec<Vec<Out>>,
    /// Per node: whether it has conditional outgoing edges (its replies choose routes).
    pub routes: Vec<bool>,
    /// The nodes without incoming edges, which receive the request.
    pub roots: Vec<usize>,
    /// What the reply is.
    pub exit: Exit,
}

/// Accepts every kind name (structure-only validation).
struct AnyKind;

impl KindLookup for AnyKind {
    fn has_kind(&self, _name: &str) -> bool {
        true
    }
    fn kind_names(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Names only: forwards "is there a kind" to the lookup, but not config validation (the planner
/// sees the nodes as tasks on implicit pools, whose null configs are not the nodes' configs).
struct NamesOf<'k, K: ?Sized>(&'k K);

impl<K: KindLookup + ?Sized> KindLookup for NamesOf<'_, K> {
    fn has_kind(&self, name: &str) -> bool {
        self.0.has_kind(name)
    }
    fn kind_names(&self) -> Vec<String> {
        self.0.kind_names()
    }
}

impl Topology {
    /// Validates structure only (kinds are not checked).
    pub fn structure(config: &CustomConfig) -> Result<Topology, CustomErrors> {
        Self::new(config, &AnyKind)
    }

    /// Validates `config` against `kinds`, reporting every problem found.
    pub fn new<K: KindLookup + ?Sized>(
        config: &CustomConfig,
        kinds: &K,
    ) -> Result<Topology, CustomErrors> {
        let names: Vec<String> = config.nodes.keys().cloned().collect();
        let index: BTreeMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let mut errors = Vec::new();
        if names.is_empty() {
            errors.push(CustomError::NoNodes);
        }
        let mut preds = vec![Vec::new(); names.len()];
        let mut outs = vec![Vec::new(); names.len()];
        let mut seen = BTreeSet::new();
        for (i, EdgeSpec { from, to, when }) in config.edges.iter().enumerate() {
            let ends = (index.get(from.as_str()), index.get(to.as_str()));
            for name in [from, to]
                .into_iter()
                .filter(|n| !index.contains_key(n.as_str()))
            {
                errors.push(CustomError::UnknownNode {
                    edge: i,
                    from: from.clone(),
                    to: to.clone(),
                    name: name.clone(),
                    known: names.clone(),
                });
            }
            if when.as_deref().is_some_and(|w| w.trim().is_empty()) {
                errors.push(CustomError::EmptyRoute {
                    from: from.clone(),
                    to: to.clone(),
                });
            }
            let (Some(&a), Some(&b)) = ends else { continue };
            if !seen.insert((a, b)) {
                errors.push(CustomError::DuplicateEdge {
                    from: from.clone(),
                    to: to.clone(),
                });
                continue;
            }
            preds[b].push(a);
            outs[a].push(Out {
                to: b,
                when: when.clone(),
            });
        }
        let exit = match &config.exit {
            Some(name) => match index.get(name.as_str()) {
                Some(&n) => Exit::Node(n),
                None => {
                    errors.push(CustomError::UnknownExit {
                        name: name.clone(),
                        known: names.clone(),
                    });
                    Exit::Sinks(Vec::new())
                }
            },
            None => {
                let sinks: Vec<usize> = (0..names.len()).filter(|&n| outs[n].is_empty()).collect();
                match sinks[..] {
                    [one] => Exit::Node(one),
                    _ => Exit::Sinks(sinks),
                }
            }
        };
        if !names.is_empty() {
            errors.extend(planner_errors(config, &names, &preds, kinds));
        }
        if !errors.is_empty() {
            return Err(CustomErrors(errors));
        }
        let routes = outs
            .iter()
            .map(|o| o.iter().any(|e| e.when.is_some()))
            .collect();
        let roots = (0..names.len()).filter(|&n| preds[n].is_empty()).collect();
        Ok(Topology {
            names,
            preds,
            outs,
            routes,
            roots,
            exit,
        })
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no nodes (never for a validated topology).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Cycles and unknown kinds, from the workflow planner: node = task, predecessor = dependency.
fn planner_errors<K: KindLookup + ?Sized>(
    config: &CustomConfig,
    names: &[String],
    preds: &[Vec<usize>],
    kinds: &K,
) -> Vec<CustomError> {
    let mut spec = WorkflowSpec::builder("custom");
    for ((name, node), ps) in config.nodes.iter().zip(preds) {
        let deps = ps.iter().map(|&p| names[p].clone());
        spec = spec.task(TaskSpec::new(name.as_str(), node.kind.as_str()).after(deps));
    }
    let Err(errors) = plan(spec.build(), &NamesOf(kinds)) else {
        return Vec::new();
    };
    errors
        .0
        .into_iter()
        .map(|e| match e {
            // The planner lists a cycle in dependency order (each depends on the next);
            // edges run the other way.
            PlanError::Cycle { path } => {
                let mut path: Vec<String> = path.iter().rev().map(|t| t.to_string()).collect();
                let first = path
                    .iter()
                    .enumerate()
                    .min_by(|a, b| a.1.cmp(b.1))
                    .map_or(0, |m| m.0);
                path.rotate_left(first);
                CustomError::Cycle { path }
            }
            PlanError::SelfDependency { task, .. } => CustomError::Cycle {
                path: vec![task.to_string()],
            },
            PlanError::UnknownAgent { task, agent, .. } => CustomError::UnknownKind {
                node: task.to_string(),
                kind: agent,
                known: kinds.kind_names(),
            },
            other => CustomError::Other(other.to_string()),
        })
        .collect()
}
