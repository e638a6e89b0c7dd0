//! Shared helpers that turn the JSON a workflow file supplies (a pool's `config:`, a task's
//! request) into typed values, with messages that say which field or what shape was wrong.

use serde::de::DeserializeOwned;
use serde_json::Value;
use troupe_runtime::ConfigError;

/// Decodes a kind's `config:` into its struct with the runtime's one config decoder. A missing
/// config (`null`) means "all defaults"; an error names the offending field's path (`/max_bytes`).
/// The kind is filled in by the kind registry.
pub(crate) fn parse_config<C: DeserializeOwned>(config: &Value) -> Result<C, ConfigError> {
    troupe_runtime::config::decode_config("", config)
}

/// Decodes a JSON value into `T`; an error names the path to the offending field, if any.
pub(crate) fn decode<T: DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            inner.to_string()
        } else {
            format!("field `{path}`: {inner}")
        }
    })
}

pub(crate) use troupe_runtime::config::describe;

/// A config error in the words of the agents' older String errors (`field `a.b`: reason`), so
/// tests can assert the path and the reason in one string.
#[cfg(test)]
pub(crate) trait Legacy {
    /// `field `a.b`: reason`, or the reason for an error about the whole config.
    fn legacy(self) -> String;
}

#[cfg(test)]
impl Legacy for ConfigError {
    fn legacy(self) -> String {
        if self.path.is_empty() {
            return self.reason;
        }
        let dotted = self.path.trim_start_matches('/').replace('/', ".");
        format!("field `{dotted}`: {}", self.reason)
    }
}

/// Serde for durations in configs, written like the workflow file's `timeout:`: a string with
/// units (`"500ms"`, `"30s"`, `"2m"`, `"1h30m"`) or a number of seconds. Zero is refused.
pub(crate) mod duration {
    use std::time::Duration;

    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    /// Writes `"<n>ms"`.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}ms", d.as_millis()))
    }

    /// Reads a duration string or a number of seconds (the runtime's one duration format),
    /// refusing zero.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        let duration =
            troupe_runtime::config::duration::deserialize(&value).map_err(D::Error::custom)?;
        if duration.is_zero() {
            let text = match &value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            return Err(D::Error::custom(format!(
                "duration {text:?} must be more than zero"
            )));
        }
        Ok(duration)
    }
}

/// Implements `Deserialize` for a request type by first reading any JSON value and then calling
/// the type's `fn from_value(Value) -> Result<Self, String>`: requests accept several shapes (a
/// plain string or an object, ...) and say in plain words which shapes fit when none does.
macro_rules! deserialize_via_value {
    ($ty:ty) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = <serde_json::Value as serde::Deserialize>::deserialize(d)?;
                <$ty>::from_value(value).map_err(<D::Error as serde::de::Error>::custom)
            }
        }
    };
}
pub(crate) use deserialize_via_value;

/// Text carried by a request: a string, an object `{ "text": "..." }`, or an array of either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextInput {
    /// The texts, in order (one for a single string).
    pub texts: Vec<String>,
    /// Whether the request was an array (replies keep the same shape).
    pub many: bool,
}

impl TextInput {
    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Array(items) => {
                let texts = items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| one_text(v).map_err(|e| format!("element {i}: {e}")))
                    .collect::<Result<_, _>>()?;
                Ok(Self { texts, many: true })
            }
            other => Ok(Self {
                texts: vec![one_text(other)?],
                many: false,
            }),
        }
    }
}

deserialize_via_value!(TextInput);

fn one_text(value: Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s),
        Value::Object(mut map) if map.len() == 1 && map.contains_key("text") => {
            match map.remove("text") {
                Some(Value::String(s)) => Ok(s),
                Some(other) => Err(format!("`text` must be a string, got {}", describe(&other))),
                None => unreachable!("checked above"),
            }
        }
        other => Err(format!(
            "expected text (a string, or an object {{\"text\": \"...\"}}), got {}",
            describe(&other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::Legacy;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields, default)]
    struct Cfg {
        size: u32,
        name: String,
    }

    #[test]
    fn null_config_means_defaults() {
        let c: Cfg = parse_config(&Value::Null).unwrap();
        assert_eq!(c.size, 0);
        assert_eq!(c.name, "");
    }

    #[test]
    fn config_errors_name_the_field() {
        let err = parse_config::<Cfg>(&json!({"size": "big"}))
            .unwrap_err()
            .legacy();
        assert!(err.starts_with("field `size`: invalid type"), "{err}");
        let err = parse_config::<Cfg>(&json!({"colour": 1}))
            .unwrap_err()
            .legacy();
        assert!(err.contains("unknown field `colour`"), "{err}");
        let err = parse_config::<Cfg>(&json!(3)).unwrap_err().legacy();
        assert!(err.contains("invalid type: integer `3`"), "{err}");
    }

    #[derive(Debug, Deserialize)]
    struct Timed {
        #[serde(with = "duration")]
        timeout: std::time::Duration,
    }

    #[test]
    fn durations_read_like_the_workflow_file() {
        let t = |v: Value| decode::<Timed>(json!({ "timeout": v })).map(|t| t.timeout);
        assert_eq!(t(json!("250ms")).unwrap().as_millis(), 250);
        assert_eq!(t(json!("1m30s")).unwrap().as_secs(), 90);
        assert_eq!(t(json!(2)).unwrap().as_secs(), 2);
        assert_eq!(t(json!(0.5)).unwrap().as_millis(), 500);
        let err = t(json!("soon")).unwrap_err();
        assert!(
            err.starts_with("field `timeout`: invalid duration \"soon\""),
            "{err}"
        );
        let err = t(json!("0s")).unwrap_err();
        assert!(err.contains("must be more than zero"), "{err}");
        let err = t(json!([1])).unwrap_err();
        assert!(err.contains("got an array"), "{err}");
    }

    #[test]
    fn text_input_accepts_strings_objects_and_arrays() {
        let one: TextInput = serde_json::from_value(json!("a b")).unwrap();
        assert_eq!(one.texts, vec!["a b"]);
        assert!(!one.many);
        let obj: TextInput = serde_json::from_value(json!({"text": "x"})).unwrap();
        assert_eq!(obj.texts, vec!["x"]);
        let many: TextInput = serde_json::from_value(json!(["a", {"text": "b"}])).unwrap();
        assert_eq!(many.texts, vec!["a", "b"]);
        assert!(many.many);
    }

    #[test]
    fn text_input_says_what_fits() {
        let err = serde_json::from_value::<TextInput>(json!(5)).unwrap_err();
        assert!(err.to_string().contains("expected text"), "{err}");
        let err = serde_json::from_value::<TextInput>(json!(["a", 1])).unwrap_err();
        assert!(
            err.to_string().contains("element 1: expected text"),
            "{err}"
        );
        let err = serde_json::from_value::<TextInput>(json!({"text": 1})).unwrap_err();
        assert!(err.to_string().contains("`text` must be a string"), "{err}");
    }
}
