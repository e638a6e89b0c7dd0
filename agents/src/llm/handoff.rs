//! `llm.chat` as a member of a handoff pattern (`pattern.handoff`): with `handoff: {members:
//! [billing, ...]}` the model gets one `transfer_to_<member>` tool per member (as in the OpenAI
//! Agents SDK). The request is the pattern's turn input (`{conversation, message, context, ...}`:
//! `message` is the user message, a non-empty `context` is shown to the model as a system
//! message); a call of `transfer_to_billing` ends the loop with the protocol's
//! `{"handoff": {"to": "billing", "message"?, "context"?}}`, a final answer is `{"reply": text}`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::wire::ToolCall;

/// The handoff tools of an LLM member.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffTools {
    /// The members this one may transfer to.
    pub members: Vec<String>,
}

const PREFIX: &str = "transfer_to_";

impl HandoffTools {
    /// The `transfer_to_<member>` tool definitions.
    pub(crate) fn definitions(&self) -> Vec<Value> {
        self.members
            .iter()
            .map(|m| {
                json!({"type": "function", "function": {
                    "name": format!("{PREFIX}{m}"),
                    "description": format!("hands the conversation over to `{m}`"),
                    "parameters": {"type": "object", "properties": {
                        "message": {"type": "string", "description": "what to tell the next member"},
                        "context": {"type": "object", "description": "facts to add to the conversation's context"}
                    }}
                }})
            })
            .collect()
    }

    /// The protocol's handoff answer, if the turn calls a transfer tool (the first one wins).
    pub(crate) fn transfer(&self, calls: &[ToolCall]) -> Option<Value> {
        calls.iter().find_map(|c| {
            let to = c.function.name.strip_prefix(PREFIX)?;
            if !self.members.iter().any(|m| m == to) {
                return None;
            }
            let args: Map<String, Value> =
                serde_json::from_str(&c.function.arguments).unwrap_or_default();
            let mut body = json!({"to": to});
            if let Some(m) = args.get("message").filter(|m| !m.is_null()) {
                body["message"] = m.clone();
            }
            if let Some(ctx) = args.get("context").filter(|c| c.is_object()) {
                body["context"] = ctx.clone();
            }
            Some(json!({ "handoff": body }))
        })
    }

    /// The user message and the context message of a turn input (other requests as they are).
    pub(crate) fn unwrap_input(request: &Value) -> (Value, Option<String>) {
        match request {
            Value::Object(o) if o.contains_key("conversation") && o.contains_key("message") => {
                let context = o
                    .get("context")
                    .filter(|c| c.as_object().is_some_and(|c| !c.is_empty()))
                    .map(|c| format!("Conversation context (JSON): {c}"));
                (o["message"].clone(), context)
            }
            other => (other.clone(), None),
        }
    }
}
