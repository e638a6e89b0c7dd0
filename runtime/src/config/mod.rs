//! Configuration of agent and pattern kinds: the one typed error every `from_config` returns
//! ([`ConfigError`]), the one decoder from JSON into a config struct ([`decode_config`]), the
//! one duration format of every config ([`parse_duration`], and the serde helpers in
//! [`duration`] and [`seconds`]), and the one describer of a JSON value's shape ([`describe`]).
//!
//! ```
//! use serde::Deserialize;
//! use serde_json::json;
//! use troupe_runtime::config::{decode_config, duration};
//!
//! #[derive(Debug, Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Cfg {
//!     #[serde(with = "duration")]
//!     wait: std::time::Duration,
//! }
//!
//! let cfg: Cfg = decode_config("my.kind", &json!({"wait": "1m30s"})).unwrap();
//! assert_eq!(cfg.wait.as_secs(), 90);
//! let err = decode_config::<Cfg>("my.kind", &json!({"wait": true})).unwrap_err();
//! assert_eq!(err.path, "/wait");
//! assert!(err.to_string().starts_with("my.kind config at /wait: "), "{err}");
//! ```

use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::Value;

mod bytes_format;
mod duration_format;

pub use bytes_format::{parse_bytes, BytesError};
pub use duration_format::{duration, parse_duration, seconds, DurationError};

/// What is wrong with a kind's configuration: which kind, where inside its config (a
/// JSON-pointer-like path such as `/members/2/kind`; empty for the config as a whole), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The agent or pattern kind whose config it is (`http.request`, `pattern.swarm`).
    pub kind: String,
    /// Where inside the config: `/field/0/sub`; empty for the whole config.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

impl ConfigError {
    /// An error about the config of `kind` at `path` (`""` for the whole config).
    pub fn new(
        kind: impl Into<String>,
        path: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            kind: kind.into(),
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// The same error, about kind `kind`.
    pub fn with_kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = kind.into();
        self
    }

    /// The same error, with `prefix` (a path such as `/members/a/config`) put in front of its
    /// path: for a config nested inside another one.
    pub fn under(mut self, prefix: &str) -> Self {
        self.path = format!("{}{}", prefix.trim_end_matches('/'), self.path);
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.kind.is_empty() {
            "agent"
        } else {
            &self.kind
        };
        match self.path.is_empty() {
            true => write!(f, "{kind} config: {}", self.reason),
            false => write!(f, "{kind} config at {}: {}", self.path, self.reason),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A reason about the whole config, of a kind not yet named (a factory registered with
/// [`crate::KindRegistry::register`] gets its kind filled in).
impl From<String> for ConfigError {
    fn from(reason: String) -> Self {
        Self::new("", "", reason)
    }
}

/// See `From<String>`.
impl From<&str> for ConfigError {
    fn from(reason: &str) -> Self {
        Self::new("", "", reason)
    }
}

/// ` at /path` for a path inside a config, nothing for the whole config.
pub(crate) fn at_path(path: &str) -> String {
    match path.is_empty() {
        true => String::new(),
        false => format!(" at {path}"),
    }
}

/// Decodes the config of `kind` into `T`. A missing config (`null`) reads as `{}` (all
/// defaults); an error names the path to the offending field.
pub fn decode_config<T: DeserializeOwned>(kind: &str, config: &Value) -> Result<T, ConfigError> {
    let value = match config {
        Value::Null => Value::Object(Default::default()),
        other => other.clone(),
    };
    decode_value(kind, value)
}

/// Decodes any JSON value into `T` (no `null` default); an error of kind `kind` names the path
/// to the offending field.
pub fn decode_value<T: DeserializeOwned>(kind: &str, value: Value) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = pointer(e.path());
        ConfigError::new(kind, path, e.into_inner().to_string())
    })
}

/// A serde path as a JSON pointer: `members.2.kind` -> `/members/2/kind`, the root -> ``.
fn pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("/{index}")),
            Segment::Map { key } => {
                out.push('/');
                out.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            Segment::Enum { variant } => {
                out.push('/');
                out.push_str(variant);
            }
            Segment::Unknown => out.push_str("/?"),
        }
    }
    out
}

/// "a string", "an array", ... for messages about a value of the wrong shape.
pub fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
