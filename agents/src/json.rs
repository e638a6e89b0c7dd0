//! `json.pick`: take a field out of the input JSON (or build an object of several fields), to glue
//! one task's output to the next task's expected input.

use std::collections::BTreeMap;
use std::fmt;
use troupe_runtime::ConfigError;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use troupe_runtime::{Agent, AgentContext, AgentError, Snapshot};

use crate::shape::{describe, parse_config};

/// A dotted path into a JSON value: `a.b.0` is field `a`, its field `b`, then element 0 of that
/// array. A number indexes an array (`-1` is the last element) and names a field of an object;
/// the empty path (`""` or `"."`) is the whole value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    segments: Vec<String>,
}

/// Why a [`JsonPath`] could not be parsed or looked up: which path, and where in the value it
/// stopped (`at` is the dotted prefix that was found, empty for the input itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonPathError {
    /// The path has an empty segment (`a..b`, `a.`).
    #[error("path `{path}` has an empty segment")]
    EmptySegment {
        /// The path as written.
        path: String,
    },
    /// An object has no such field.
    #[error("path `{path}`: no field `{field}` in {}", place(at))]
    NoField {
        /// The path as written.
        path: String,
        /// The prefix that was found.
        at: String,
        /// The missing field.
        field: String,
    },
    /// An array was indexed with a segment that is not a number.
    #[error(
        "path `{path}`: {} is an array, `{segment}` is not an index",
        place(at)
    )]
    NotAnIndex {
        /// The path as written.
        path: String,
        /// The prefix that was found.
        at: String,
        /// The segment.
        segment: String,
    },
    /// An array index past either end.
    #[error(
        "path `{path}`: index {index} out of range, {} has {len} elements",
        place(at)
    )]
    OutOfRange {
        /// The path as written.
        path: String,
        /// The prefix that was found.
        at: String,
        /// The index as written (negative counts from the end).
        index: i64,
        /// The array's length.
        len: usize,
    },
    /// A scalar where the path goes on.
    #[error("path `{path}`: {} is {found}, it has no `{segment}`", place(at))]
    NotAContainer {
        /// The path as written.
        path: String,
        /// The prefix that was found.
        at: String,
        /// What is there (`a number`).
        found: String,
        /// The segment that cannot be taken.
        segment: String,
    },
}

/// `the input` for the root, `` `a.b` `` otherwise.
fn place(at: &str) -> String {
    match at.is_empty() {
        true => "the input".to_owned(),
        false => format!("`{at}`"),
    }
}

