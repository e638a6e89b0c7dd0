//! The handoff wire protocol as plain data: what a member receives ([`TurnInput`]) and what
//! the pattern agent answers ([`TurnOutcome`], [`ConversationView`]). What members answer is in
//! [`super::Turn`]; what the pattern accepts in [`super::HandoffRequest`]. No IO here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::turn::Merge;

/// A conversation's context: a JSON object carried across turns and handoffs.
pub type Context = Map<String, Value>;

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

pub(crate) use troupe_runtime::config::describe;

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
