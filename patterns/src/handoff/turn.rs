//! What a member answers: a [`Turn`] (reply, handoff, handback, fork), its JSON form and its
//! strict reading. No IO here.

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::protocol::describe;

/// The protocol keys of a member's answer: an object holding one of them is a [`Turn`].
const ACTIONS: [&str; 4] = ["reply", "handoff", "handback", "fork"];

/// What a member answers for one step of a turn. On the wire (see the module docs):
///
/// ```json
/// {"reply": "done", "context": {"ticket": 42}}
/// {"handoff": {"to": "billing", "context": {"topic": "refund"}, "message": "..."}}
/// {"handback": {"context": {...}, "reply": "..."}}
/// {"fork": {"to": ["a", "b"], "merge": "majority", "join": "back", "context": {...}}}
/// ```
///
/// Any other answer (a string, an array, an object of another shape) is a plain reply, so an
/// agent of any kind — another pattern too — can be a member.
#[derive(Debug, Clone, PartialEq)]
pub enum Turn {
    /// Answers the turn; the member stays (or becomes) the active agent.
    Reply {
        /// The answer to the conversation's message.
        reply: Value,
        /// Merged into the conversation's context (JSON Merge Patch).
        context: Option<Value>,
    },
    /// Passes control to `to`; the same turn continues there. The member is pushed on the
    /// conversation's stack, so `to` can hand back.
    Handoff {
        /// The member that takes over.
        to: String,
        /// Merged into the context before `to` is called.
        context: Option<Value>,
        /// What `to` receives instead of the turn's message (default: the same message).
        message: Option<Value>,
    },
    /// Returns control to the agent on top of the stack. With `reply`, that answers the turn
    /// (and the previous agent is active for the next turn); without, the turn continues at the
    /// previous agent.
    Handback {
        /// Merged into the context.
        context: Option<Value>,
        /// What the previous agent receives instead of the turn's message.
        message: Option<Value>,
        /// Answers the turn at once.
        reply: Option<Value>,
    },
    /// Sends the job to several members at once and joins their replies.
    Fork(Fork),
}

/// A parallel handoff: the job goes to every member of `to` at once; their replies are joined
/// by `merge`; the joined result goes back to the forking member or becomes the reply (`join`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fork {
    /// The branch members (at least one, no repeats).
    pub to: Vec<String>,
    /// How branch replies are joined.
    pub merge: Merge,
    /// Where the joined result goes (default `back`).
    #[serde(default)]
    pub join: Join,
    /// Merged into the context before the branches are called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// What the branches receive instead of the turn's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Value>,
}

/// How the replies of a fork's branches are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Merge {
    /// An array of every reply, in `to` order. Fails if any branch fails.
    All,
    /// An object `{member: reply}`. Fails if any branch fails.
    Object,
    /// Every reply must be an array; they are concatenated in `to` order. Fails if any branch
    /// fails or replies with a non-array.
    Concat,
    /// The first reply to arrive (completion order); failures are tolerated. Fails only if
    /// every branch fails.
    FirstSuccess,
    /// The reply given by more than half of the branches (JSON equality; a failed branch votes
    /// for nothing). Fails when no reply has a strict majority.
    Majority,
    /// The most frequent reply among the successful branches; a tie goes to the tied reply that
    /// comes first in `to` order. Fails only if every branch fails.
    Vote,
}

impl Merge {
    /// The rule's name as written in configs and turns.
    pub fn name(self) -> &'static str {
        match self {
            Merge::All => "all",
            Merge::Object => "object",
            Merge::Concat => "concat",
            Merge::FirstSuccess => "first_success",
            Merge::Majority => "majority",
            Merge::Vote => "vote",
        }
    }
}

/// Where a fork's joined result goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Join {
    /// Back to the forking member, called again with [`TurnInput::joined`](super::TurnInput::joined) set; it continues
    /// the turn (replies, hands off, forks again...).
    #[default]
    Back,
    /// The joined result is the turn's reply; the forking member stays active.
    Reply,
}

impl Turn {
    /// Answers the turn with `reply`.
    pub fn reply(reply: impl Into<Value>) -> Self {
        Self::Reply {
            reply: reply.into(),
            context: None,
        }
    }

    /// Hands control to `to`, merging `context` (an object) into the conversation's context.
    pub fn handoff(to: impl Into<String>, context: impl Into<Value>) -> Self {
        let context = context.into();
        Self::Handoff {
            to: to.into(),
            context: (!context.is_null()).then_some(context),
            message: None,
        }
    }

    /// Hands control back to the previous agent; the turn continues there.
    pub fn handback() -> Self {
        Self::Handback {
            context: None,
            message: None,
            reply: None,
        }
    }