impl JsonPath {
    /// Parses a dotted path; an empty segment (`a..b`, `a.`) is an error.
    pub fn parse(text: &str) -> Result<Self, JsonPathError> {
        let segments = if text.is_empty() || text == "." {
            Vec::new()
        } else {
            let segments: Vec<String> = text.split('.').map(str::to_owned).collect();
            if segments.iter().any(String::is_empty) {
                return Err(JsonPathError::EmptySegment {
                    path: text.to_owned(),
                });
            }
            segments
        };
        Ok(Self {
            text: text.to_owned(),
            segments,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value at this path inside `root`, or where the path stopped.
    pub fn lookup<'v>(&self, root: &'v Value) -> Result<&'v Value, JsonPathError> {
        let mut here = root;
        for (depth, seg) in self.segments.iter().enumerate() {
            let at = || self.segments[..depth].join(".");
            let path = || self.text.clone();
            here = match here {
                Value::Object(map) => map.get(seg).ok_or_else(|| JsonPathError::NoField {
                    path: path(),
                    at: at(),
                    field: seg.clone(),
                })?,
                Value::Array(items) => {
                    let index: i64 = seg.parse().map_err(|_| JsonPathError::NotAnIndex {
                        path: path(),
                        at: at(),
                        segment: seg.clone(),
                    })?;
                    let len = items.len() as i64;
                    let i = if index < 0 { len + index } else { index };
                    if i < 0 || i >= len {
                        return Err(JsonPathError::OutOfRange {
                            path: path(),
                            at: at(),
                            index,
                            len: items.len(),
                        });
                    }
                    &items[i as usize]
                }
                other => {
                    return Err(JsonPathError::NotAContainer {
                        path: path(),
                        at: at(),
                        found: describe(other).to_string(),
                        segment: seg.clone(),
                    })
                }
            };
        }
        Ok(here)
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Configuration of `json.pick`: exactly one of `path` and `fields`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PickConfig {
    /// Reply with the value at this path.
    pub path: Option<String>,
    /// Reply with an object: each key gets the value at its path.
    pub fields: Option<BTreeMap<String, String>>,
    /// The value used when a path is missing (without it a missing path is an error). An
    /// explicit `null` counts.
    #[serde(deserialize_with = "present")]
    pub default: Option<Value>,
}

/// Keeps an explicit `null` as `Some(Null)` (a missing field stays `None`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// `json.pick`: replies with the value at `path` of the request, or an object of `fields`.
#[derive(Debug, Clone)]
pub struct JsonPick {
    pick: Pick,
    default: Option<Value>,
}

#[derive(Debug, Clone)]
enum Pick {
    One(JsonPath),
    Fields(Vec<(String, JsonPath)>),
}

impl JsonPick {
    /// An agent with this configuration.
    pub fn new(config: PickConfig) -> Result<Self, ConfigError> {
        let field = |name: &str, path: &str| {
            JsonPath::parse(path).map_err(|e| format!("field `{name}`: {e}"))
        };
        let pick = match (config.path, config.fields) {
            (Some(path), None) => Pick::One(field("path", &path)?),
            (None, Some(fields)) => Pick::Fields(
                fields
                    .into_iter()
                    .map(|(k, p)| Ok((k.clone(), field(&format!("fields.{k}"), &p)?)))
                    .collect::<Result<_, String>>()?,
            ),
            (Some(_), Some(_)) => return Err("set either `path` or `fields`, not both".into()),
            (None, None) => return Err("missing field `path` (or `fields`)".into()),
        };
        Ok(Self {
            pick,
            default: config.default,
        })
    }

    /// An agent built from a pool's JSON `config:`.
    pub fn from_config(config: &Value) -> Result<Self, ConfigError> {
        Self::new(parse_config(config)?)
    }

    /// Applies the pick to `input`.
    pub fn pick(&self, input: &Value) -> Result<Value, JsonPathError> {
        let one = |path: &JsonPath| match (path.lookup(input), &self.default) {
            (Ok(v), _) => Ok(v.clone()),
            (Err(_), Some(default)) => Ok(default.clone()),
            (Err(e), None) => Err(e),
        };
        match &self.pick {
            Pick::One(path) => one(path),
            Pick::Fields(fields) => fields
                .iter()
                .map(|(k, p)| Ok((k.clone(), one(p)?)))
                .collect::<Result<serde_json::Map<_, _>, JsonPathError>>()
                .map(Value::Object),
        }
    }
}

impl Agent for JsonPick {
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
        self.pick(&request)
            .map_err(|e| AgentError::permanent(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::Legacy;
    use serde_json::json;

    fn path(p: &str) -> JsonPath {
        JsonPath::parse(p).unwrap()
    }

    #[test]
    fn follows_fields_and_indexes() {
        let v = json!({"a": {"b": [10, {"c": "deep"}], "0": "zero"}});
        assert_eq!(path("a.b.0").lookup(&v).unwrap(), &json!(10));
        assert_eq!(path("a.b.1.c").lookup(&v).unwrap(), &json!("deep"));
        assert_eq!(path("a.b.-1.c").lookup(&v).unwrap(), &json!("deep"));
        assert_eq!(
            path("a.0").lookup(&v).unwrap(),
            &json!("zero"),
            "numbers name fields of objects"
        );
        assert_eq!(path("").lookup(&v).unwrap(), &v);
        assert_eq!(path(".").lookup(&v).unwrap(), &v);
    }

    #[test]
    fn says_where_a_path_stops() {
        let v = json!({"a": {"b": [1, 2]}});
        let err = path("a.x").lookup(&v).unwrap_err();
        assert_eq!(err.to_string(), "path `a.x`: no field `x` in `a`");
        let err = path("a.b.5").lookup(&v).unwrap_err();
        assert_eq!(
            err.to_string(),
            "path `a.b.5`: index 5 out of range, `a.b` has 2 elements"
        );
        let err = path("a.b.first").lookup(&v).unwrap_err();
        assert_eq!(
            err.to_string(),
            "path `a.b.first`: `a.b` is an array, `first` is not an index"
        );
        let err = path("a.b.0.c").lookup(&v).unwrap_err();
        assert_eq!(
            err.to_string(),
            "path `a.b.0.c`: `a.b.0` is a number, it has no `c`"
        );
        let err = path("q").lookup(&json!("s")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "path `q`: the input is a string, it has no `q`"
        );
        assert!(JsonPath::parse("a..b")
            .unwrap_err()
            .to_string()
            .contains("empty segment"));
        assert_eq!(
            path("a.b.first").lookup(&v).unwrap_err(),
            JsonPathError::NotAnIndex {
                path: "a.b.first".into(),
                at: "a.b".into(),
                segment: "first".into()
            }
        );
    }

    #[test]
    fn picks_one_path_or_several_fields_with_default() {
        let input = json!({"user": {"name": "ada", "langs": ["en", "fr"]}});
        let p = JsonPick::from_config(&json!({"path": "user.langs.1"})).unwrap();
        assert_eq!(p.pick(&input).unwrap(), json!("fr"));
        let p = JsonPick::from_config(&json!({
            "fields": {"who": "user.name", "first": "user.langs.0", "age": "user.age"},
            "default": null
        }))
        .unwrap();
        assert_eq!(
            p.pick(&input).unwrap(),
            json!({"who": "ada", "first": "en", "age": null})
        );
        let p = JsonPick::from_config(&json!({"path": "user.age"})).unwrap();
        assert!(matches!(
            p.pick(&input).unwrap_err(),
            JsonPathError::NoField { field, .. } if field == "age"
        ));
    }

    #[test]
    fn config_is_checked() {
        let err = JsonPick::from_config(&Value::Null).unwrap_err().legacy();
        assert!(err.contains("missing field `path`"), "{err}");
        let err = JsonPick::from_config(&json!({"path": "a", "fields": {}}))
            .unwrap_err()
            .legacy();
        assert!(err.contains("not both"), "{err}");
        let err = JsonPick::from_config(&json!({"fields": {"x": "a..b"}}))
            .unwrap_err()
            .legacy();
        assert!(
            err.starts_with("field `fields.x`: path `a..b` has an empty segment"),
            "{err}"
        );
        let err = JsonPick::from_config(&json!({"path": 3}))
            .unwrap_err()
            .legacy();
        assert!(err.starts_with("field `path`: invalid type"), "{err}");
    }
}
