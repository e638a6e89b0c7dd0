//! The handoff wire protocol as plain data: what a member receives ([`TurnInput`]), what it
//! answers ([`Turn`]), and what the pattern agent accepts ([`HandoffRequest`]) and answers
//! ([`TurnOutcome`], [`ConversationView`]). No IO here.

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// A conversation's context: a JSON object carried across turns and handoffs.
pub type Context = Map<String, Value>;

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
    /// Back to the forking member, called again with [`TurnInput::joined`] set; it continues
    /// the turn (replies, hands off, forks again...).
    #[default]
    Back,
    /// The joined result is the turn's reply; the forking member stays active.
    Reply,
}

/// What a member did at one step, as recorded in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Answered the turn.
    Reply,
    /// Passed control on.
    Handoff,
    /// Returned control to the previous agent.
    Handback,
    /// Forked to several members.
    Fork,
}

/// One step of a conversation's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The conversation's turn (from 1).
    pub turn: u64,
    /// The member that acted.
    pub agent: String,
    /// What it did.
    pub action: Action,
    /// The members it passed control to (handoff, handback, fork); empty for a reply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
}

/// Who passed control to the member being called, within the current turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The member that passed control.
    pub agent: String,
    /// How: `handoff`, `handback` or `fork` (for a branch).
    pub action: Action,
}

/// A fork's joined result, as given back to the forking member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Joined {
    /// The merge rule applied.
    pub merge: Merge,
    /// The joined value.
    pub result: Value,
    /// Branches that failed, with their error (rules that tolerate failures).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failed: BTreeMap<String, String>,
}

/// What a member receives for one step of a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnInput {
    /// The conversation's id.
    pub conversation: String,
    /// The message of the turn (or the one the previous member passed on).
    pub message: Value,
    /// The conversation's context as of this step.
    pub context: Context,
    /// Who passed control here in this turn (absent at the turn's first step and when a fork
    /// joins back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Origin>,
    /// The joined result of this member's fork, when it joins back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined: Option<Joined>,
    /// Whether this call is a branch of a fork (it must answer with a reply).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub branch: bool,
    /// The conversation's history, when the pattern shares it (`share_history`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<HistoryEntry>>,
}

impl TurnInput {
    /// The JSON form, moving the fields (no copy of the message or context).
    pub fn into_value(self) -> Value {
        let mut map = Map::new();
        map.insert("conversation".into(), Value::String(self.conversation));
        map.insert("message".into(), self.message);
        map.insert("context".into(), Value::Object(self.context));
        let mut put = |key: &str, v: Result<Value, serde_json::Error>| {
            map.insert(key.into(), v.unwrap_or(Value::Null));
        };
        if let Some(from) = &self.from {
            put("from", serde_json::to_value(from));
        }
        if let Some(joined) = &self.joined {
            put("joined", serde_json::to_value(joined));
        }
        if self.branch {
            put("branch", Ok(Value::Bool(true)));
        }
        if let Some(history) = &self.history {
            put("history", serde_json::to_value(history));
        }
        Value::Object(map)
    }
}

/// The pattern agent's answer to a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnOutcome {
    /// The conversation's id.
    pub conversation: String,
    /// The turn's reply.
    pub reply: Value,
    /// The member active now (the one the next turn goes to).
    pub active: String,
    /// The context after the turn.
    pub context: Context,
    /// The members that acted in this turn, in order (fork branches not included).
    pub path: Vec<String>,
}

impl TurnOutcome {
    /// The JSON form, moving the fields.
    pub fn into_value(self) -> Value {
        let mut map = Map::new();
        map.insert("conversation".into(), Value::String(self.conversation));
        map.insert("reply".into(), self.reply);
        map.insert("active".into(), Value::String(self.active));
        map.insert("context".into(), Value::Object(self.context));
        let path = self.path.into_iter().map(Value::String).collect();
        map.insert("path".into(), Value::Array(path));
        Value::Object(map)
    }
}

/// A conversation as a query sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationView {
    /// The conversation's id.
    pub conversation: String,
    /// The active member.
    pub active: String,
    /// The context.
    pub context: Context,
    /// The hand-back stack, bottom first (the last one is who a handback returns to).
    pub stack: Vec<String>,
    /// Turns completed.
    pub turns: u64,
    /// Who handled what (the latest `max_history` steps).
    pub history: Vec<HistoryEntry>,
}

/// A request to the pattern agent.
///
/// ```json
/// {"conversation": "c1", "message": "I want a refund"}   // a turn
/// {"conversation": "c1", "message": "...", "context": {"user": "ada"}}   // a turn, seeding context
/// {"conversation": "c1", "query": true}                 // the conversation's state
/// {"conversation": "c1", "end": true}                   // forget it (answers its last state)
/// ```
///
/// A [`TurnInput`] is a turn request too (its `from`, `joined`, `branch` and `history` are
/// ignored), so a handoff pattern can be a member of another.
#[derive(Debug, Clone, PartialEq)]
pub enum HandoffRequest {
    /// Runs a turn (a new id starts a conversation at the `start` member).
    Turn {
        /// The conversation.
        conversation: String,
        /// The message.
        message: Value,
        /// Merged into the context before the turn (an object).
        context: Option<Value>,
    },
    /// Asks for a conversation's state.
    Query {
        /// The conversation.
        conversation: String,
    },
    /// Ends a conversation, answering its final state.
    End {
        /// The conversation.
        conversation: String,
    },
}

