//! `text.read`: the contents of a UTF-8 text file, as a string.

use std::path::{Path, PathBuf};
use troupe_runtime::ConfigError;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::AsyncReadExt;
use troupe_runtime::{Agent, AgentContext, AgentError, Snapshot};

use super::TextError;
use crate::shape::{decode, describe, deserialize_via_value, parse_config};

/// The default size limit of `text.read`: 16 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// Configuration of `text.read`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReadConfig {
    /// The file read when the request names none.
    pub path: Option<PathBuf>,
    /// Files larger than this are refused (default 16 MiB).
    pub max_bytes: u64,
}

impl Default for ReadConfig {
    fn default() -> Self {
        Self {
            path: None,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// `text.read`: replies with the text of a file, named by the request (a path string or
/// `{"path": ...}`) or, when the request is `null`, by the config.
#[derive(Debug, Clone)]
pub struct TextRead {
    config: ReadConfig,
}

impl TextRead {
    /// An agent with this configuration.
    pub fn new(config: ReadConfig) -> Result<Self, ConfigError> {
        if config.max_bytes == 0 {
            return Err("field `max_bytes` must be at least 1".into());
        }
        Ok(Self { config })
    }

    /// An agent built from a pool's JSON `config:`.
    pub fn from_config(config: &Value) -> Result<Self, ConfigError> {
        Self::new(parse_config(config)?)
    }
}

/// A `text.read` request: `null` (read the configured file), a path string, or `{"path": ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRequest {
    /// The file to read instead of the configured one.
    pub path: Option<PathBuf>,
}

impl ReadRequest {
    fn from_value(value: Value) -> Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fields {
            path: Option<PathBuf>,
        }
        match value {
            Value::Null => Ok(Self { path: None }),
            Value::String(s) => Ok(Self {
                path: Some(s.into()),
            }),
            v @ Value::Object(_) => decode::<Fields>(v).map(|f| Self { path: f.path }),
            other => Err(format!(
                "expected null, a path string or {{\"path\": \"...\"}}, got {}",
                describe(&other)
            )),
        }
    }
}

deserialize_via_value!(ReadRequest);

impl Agent for TextRead {
    type Request = ReadRequest;
    type Reply = String;
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
        request: ReadRequest,
    ) -> Result<String, AgentError> {
        let path = request
            .path
            .or_else(|| self.config.path.clone())
            .ok_or(TextError::NoPath)?;
        Ok(read_text(&path, self.config.max_bytes).await?)
    }
}

/// Reads a UTF-8 file of at most `max` bytes.
pub(crate) async fn read_text(path: &Path, max: u64) -> Result<String, TextError> {
    let io = |source| TextError::Io {
        path: path.to_owned(),
        source,
    };
    let file = tokio::fs::File::open(path).await.map_err(io)?;
    let meta = file.metadata().await.map_err(io)?;
    if meta.is_dir() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "it is a directory",
        )));
    }
    if meta.len() > max {
        return Err(TextError::TooLarge {
            path: path.to_owned(),
            max,
        });
    }
    // The file may grow after the size check: never read more than the limit plus one byte.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .await
        .map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(TextError::TooLarge {
            path: path.to_owned(),
            max,
        });
    }
    String::from_utf8(bytes).map_err(|e| TextError::NotUtf8 {
        path: path.to_owned(),
        offset: e.utf8_error().valid_up_to(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::Legacy;
    use serde_json::json;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("troupe-text-read-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn reads_a_utf8_file() {
        let dir = temp_dir("ok");
        let path = dir.join("a.txt");
        std::fs::write(&path, "héllo\nworld\n").unwrap();
        assert_eq!(read_text(&path, 100).await.unwrap(), "héllo\nworld\n");
    }

    #[tokio::test]
    async fn refuses_files_over_the_limit() {
        let dir = temp_dir("big");
        let path = dir.join("big.txt");
        std::fs::write(&path, "0123456789").unwrap();
        let err = read_text(&path, 9).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("larger than 9 bytes (config `max_bytes`)"),
            "{err}"
        );
        assert!(!AgentError::from(err).is_retryable());
        assert_eq!(read_text(&path, 10).await.unwrap(), "0123456789");
    }

    #[tokio::test]
    async fn missing_file_directory_and_binary_are_permanent_errors() {
        let dir = temp_dir("bad");
        let err = read_text(&dir.join("nope.txt"), 100).await.unwrap_err();
        assert!(err.to_string().starts_with("cannot read "), "{err}");
        assert!(!AgentError::from(err).is_retryable());

        let err = read_text(&dir, 100).await.unwrap_err();
        assert!(err.to_string().contains("directory"), "{err}");
        assert!(!AgentError::from(err).is_retryable());

        let path = dir.join("bin");
        std::fs::write(&path, [b'o', b'k', 0xff, 0xfe]).unwrap();
        let err = read_text(&path, 100).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("not UTF-8 text (invalid byte at offset 2)"),
            "{err}"
        );
    }

    #[test]
    fn request_shapes() {
        let r: ReadRequest = serde_json::from_value(json!(null)).unwrap();
        assert_eq!(r.path, None);
        let r: ReadRequest = serde_json::from_value(json!("/x")).unwrap();
        assert_eq!(r.path, Some("/x".into()));
        let r: ReadRequest = serde_json::from_value(json!({"path": "/y"})).unwrap();
        assert_eq!(r.path, Some("/y".into()));
        let err = serde_json::from_value::<ReadRequest>(json!({"file": "/y"})).unwrap_err();
        assert!(err.to_string().contains("unknown field `file`"), "{err}");
        let err = serde_json::from_value::<ReadRequest>(json!(7)).unwrap_err();
        assert!(
            err.to_string().contains("expected null, a path string"),
            "{err}"
        );
    }

    #[test]
    fn config_is_checked() {
        assert_eq!(
            TextRead::from_config(&Value::Null)
                .unwrap()
                .config
                .max_bytes,
            DEFAULT_MAX_BYTES
        );
        let err = TextRead::from_config(&json!({"max_bytes": 0}))
            .unwrap_err()
            .legacy();
        assert!(err.contains("`max_bytes`"), "{err}");
        let err = TextRead::from_config(&json!({"max_bytes": -1}))
            .unwrap_err()
            .legacy();
        assert!(err.starts_with("field `max_bytes`"), "{err}");
    }
}
