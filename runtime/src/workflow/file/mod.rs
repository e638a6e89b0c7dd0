//! Workflow files: YAML text in, [`WorkflowSpec`] out.
//!
//! Reading happens in two steps. serde-saphyr first turns the text into a small tree of YAML
//! nodes that remembers the line and column of every node (under a size limit and a parser
//! [`serde_saphyr::Budget`], so alias bombs and deep nesting are refused). A hand-written reader
//! then walks that tree, so every error can name the file, the line, the column and the element
//! it is about: `text_stats.yaml:7:5: task "count": unknown field "paralel", expected one of ...`.
//!
//! ```yaml
//! workflow:
//!   name: text_stats                    # required
//!   version: "1.0"                      # string or number; default "1"
//!   description: free text              # optional
//!   orchestration_pattern: supervisor   # optional; dag or a registered pattern
//!   agents:                             # pool name -> pool
//!     splitter: { type: text.split, count: 1, capabilities: [split], config: {any: yaml} }
//!   tasks:
//!     - { id: split, agent: splitter, timeout: 30s, retry_policy: exponential_backoff, input: "text" }
//!     - { id: count, agent: text.count, depends_on: [split], parallel: true, optional: false }
//!     - { id: approve, await_signal: approval, depends_on: [count], timeout: 24h }
//!     - { id: cool_off, sleep: 10m, depends_on: [approve] }
//!   fault_tolerance:
//!     circuit_breaker: { failure_threshold: 3, timeout_seconds: 30 }
//! ```
//!
//! Also read (see [`crate::workflow::resources`], [`crate::workflow::saga`],
//! [`crate::workflow::coordination`]):
//!
//! ```yaml
//! workflow:
//!   agents:
//!     booker: { type: cmd.run, config: { ... }, resources: { cpu: "2 cores", memory: "4GB" } }
//!   tasks:
//!     - { id: book, agent: booker, compensate: { agent: canceller, input: "$output", retry_policy: none, timeout: 30s } }
//!   coordination: { type: hybrid, event_driven: [agent_status, data_updates], graph_based: [task_flow, dependencies] }
//!   fault_tolerance:
//!     saga_pattern: { compensation_enabled: true, rollback_on_failure: true }
//! ```
//!
//! A `retry_policy` is `none`, `exponential_backoff`, or a mapping of `max_attempts`,
//! `initial_backoff`, `max_backoff`, `multiplier`, `jitter` and `retry_on` (`retryable`, `any` or
//! a list of failure classes); missing fields come from the `exponential_backoff` preset.
//! A task with `await_signal: NAME` or `sleep: DURATION` calls no agent (it has no `agent`):
//! it waits for the signal (whose value becomes its output; `timeout` bounds the wait) or for a
//! durable timer (its input becomes its output; no `timeout`). See
//! [`crate::workflow::durable`] for how both survive a restart.
//! Durations are seconds or strings like `"500ms"`, `"30s"`, `"2m"` ([`parse_duration`]).
//! Validation that needs the whole definition (unknown dependencies, cycles, unknown kinds) is
//! the planner's job: [`crate::workflow::plan::plan`].

use super::spec::WorkflowSpec;
use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

mod packed;
mod reader;
mod rewrite;
mod tree;

pub use packed::PackedTree;
pub(crate) use packed::SourceTree;
pub use rewrite::{rewrite_definition, RewriteError};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod wait_tests;

/// The largest workflow file accepted, in bytes; checked before any parsing.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// Why a workflow file could not be read into a [`WorkflowSpec`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The file could not be opened or read.
    #[error("{path}: cannot read workflow file: {error}")]
    Io {
        /// The path as given.
        path: String,
        /// The underlying error.
        #[source]
        error: std::io::Error,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("{origin}: workflow file is {size} bytes, larger than the limit of {limit} bytes")]
    TooLarge {
        /// The file name or label.
        origin: String,
        /// Its size in bytes (at least this much, for a file that kept growing).
        size: u64,
        /// The limit.
        limit: usize,
    },
    /// The text is not valid YAML, or not a valid workflow definition.
    #[error("{origin}:{line}:{column}: {message}")]
    Invalid {
        /// The file name or label.
        origin: String,
        /// 1-based line.
        line: u64,
        /// 1-based column.
        column: u64,
        /// What is wrong, naming the element concerned.
        message: String,
    },
}

