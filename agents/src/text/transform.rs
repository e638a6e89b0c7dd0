//! `text.transform`: one string operation applied to a string or to each string of an array.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use troupe_runtime::ConfigError;
use troupe_runtime::{Agent, AgentContext, AgentError, Snapshot};

use super::TextError;
use crate::json::JsonPath;
use crate::shape::{describe, parse_config};

/// The operation of `text.transform`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransformOp {
    /// Upper-case the text.
    Uppercase,
    /// Lower-case the text.
    Lowercase,
    /// Remove leading and trailing whitespace.
    Trim,
    /// Replace every occurrence of `from` with `to`.
    Replace,
    /// Fill `template`: `{input}` is the input, `{input.a.b}` a field of it (a [`JsonPath`]);
    /// `{{` and `}}` are literal braces. Non-string values are written as JSON.
    Template,
}

/// Configuration of `text.transform`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformConfig {
    /// The operation.
    pub op: TransformOp,
    /// What `replace` looks for (required by it, not empty).
    #[serde(default)]
    pub from: Option<String>,
    /// What `replace` puts instead (default empty: delete).
    #[serde(default)]
    pub to: Option<String>,
    /// The template of `template` (required by it).
    #[serde(default)]
    pub template: Option<String>,
}

/// `text.transform`: replies with the transformed text, keeping the request's shape (a string
/// gives a string, an array gives an array). `template` accepts any JSON value as input; the
/// other operations need strings.
#[derive(Debug, Clone)]
pub struct TextTransform {
    op: Op,
}

#[derive(Debug, Clone)]
enum Op {
    Upper,
    Lower,
    Trim,
    Replace { from: String, to: String },
    Template(Vec<Piece>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    Text(String),
    Input(JsonPath),
}

impl TextTransform {
    /// An agent with this configuration.
    pub fn new(config: TransformConfig) -> Result<Self, ConfigError> {
        let only = |field: &str, set: bool, op: &str| {
            if set {
                Err(format!("field `{field}` is only used by op `{op}`"))
            } else {
                Ok(())
            }
        };
        let TransformConfig {
            op,
            from,
            to,
            template,
        } = config;
        if op != TransformOp::Replace {
            only("from", from.is_some(), "replace")?;
            only("to", to.is_some(), "replace")?;
        }
        if op != TransformOp::Template {
            only("template", template.is_some(), "template")?;
        }
        let op = match op {
            TransformOp::Uppercase => Op::Upper,
            TransformOp::Lowercase => Op::Lower,
            TransformOp::Trim => Op::Trim,
            TransformOp::Replace => match from {
                Some(from) if !from.is_empty() => Op::Replace {
                    from,
                    to: to.unwrap_or_default(),
                },
                _ => return Err("op `replace` needs a non-empty field `from`".into()),
            },
            TransformOp::Template => {
                let template = template.ok_or("op `template` needs field `template`")?;
                Op::Template(
                    parse_template(&template).map_err(|e| format!("field `template`: {e}"))?,
                )
            }
        };
        Ok(Self { op })
    }

    /// An agent built from a pool's JSON `config:`.
    pub fn from_config(config: &Value) -> Result<Self, ConfigError> {
        Self::new(parse_config(config)?)
    }

