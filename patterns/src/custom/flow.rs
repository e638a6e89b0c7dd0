//! One message through a custom topology, as an IO-free state machine: node outputs in, node
//! runs out. The custom agent runs the nodes (concurrently where the graph allows) and feeds
//! their outputs back.
//!
//! Semantics (dataflow with dead-path elimination):
//! - the request enters every root (a node without incoming edges);
//! - a node's output flows along its outgoing edges; an unconditional edge always fires, a
//!   conditional edge (`when: "label"`) fires when the node's reply chose that route;
//! - a node runs once all its incoming edges are settled (fired or not) and at least one fired;
//!   if none fired it is skipped, and its own outgoing edges do not fire;
//! - a node with one incoming edge receives that predecessor's output; a node with several
//!   receives an object keyed by predecessor name, holding the predecessors whose edge fired;
//! - the reply is the exit node's output (an error if it was skipped), or without an exit node
//!   an object keyed by the sinks that ran.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::topology::{Exit, Topology};

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;

/// Why a message could not flow through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// A node with conditional routes replied something else than `{"route", "output"}`.
    #[error("node {node:?} has conditional routes, so it must reply {{\"route\": name or [names], \"output\": value}}: {reason}")]
    NotARouteReply {
        /// The node.
        node: String,
        /// What was wrong.
        reason: String,
    },
    /// A node chose a route it does not have.
    #[error("node {node:?} chose route {route:?}; its routes are: {}", routes.join(", "))]
    UnknownRoute {
        /// The node.
        node: String,
        /// The route chosen.
        route: String,
        /// The node's route labels.
        routes: Vec<String>,
    },
    /// The exit node did not run: no route to it was taken.
    #[error("exit node {0:?} did not run: no route to it was taken")]
    ExitSkipped(String),
    /// No sink ran.
    #[error("no exit node ran: no route to any sink was taken")]
    NoSinkRan,
}

/// Run `node` with `input`.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The node.
    pub node: usize,
    /// Its input.
    pub input: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Running,
    Done,
    Skipped,
}

/// A route reply: `{"route": "name" | ["a", "b"] | null, "output": value}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteReply {
    route: Option<OneOrMany>,
    #[serde(default)]
    output: Value,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// The state of one message's flow.
#[derive(Debug)]
pub struct Flow<'t> {
    topo: &'t Topology,
    state: Vec<State>,
    unsettled: Vec<usize>,
    inputs: Vec<Map<String, Value>>,
    outputs: Vec<Option<Value>>,
    running: usize,
}

impl<'t> Flow<'t> {
    /// Starts a flow of `input`: the roots run.
    pub fn start(topo: &'t Topology, input: Value) -> (Flow<'t>, Vec<Run>) {
        let n = topo.len();
        let mut flow = Flow {
            topo,
            state: vec![State::Waiting; n],
            unsettled: topo.preds.iter().map(Vec::len).collect(),
            inputs: vec![Map::new(); n],
            outputs: vec![None; n],
            running: 0,
        };
        let runs = topo
            .roots
            .iter()
            .map(|&node| {
                flow.state[node] = State::Running;
                flow.running += 1;
                Run {
                    node,
                    input: input.clone(),
                }
            })
            .collect();
        (flow, runs)
    }

    /// Whether nothing runs any more.
    pub fn is_finished(&self) -> bool {
        self.running == 0
    }

    /// `node` replied `reply`; returns the nodes that can run now.
    pub fn on_output(&mut self, node: usize, reply: Value) -> Result<Vec<Run>, FlowError> {
        if self.state.get(node) != Some(&State::Running) {
            return Ok(Vec::new()); // not ours to settle (a duplicate): ignore
        }
        let (output, chosen) = if self.topo.routes[node] {
            self.route(node, reply)?
        } else {
            (reply, Vec::new())
        };
        self.state[node] = State::Done;
        self.running -= 1;
        let mut runs = Vec::new();
        let mut settle: Vec<(usize, usize, Option<Value>)> = Vec::new();
        for e in &self.topo.outs[node] {
            let fires = e.when.as_ref().is_none_or(|w| chosen.contains(w));
            settle.push((node, e.to, fires.then(|| output.clone())));
        }
        self.outputs[node] = Some(output);
        while let Some((from, to, value)) = settle.pop() {
            self.unsettled[to] -= 1;
            if let Some(v) = value {
                self.inputs[to].insert(self.topo.names[from].clone(), v);
            }
            if self.unsettled[to] > 0 {
                continue;
            }
            if self.inputs[to].is_empty() {
                // Dead path: nothing reached `to`; nothing leaves it either.
                self.state[to] = State::Skipped;
                settle.extend(self.topo.outs[to].iter().map(|e| (to, e.to, None)));
                continue;
            }
            let inputs = std::mem::take(&mut self.inputs[to]);
            let input = if self.topo.preds[to].len() == 1 {
                inputs.into_iter().next().map_or(Value::Null, |(_, v)| v)
            } else {
                Value::Object(inputs)
            };
            self.state[to] = State::Running;
            self.running += 1;
            runs.push(Run { node: to, input });
        }
        Ok(runs)
    }

    /// Reads a route reply and checks the chosen routes exist.
    fn route(&self, node: usize, reply: Value) -> Result<(Value, Vec<String>), FlowError> {
        let name = &self.topo.names[node];
        let r: RouteReply =
            serde_json::from_value(reply).map_err(|e| FlowError::NotARouteReply {
                node: name.clone(),
                reason: e.to_string(),
            })?;
        let chosen = match r.route {
            None => Vec::new(),
            Some(OneOrMany::One(s)) => vec![s],
            Some(OneOrMany::Many(v)) => v,
        };
        let known: Vec<&String> = self.topo.outs[node]
            .iter()
            .filter_map(|e| e.when.as_ref())
            .collect();
        if let Some(bad) = chosen.iter().find(|c| !known.contains(c)) {
            let mut routes: Vec<String> = known.into_iter().cloned().collect();
            routes.sort();
            routes.dedup();
            return Err(FlowError::UnknownRoute {
                node: name.clone(),
                route: bad.clone(),
                routes,
            });
        }
        Ok((r.output, chosen))
    }

    /// The reply, once finished.
    pub fn result(mut self) -> Result<Value, FlowError> {
        match &self.topo.exit {
            Exit::Node(n) => self.outputs[*n]
                .take()
                .ok_or_else(|| FlowError::ExitSkipped(self.topo.names[*n].clone())),
            Exit::Sinks(sinks) => {
                let mut out = Map::new();
                for &s in sinks {
                    if let Some(v) = self.outputs[s].take() {
                        out.insert(self.topo.names[s].clone(), v);
                    }
                }
                if out.is_empty() {
                    return Err(FlowError::NoSinkRan);
                }
                Ok(Value::Object(out))
            }
        }
    }
}