/// Keys of a request: its own, then those of a [`TurnInput`] that are ignored.
const REQUEST_KEYS: [&str; 9] = [
    "conversation", "message", "query", "end", "context", "from", "joined", "branch", "history",
];

impl HandoffRequest {
    /// A turn of `conversation` with `message`.
    pub fn turn(conversation: impl Into<String>, message: impl Into<Value>) -> Self {
        Self::Turn {
            conversation: conversation.into(),
            message: message.into(),
            context: None,
        }
    }

    /// The JSON form.
    pub fn to_value(&self) -> Value {
        match self {
            Self::Turn {
                conversation,
                message,
                context,
            } => {
                let mut v = serde_json::json!({"conversation": conversation, "message": message});
                if let Some(context) = context {
                    v["context"] = context.clone();
                }
                v
            }
            Self::Query { conversation } => {
                serde_json::json!({"conversation": conversation, "query": true})
            }
            Self::End { conversation } => {
                serde_json::json!({"conversation": conversation, "end": true})
            }
        }
    }

    /// Reads the JSON form, saying what is wrong with it.
    pub fn parse(value: Value) -> Result<Self, String> {
        let Value::Object(mut obj) = value else {
            return Err(format!(
                "a handoff request is an object like {{\"conversation\": \"c1\", \"message\": ...}}, not {}",
                describe(&value)
            ));
        };
        if let Some(key) = obj.keys().find(|k| !REQUEST_KEYS.contains(&k.as_str())) {
            return Err(format!(
                "unknown field `{key}`, expected `conversation` with one of `message`, `query`, `end`"
            ));
        }
        let conversation = match obj.remove("conversation") {
            Some(Value::String(s)) if !s.is_empty() => s,
            Some(other) => {
                return Err(format!(
                    "field `conversation`: expected a non-empty string, got {}",
                    describe(&other)
                ))
            }
            None => return Err("missing field `conversation`".into()),
        };
        let flag = |key: &str| match obj.get(key) {
            None | Some(Value::Bool(false)) => Ok(false),
            Some(Value::Bool(true)) => Ok(true),
            Some(other) => Err(format!(
                "field `{key}`: expected true, got {}",
                describe(other)
            )),
        };
        let (query, end) = (flag("query")?, flag("end")?);
        let context = obj.remove("context");
        if let Some(c) = context.as_ref().filter(|c| !c.is_object()) {
            return Err(format!(
                "field `context`: expected an object, got {}",
                describe(c)
            ));
        }
        match (obj.remove("message"), query, end) {
            (Some(message), false, false) => Ok(Self::Turn {
                conversation,
                message,
                context,
            }),
            (None, true, false) => Ok(Self::Query { conversation }),
            (None, false, true) => Ok(Self::End { conversation }),
            _ => Err("a handoff request has exactly one of `message`, `query`, `end`".into()),
        }
    }
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
    pub fn parse(value: Value) -> Result<Self, String> {
        let Value::Object(mut obj) = value else {
            return Ok(Self::reply(value));
        };
        let found: Vec<&str> = ACTIONS
            .into_iter()
            .filter(|k| obj.contains_key(*k))
            .collect();
        let action = match found.as_slice() {
            [one] => *one,
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
                let b: HandoffBody = decode("handoff", body)?;
                Self::Handoff {
                    to: b.to,
                    context: b.context,
                    message: b.message,
                }
            }
            "handback" => {
                let body = if body.is_null() {
                    Value::Object(Map::new())
                } else {
                    body
                };
                let b: HandbackBody = decode("handback", body)?;
                Self::Handback {
                    context: b.context,
                    message: b.message,
                    reply: b.reply,
                }
            }
            _ => {
                let f: Fork = decode("fork", body)?;
                if f.to.is_empty() {
                    return Err("fork: field `to` names no member".into());
                }
                if let Some(dup) = f.to.iter().enumerate().find_map(|(i, a)| {
                    f.to[..i].contains(a).then_some(a)
                }) {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HandoffBody {
    to: String,
    #[serde(default)]
    context: Option<Value>,
    #[serde(default)]
    message: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HandbackBody {
    #[serde(default)]
    context: Option<Value>,
    #[serde(default)]
    message: Option<Value>,
    #[serde(default)]
    reply: Option<Value>,
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, body: Value) -> Result<T, String> {
    serde_json::from_value(body).map_err(|e| format!("{what}: {e}"))
}

/// "a string", "an array", ... for messages about a value of the wrong shape.
pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Applies a JSON Merge Patch (RFC 7396) to `target`: keys overwrite, nested objects merge,
/// `null` deletes.
pub(crate) fn merge_patch(target: &mut Context, patch: &Context) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(inner) => {
                let slot = target
                    .entry(key.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Value::Object(obj) = slot {
                    merge_patch(obj, inner);
                }
            }
            other => {
                target.insert(key.clone(), other.clone());
            }
        }
    }
}
