//! What the pattern agent accepts: [`HandoffRequest`], read strictly. No IO here.

use serde_json::Value;

use super::protocol::describe;

/// A request to the pattern agent.
///
/// ```json
/// {"conversation": "c1", "message": "I want a refund"}   // a turn
/// {"conversation": "c1", "message": "...", "context": {"user": "ada"}}   // a turn, seeding context
/// {"conversation": "c1", "query": true}                 // the conversation's state
/// {"conversation": "c1", "end": true}                   // forget it (answers its last state)
/// ```
///
/// A [`TurnInput`](super::TurnInput) is a turn request too (its `from`, `joined`, `branch` and `history` are
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
    "conversation",
    "message",
    "query",
    "end",
    "context",
    "from",
    "joined",
    "branch",
    "history",
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
    pub fn parse(value: Value) -> Result<Self, crate::ProtocolError> {
        Self::parse_text(value).map_err(crate::ProtocolError::from)
    }

    fn parse_text(value: Value) -> Result<Self, String> {
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