impl FileError {
    /// The file name or label the error is about (the path for I/O errors). This shadows
    /// [`std::error::Error::source`]; call that trait method for the underlying I/O error.
    pub fn source(&self) -> &str {
        match self {
            Self::Io { path: s, .. } | Self::TooLarge { origin: s, .. } => s,
            Self::Invalid { origin: s, .. } => s,
        }
    }

    /// 1-based line of the offending element; 0 when the error is not about a position.
    pub fn line(&self) -> u64 {
        if let Self::Invalid { line, .. } = self {
            *line
        } else {
            0
        }
    }

    /// 1-based column of the offending element; 0 when the error is not about a position.
    pub fn column(&self) -> u64 {
        if let Self::Invalid { column, .. } = self {
            *column
        } else {
            0
        }
    }

    /// What is wrong, without the file name and position.
    pub fn message(&self) -> Cow<'_, str> {
        if let Self::Invalid { message, .. } = self {
            return Cow::Borrowed(message);
        }
        let full = self.to_string();
        let prefix = format!("{}: ", self.source());
        Cow::Owned(full.strip_prefix(&prefix).unwrap_or(&full).to_string())
    }

    /// Whether the file could not be read at all (missing, unreadable).
    pub fn is_io(&self) -> bool {
        matches!(self, Self::Io { .. })
    }
}

/// Reads and parses the workflow file at `path` (see [`parse_workflow`]).
pub fn load_workflow(path: &Path) -> Result<WorkflowSpec, FileError> {
    let origin = path.display().to_string();
    let io = |error| FileError::Io {
        path: origin.clone(),
        error,
    };
    let too_large = |size| FileError::TooLarge {
        origin: origin.clone(),
        size,
        limit: MAX_FILE_BYTES,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    match file.metadata() {
        Ok(meta) if meta.len() > MAX_FILE_BYTES as u64 => return Err(too_large(meta.len())),
        _ => {}
    }
    let mut bytes = Vec::new();
    let limit = MAX_FILE_BYTES as u64 + 1;
    file.take(limit).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let last_line = valid.rsplit(|&b| b == b'\n').next().unwrap_or_default();
        FileError::Invalid {
            origin: origin.clone(),
            line: valid.split(|&b| b == b'\n').count() as u64,
            column: String::from_utf8_lossy(last_line).chars().count() as u64 + 1,
            message: "the file is not valid UTF-8".into(),
        }
    })?;
    parse_workflow(&text, &origin)
}

/// Parses a workflow definition from YAML `text`; `source` names it in messages (a file name).
///
/// Unknown fields are errors at every level. Fields that are read but not acted on yet are
/// reported in [`WorkflowSpec::warnings`].
pub fn parse_workflow(text: &str, source: &str) -> Result<WorkflowSpec, FileError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(FileError::TooLarge {
            origin: source.to_string(),
            size: text.len() as u64,
            limit: MAX_FILE_BYTES,
        });
    }
    let root = tree::parse_tree(text).map_err(|e| tree::syntax_error(source, &e))?;
    let mut spec = reader::read(&root, text, source)?;
    spec.tree = SourceTree::new(root);
    Ok(spec)
}

/// Reads a workflow definition from `tree`, the [`PackedTree`] of `text` journaled when a run
/// was submitted, without parsing the YAML again: the same spec, warnings and errors as
/// [`parse_workflow`] of `text`. `None` if the tree is in a format this build does not read
/// (then parse `text`).
pub fn read_packed(
    tree: PackedTree,
    text: &str,
    source: &str,
) -> Option<Result<WorkflowSpec, FileError>> {
    let root = tree.unpack()?;
    Some(reader::read(&root, text, source).map(|mut spec| {
        spec.tree = SourceTree::new(root);
        spec
    }))
}

pub use crate::config::{parse_duration, DurationError};
