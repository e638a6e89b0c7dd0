//! What a swarm member replies ([`Directive`]), where hand-offs go ([`Target`]), and how item
//! results are combined ([`Reducer`]). Pure data and functions.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use troupe_runtime::AgentError;

/// A member's reply for one work item, as JSON:
///
/// | reply | meaning |
/// |---|---|
/// | `{"result": v}` | the item is done; `v` goes to the reducer (`null` is a result too) |
/// | `{"spawn": [a, b]}` | add sub-items `a`, `b` to this peer's own deque (idle peers may steal them) |
/// | `{"handoff": {"to": 2, "item": x}}` | give item `x` to peer 2 (a peer index) |
/// | `{"handoff": {"to": "checkers", "item": x}}` | give `x` to a peer of member group `checkers` (chosen at random) |
/// | `{"handoff": [{...}, {...}]}` | several hand-offs |
/// | any combination, e.g. `{"result": 3, "spawn": [4]}` | all of it |
///
/// At least one key must be present and no other key is allowed; a reply that does not fit
/// fails its item (not retried). With `replies: "results"` in the swarm config, any reply is
/// taken as the result instead.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Directive {
    /// The item's result, if it has one.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub result: Option<Value>,
    /// Sub-items for this peer's deque.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spawn: Vec<Value>,
    /// Items for other peers.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub handoff: Vec<Handoff>,
}

/// One hand-off: an item for another peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handoff {
    /// The receiving peer.
    pub to: Target,
    /// The item.
    pub item: Value,
}

/// A peer, by index (in the order members are spawned: groups by name, then index) or by
/// member group (a peer of the group, chosen at random).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Target {
    /// Peer `i`.
    Peer(usize),
    /// Any peer of this member group.
    Group(String),
}

impl From<usize> for Target {
    fn from(i: usize) -> Self {
        Target::Peer(i)
    }
}

impl From<&str> for Target {
    fn from(g: &str) -> Self {
        Target::Group(g.to_string())
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Peer(i) => write!(f, "peer {i}"),
            Target::Group(g) => write!(f, "group {g:?}"),
        }
    }
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Handoff>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(Handoff),
        Many(Vec<Handoff>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(h) => vec![h],
        OneOrMany::Many(hs) => hs,
    })
}

impl Directive {
    /// `{"result": value}`.
    pub fn result(value: impl Into<Value>) -> Self {
        Self::default().with_result(value)
    }

    /// `{"spawn": items}`.
    pub fn spawn<I: IntoIterator<Item = Value>>(items: I) -> Self {
        Self::default().with_spawn(items)
    }

    /// `{"handoff": {"to": to, "item": item}}`.
    pub fn handoff(to: impl Into<Target>, item: impl Into<Value>) -> Self {
        Self::default().with_handoff(to, item)
    }

    /// Sets the result.
    pub fn with_result(mut self, value: impl Into<Value>) -> Self {
        self.result = Some(value.into());
        self
    }

    /// Adds sub-items.
    pub fn with_spawn<I: IntoIterator<Item = Value>>(mut self, items: I) -> Self {
        self.spawn.extend(items);
        self
    }

    /// Adds a hand-off.
    pub fn with_handoff(mut self, to: impl Into<Target>, item: impl Into<Value>) -> Self {
        self.handoff.push(Handoff {
            to: to.into(),
            item: item.into(),
        });
        self
    }

    /// The JSON reply a member sends.
    pub fn into_value(self) -> Value {
        let mut map = serde_json::Map::new();
        if let Some(r) = self.result {
            map.insert("result".into(), r);
        }
        if !self.spawn.is_empty() {
            map.insert("spawn".into(), Value::Array(self.spawn));
        }
        if !self.handoff.is_empty() {
            let hs = self.handoff.into_iter().map(|h| {
                let to = match h.to {
                    Target::Peer(i) => Value::from(i),
                    Target::Group(g) => Value::from(g),
                };
                serde_json::json!({"to": to, "item": h.item})
            });
            map.insert("handoff".into(), Value::Array(hs.collect()));
        }
        if map.is_empty() {
            // An empty directive still has to say something: "done, without a result".
            map.insert("spawn".into(), Value::Array(Vec::new()));
        }
        Value::Object(map)
    }