    /// Transforms a request: a value, or an array of values (each transformed).
    pub(crate) fn apply(&self, input: &Value) -> Result<Value, TextError> {
        match input {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    self.apply_one(v)
                        .map(Value::String)
                        .map_err(|e| TextError::BadInput(format!("element {i}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            other => self
                .apply_one(other)
                .map(Value::String)
                .map_err(TextError::BadInput),
        }
    }

    fn apply_one(&self, input: &Value) -> Result<String, String> {
        if let Op::Template(pieces) = &self.op {
            return fill(pieces, input);
        }
        let Value::String(s) = input else {
            return Err(format!(
                "expected a string or an array of strings, got {}",
                describe(input)
            ));
        };
        Ok(match &self.op {
            Op::Upper => s.to_uppercase(),
            Op::Lower => s.to_lowercase(),
            Op::Trim => s.trim().to_owned(),
            Op::Replace { from, to } => s.replace(from.as_str(), to),
            Op::Template(_) => unreachable!("handled above"),
        })
    }
}

impl Agent for TextTransform {
    type Request = Value;
    type Reply = Value;
    type State = ();

    async fn init(
        &self,
        _ctx: &AgentContext,
        _restored: Option<Snapshot>,
    ) -> Result<(), AgentError> {
        Ok(())
    }

    async fn handle(
        &self,
        _ctx: &AgentContext,
        _state: &mut (),
        request: Value,
    ) -> Result<Value, AgentError> {
        Ok(self.apply(&request)?)
    }
}

/// Parses `Hello {input.name}!` into literal and placeholder pieces.
pub(crate) fn parse_template(template: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        text.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            text.push_str(&tail[..1]);
            rest = &tail[2..];
        } else if tail.starts_with('}') {
            return Err("unmatched `}` (write `}}` for a literal brace)".into());
        } else {
            let close = tail
                .find('}')
                .ok_or("unclosed `{` (write `{{` for a literal brace)")?;
            let name = &tail[1..close];
            let path = match name.strip_prefix("input") {
                Some("") => JsonPath::parse("").map_err(|e| e.to_string())?,
                Some(p) if p.len() > 1 && p.starts_with('.') => {
                    JsonPath::parse(&p[1..]).map_err(|e| e.to_string())?
                }
                _ => {
                    return Err(format!(
                        "unknown placeholder `{{{name}}}` (use `{{input}}` or `{{input.field}}`)"
                    ))
                }
            };
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(Piece::Input(path));
            rest = &tail[close + 1..];
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

pub(crate) fn fill(pieces: &[Piece], input: &Value) -> Result<String, String> {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Input(path) => match path.lookup(input).map_err(|e| e.to_string())? {
                Value::String(s) => out.push_str(s),
                other => out.push_str(&other.to_string()),
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::Legacy;
    use serde_json::json;

    fn t(config: Value) -> TextTransform {
        TextTransform::from_config(&config).unwrap()
    }

    #[test]
    fn case_trim_and_replace_on_strings_and_arrays() {
        assert_eq!(
            t(json!({"op": "uppercase"}))
                .apply(&json!("héllo"))
                .unwrap(),
            json!("HÉLLO")
        );
        assert_eq!(
            t(json!({"op": "lowercase"}))
                .apply(&json!(["A", "B"]))
                .unwrap(),
            json!(["a", "b"])
        );
        assert_eq!(
            t(json!({"op": "trim"})).apply(&json!("  x \n")).unwrap(),
            json!("x")
        );
        let r = t(json!({"op": "replace", "from": "o", "to": "0"}));
        assert_eq!(r.apply(&json!("foo boo")).unwrap(), json!("f00 b00"));
        let del = t(json!({"op": "replace", "from": "-"}));
        assert_eq!(del.apply(&json!("a-b-c")).unwrap(), json!("abc"));
    }

    #[test]
    fn templates_fill_input_and_fields() {
        let hello = t(json!({"op": "template", "template": "Hello {input}!"}));
        assert_eq!(hello.apply(&json!("world")).unwrap(), json!("Hello world!"));
        assert_eq!(
            hello.apply(&json!(["a", 2])).unwrap(),
            json!(["Hello a!", "Hello 2!"])
        );
        assert_eq!(
            hello.apply(&json!({"k": 1})).unwrap(),
            json!("Hello {\"k\":1}!")
        );
        let fields = t(json!({"op": "template", "template": "{{{input.name}}} has {input.n.0}"}));
        assert_eq!(
            fields.apply(&json!({"name": "ada", "n": [3]})).unwrap(),
            json!("{ada} has 3")
        );
        let err = fields.apply(&json!({"name": "ada"})).unwrap_err();
        assert!(err.to_string().contains("no field `n`"), "{err}");
    }

    #[test]
    fn non_strings_are_refused_with_the_element() {
        let up = t(json!({"op": "uppercase"}));
        let err = up.apply(&json!(5)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected a string or an array of strings, got a number"
        );
        let err = up.apply(&json!(["a", null])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "element 1: expected a string or an array of strings, got null"
        );
        assert!(!AgentError::from(err).is_retryable());
    }

    #[test]
    fn config_is_checked() {
        let bad = |c: Value| TextTransform::from_config(&c).unwrap_err().legacy();
        assert!(bad(Value::Null).contains("missing field `op`"));
        assert!(bad(json!({"op": "reverse"})).starts_with("field `op`: unknown variant `reverse`"));
        assert!(bad(json!({"op": "replace"})).contains("non-empty field `from`"));
        assert!(bad(json!({"op": "uppercase", "template": "x"}))
            .contains("`template` is only used by op `template`"));
        assert!(bad(json!({"op": "template"})).contains("needs field `template`"));
        assert!(bad(json!({"op": "template", "template": "{name}"}))
            .contains("unknown placeholder `{name}`"));
        assert!(bad(json!({"op": "template", "template": "a {input"})).contains("unclosed `{`"));
        assert!(bad(json!({"op": "template", "template": "a } b"})).contains("unmatched `}`"));
        assert!(bad(json!({"op": "template", "template": "{input..x}"})).contains("empty segment"));
    }
}
