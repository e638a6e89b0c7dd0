//! The network wire protocol as plain data: what a member receives ([`PeerInput`]), what it
//! answers ([`Step`]) and what the pattern agent answers ([`Answer`]). No IO here.

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::handoff::describe;

/// What a member receives: a message that reached it, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerInput {
    /// The message.
    pub message: Value,
    /// The member that sent it (absent for the request's first delivery, to `entry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The members the message passed through, ending with this one.
    pub path: Vec<String>,
    /// Sends still allowed on this path before the hop budget is spent.
    pub hops_left: u32,
}

/// One message a member sends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Send {
    /// The member it goes to.
    pub to: String,
    /// What it carries (absent: the message this member received).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Value>,
}

/// What a member answers. On the wire:
///
/// ```json
/// {"reply": v}                                   // the request's final answer
/// {"send": {"to": "b", "message": m}}            // pass a message on (no message: the same)
/// {"send": [{"to": "b"}, {"to": "c", "message": m}]}   // fan-out
/// {"send": []}                                   // this branch ends without an answer
/// ```
///
/// Any other answer (a string, an object of another shape...) is a plain reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Answers the request (the first reply of any branch wins).
    Reply(Value),
    /// Sends messages on, one branch each (none: the branch ends).
    Send(Vec<Send>),
}

impl Step {
    /// Answers the request with `v`.
    pub fn reply(v: impl Into<Value>) -> Self {
        Self::Reply(v.into())
    }

    /// Sends `message` to `to`.
    pub fn send(to: impl Into<String>, message: impl Into<Value>) -> Self {
        Self::Send(vec![Send {
            to: to.into(),
            message: Some(message.into()),
        }])
    }

    /// Passes the received message on to `to` unchanged.
    pub fn forward(to: impl Into<String>) -> Self {
        Self::Send(vec![Send {
            to: to.into(),
            message: None,
        }])
    }

    /// Sends to several members at once (each a branch of its own).
    pub fn fan_out<I, S>(sends: I) -> Self
    where
        I: IntoIterator<Item = (S, Value)>,
        S: Into<String>,
    {
        Self::Send(
            sends
                .into_iter()
                .map(|(to, message)| Send {
                    to: to.into(),
                    message: Some(message),
                })
                .collect(),
        )
    }

    /// Ends this branch without an answer.
    pub fn end() -> Self {
        Self::Send(Vec::new())
    }

    /// The JSON form.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Reads a member's answer. An object whose only key is `reply` or `send` is a step,
    /// decoded strictly; anything else — another pattern's reply, say — is a plain reply.
    pub fn parse(value: Value) -> Result<Self, crate::ProtocolError> {
        Self::parse_text(value).map_err(crate::ProtocolError::from)
    }

    fn parse_text(value: Value) -> Result<Self, String> {
        let Value::Object(mut obj) = value else {
            return Ok(Self::Reply(value));
        };
        let key = match obj.keys().next().map(String::as_str) {
            Some(k @ ("reply" | "send")) if obj.len() == 1 => k.to_string(),
            _ => return Ok(Self::Reply(Value::Object(obj))),
        };
        let key = key.as_str();
        let body = obj.remove(key).unwrap_or(Value::Null);
        if key == "reply" {
            return Ok(Self::Reply(body));
        }
        let sends = match body {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| decode_send(item).map_err(|e| format!("send[{i}]: {e}")))
                .collect::<Result<Vec<_>, _>>()?,
            item @ Value::Object(_) => vec![decode_send(item).map_err(|e| format!("send: {e}"))?],
            other => {
                return Err(format!(
                    "send: expected {{\"to\": ...}} or an array of them, got {}",
                    describe(&other)
                ))
            }
        };
        Ok(Self::Send(sends))
    }
}

fn decode_send(item: Value) -> Result<Send, String> {
    serde_json::from_value(item).map_err(|e| e.to_string())
}

impl Serialize for Step {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        match self {
            Self::Reply(v) => map.serialize_entry("reply", v)?,
            Self::Send(sends) => match sends.as_slice() {
                [one] => map.serialize_entry("send", one)?,
                many => map.serialize_entry("send", many)?,
            },
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Step::parse(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// The pattern agent's reply: the first answer of any branch and the path it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// The answer.
    pub answer: Value,
    /// The members the answering message passed through, from `entry` to the one that replied.
    pub path: Vec<String>,
}

/// `a -> b -> c`.
pub(crate) fn show_path<S: AsRef<str>>(path: &[S]) -> String {
    let names: Vec<&str> = path.iter().map(AsRef::as_ref).collect();
    names.join(" -> ")
}