    /// Reads a member's reply. The error says what a directive looks like.
    pub fn from_reply(reply: Value) -> Result<Directive, crate::ProtocolError> {
        Self::from_reply_text(reply).map_err(crate::ProtocolError::from)
    }

    fn from_reply_text(reply: Value) -> Result<Directive, String> {
        const SHAPE: &str =
            r#"expected {"result": v}, {"spawn": [items]} and/or {"handoff": {"to", "item"}}"#;
        if reply.as_object().is_none_or(|m| m.is_empty()) {
            return Err(format!(
                "member reply is not a swarm directive ({SHAPE}): {reply}"
            ));
        }
        serde_json::from_value(reply)
            .map_err(|e| format!("member reply is not a swarm directive ({SHAPE}): {e}"))
    }
}

impl From<Directive> for Value {
    fn from(d: Directive) -> Value {
        d.into_value()
    }
}

/// A reducer closure: item results in item order to the swarm's reply. Its error fails the run
/// with the error's kind (a [`AgentError::Transient`] one may be retried by the caller).
pub type ReduceFn = dyn Fn(Vec<Value>) -> Result<Value, AgentError> + Send + Sync;

/// How the entry combines item results into the swarm's reply. Results come in item order:
/// seed items in request order, each item's sub-items (spawned, then handed off) right after
/// it, depth first — the same for every schedule.
#[derive(Clone, Default)]
pub enum Reducer {
    /// An array of the results.
    #[default]
    Collect,
    /// The sum of numeric results (exact for integers).
    Sum,
    /// The number of results.
    Count,
    /// A Rust closure (SDK only; not expressible in a JSON config).
    Custom(Arc<ReduceFn>),
}

impl Reducer {
    /// A reducer from a closure.
    pub fn custom(
        f: impl Fn(Vec<Value>) -> Result<Value, AgentError> + Send + Sync + 'static,
    ) -> Self {
        Reducer::Custom(Arc::new(f))
    }

    /// Combines `results` (in item order; `labels` name the items for messages). The built-in
    /// reducers' errors are permanent; a custom one's keep their kind.
    pub fn reduce(&self, results: Vec<Value>, labels: &[String]) -> Result<Value, AgentError> {
        match self {
            Reducer::Collect => Ok(Value::Array(results)),
            Reducer::Count => Ok(Value::from(results.len())),
            Reducer::Sum => sum(&results, labels).map_err(AgentError::permanent),
            Reducer::Custom(f) => {
                f(results).map_err(|e| e.map_message(|m| format!("custom reducer: {m}")))
            }
        }
    }
}

impl std::fmt::Debug for Reducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reducer::Collect => "Collect",
            Reducer::Sum => "Sum",
            Reducer::Count => "Count",
            Reducer::Custom(_) => "Custom(..)",
        })
    }
}

/// Integers add exactly (in i128) while they fit an i64 or u64; any float makes it a float sum.
fn sum(results: &[Value], labels: &[String]) -> Result<Value, String> {
    let mut int: i128 = 0;
    let mut float: Option<f64> = None;
    for (i, v) in results.iter().enumerate() {
        let Value::Number(n) = v else {
            let item = labels.get(i).map_or("?", String::as_str);
            return Err(format!(
                "sum reducer: the result of item {item} is not a number: {v}"
            ));
        };
        let exact = match float {
            None => n
                .as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from)),
            Some(_) => None,
        };
        match exact {
            Some(x) => int += x,
            None => *float.get_or_insert(int as f64) += n.as_f64().unwrap_or(0.0),
        }
    }
    Ok(match float {
        Some(f) => Value::from(f),
        None => i64::try_from(int)
            .map(Value::from)
            .or_else(|_| u64::try_from(int).map(Value::from))
            .unwrap_or(Value::from(int as f64)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_reducer_keeps_its_error_kind() {
        let busy = Reducer::custom(|_| Err(AgentError::transient("store busy")));
        let err = busy
            .reduce(vec![Value::from(1)], &["0".into()])
            .unwrap_err();
        assert_eq!(err, AgentError::transient("custom reducer: store busy"));
        let err = Reducer::Sum
            .reduce(vec![Value::from("x")], &["0".into()])
            .unwrap_err();
        assert!(!err.is_retryable(), "{err}");
    }
}
