//! The `text.*` kinds: read a file, split text into chunks, count words, merge counts, transform
//! strings. The text logic is plain functions; the agents are thin shells around them.

mod count;
mod read;
mod split;
pub(crate) mod transform;

pub use count::{CountConfig, Counts, MergeConfig, TextCount, TextMergeCounts};
pub use read::{ReadConfig, ReadRequest, TextRead};
pub use split::{SplitBy, SplitConfig, TextSplit};
pub use transform::{TextTransform, TransformConfig, TransformOp};

use std::path::PathBuf;

use troupe_runtime::AgentError;

/// Why a `text.*` request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TextError {
    /// Neither the config nor the request named a file.
    #[error("no file to read: set `path` in the config or send a path as the request")]
    NoPath,
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is larger than the configured limit.
    #[error("{path} is larger than {max} bytes (config `max_bytes`)")]
    TooLarge { path: PathBuf, max: u64 },
    /// The file is not UTF-8.
    #[error("{path} is not UTF-8 text (invalid byte at offset {offset})")]
    NotUtf8 { path: PathBuf, offset: usize },
    /// The request does not fit the kind.
    #[error("{0}")]
    BadInput(String),
}

impl From<TextError> for AgentError {
    fn from(e: TextError) -> Self {
        use std::io::ErrorKind::*;
        let retryable = match &e {
            TextError::Io { source, .. } => !matches!(
                source.kind(),
                NotFound | PermissionDenied | IsADirectory | InvalidInput | InvalidData
            ),
            _ => false,
        };
        if retryable {
            AgentError::transient(e.to_string())
        } else {
            AgentError::permanent(e.to_string())
        }
    }
}