    /// Forks the job to `to`, joining the replies by `merge` (back to this member by default).
    pub fn fork<I, S>(to: I, merge: Merge) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::Fork(Fork {
            to: to.into_iter().map(Into::into).collect(),
            merge,
            join: Join::Back,
            context: None,
            message: None,
        })
    }

    /// Sets the context patch (an object; keys overwrite, `null` deletes).
    pub fn with_context(mut self, patch: impl Into<Value>) -> Self {
        let patch = Some(patch.into());
        match &mut self {
            Self::Reply { context, .. }
            | Self::Handoff { context, .. }
            | Self::Handback { context, .. } => *context = patch,
            Self::Fork(f) => f.context = patch,
        }
        self
    }

    /// Sets the message the next member(s) receive (no effect on a reply).
    pub fn with_message(mut self, next: impl Into<Value>) -> Self {
        let next = Some(next.into());
        match &mut self {
            Self::Reply { .. } => {}
            Self::Handoff { message, .. } | Self::Handback { message, .. } => *message = next,
            Self::Fork(f) => f.message = next,
        }
        self
    }

    /// For a handback: answers the turn with `reply` at once (no effect on the others).
    pub fn with_reply(mut self, value: impl Into<Value>) -> Self {
        if let Self::Handback { reply, .. } = &mut self {
            *reply = Some(value.into());
        }
        self
    }

    /// For a fork: where the joined result goes (no effect on the others).
    pub fn join(mut self, join: Join) -> Self {
        if let Self::Fork(f) = &mut self {
            f.join = join;
        }
        self
    }

    /// The JSON form.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Reads a member's answer. An object whose keys are exactly one of `reply`, `handoff`,
    /// `handback`, `fork` (and `context` beside `reply`) is a turn, decoded strictly; anything
    /// else — another pattern's reply, say — is a plain reply.
    pub fn parse(value: Value) -> Result<Self, crate::ProtocolError> {
        Self::parse_text(value).map_err(crate::ProtocolError::from)
    }

    fn parse_text(value: Value) -> Result<Self, String> {
        let Value::Object(mut obj) = value else {
            return Ok(Self::reply(value));
        };
        let mut found = ACTIONS.into_iter().filter(|k| obj.contains_key(*k));
        let action = match (found.next(), found.next()) {
            (Some(one), None) => one,
            _ => return Ok(Self::reply(Value::Object(obj))),
        };
        let allowed: &[&str] = if action == "reply" {
            &["reply", "context"]
        } else {
            &[action]
        };
        if obj.keys().any(|k| !allowed.contains(&k.as_str())) {
            return Ok(Self::reply(Value::Object(obj)));
        }
        let body = obj.remove(action).unwrap_or(Value::Null);
        let turn = match action {
            "reply" => Self::Reply {
                reply: body,
                context: obj.remove("context"),
            },
            "handoff" => {
                let mut b = fields("handoff", body, &["to", "context", "message"])?;
                let to = match b.remove("to") {
                    Some(Value::String(to)) => to,
                    Some(other) => {
                        return Err(format!(
                            "handoff: field `to`: expected a member name, got {}",
                            describe(&other)
                        ))
                    }
                    None => return Err("handoff: missing field `to`".into()),
                };
                Self::Handoff {
                    to,
                    context: optional(&mut b, "context"),
                    message: optional(&mut b, "message"),
                }
            }
            "handback" => {
                let mut b = fields("handback", body, &["context", "message", "reply"])?;
                Self::Handback {
                    context: optional(&mut b, "context"),
                    message: optional(&mut b, "message"),
                    reply: optional(&mut b, "reply"),
                }
            }
            _ => {
                let f: Fork = decode("fork", body)?;
                if f.to.is_empty() {
                    return Err("fork: field `to` names no member".into());
                }
                if let Some(dup) =
                    f.to.iter()
                        .enumerate()
                        .find_map(|(i, a)| f.to[..i].contains(a).then_some(a))
                {
                    return Err(format!("fork: field `to` names {dup:?} twice"));
                }
                Self::Fork(f)
            }
        };
        turn.check_context()?;
        Ok(turn)
    }

    fn check_context(&self) -> Result<(), String> {
        let context = match self {
            Self::Reply { context, .. }
            | Self::Handoff { context, .. }
            | Self::Handback { context, .. } => context,
            Self::Fork(f) => &f.context,
        };
        match context {
            None | Some(Value::Object(_)) => Ok(()),
            Some(other) => Err(format!(
                "field `context`: expected an object, got {}",
                describe(other)
            )),
        }
    }
}

impl Serialize for Turn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        match self {
            Self::Reply { reply, context } => {
                map.serialize_entry("reply", reply)?;
                if let Some(context) = context {
                    map.serialize_entry("context", context)?;
                }
            }
            Self::Handoff {
                to,
                context,
                message,
            } => {
                let body = Body {
                    to: Some(to),
                    context: context.as_ref(),
                    message: message.as_ref(),
                    reply: None,
                };
                map.serialize_entry("handoff", &body)?;
            }
            Self::Handback {
                context,
                message,
                reply,
            } => {
                let body = Body {
                    to: None,
                    context: context.as_ref(),
                    message: message.as_ref(),
                    reply: reply.as_ref(),
                };
                map.serialize_entry("handback", &body)?;
            }
            Self::Fork(fork) => map.serialize_entry("fork", fork)?,
        }
        map.end()
    }
}

/// The body of a handoff or handback, as written.
#[derive(Serialize)]
struct Body<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply: Option<&'a Value>,
}

impl<'de> Deserialize<'de> for Turn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Turn::parse(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// The fields of a turn's body (an object, or `null` for none), refusing unknown ones.
fn fields(what: &str, body: Value, allowed: &[&str]) -> Result<Map<String, Value>, String> {
    let map = match body {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => {
            return Err(format!(
                "{what}: expected an object, got {}",
                describe(&other)
            ))
        }
    };
    if let Some(key) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        let expected: Vec<String> = allowed.iter().map(|a| format!("`{a}`")).collect();
        return Err(format!(
            "{what}: unknown field `{key}`, expected one of {}",
            expected.join(", ")
        ));
    }
    Ok(map)
}

/// An optional field; `null` counts as absent.
fn optional(map: &mut Map<String, Value>, key: &str) -> Option<Value> {
    map.remove(key).filter(|v| !v.is_null())
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, body: Value) -> Result<T, String> {
    serde_json::from_value(body).map_err(|e| format!("{what}: {e}"))
}
