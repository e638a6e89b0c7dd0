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
//!   orchestration_pattern: supervisor   # optional; one of KNOWN_PATTERNS
//!   agents:                             # pool name -> pool
//!     splitter: { type: text.split, count: 1, capabilities: [split], config: {any: yaml} }
//!   tasks:
//!     - { id: split, agent: splitter, timeout: 30s, retry_policy: exponential_backoff, input: "text" }
//!     - { id: count, agent: text.count, depends_on: [split], parallel: true, optional: false }
//!   fault_tolerance:
//!     circuit_breaker: { failure_threshold: 3, timeout_seconds: 30 }
//! ```
//!
//! Validation that needs the whole definition (unknown dependencies, cycles, unknown kinds) is
//! the planner's job: [`crate::workflow::plan::plan`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::{MessageFormatter, Spanned};

use super::spec::{FaultTolerance, PoolSpec, SourcePos, TaskSpec, WorkflowSpec, KNOWN_PATTERNS};
use crate::ids::TaskId;
use crate::policy::{CircuitBreakerConfig, RetryOn, RetryPolicy};

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;

/// The largest workflow file accepted, in bytes; checked before any parsing.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// Why a workflow file could not be read into a [`WorkflowSpec`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The file could not be opened or read.
    Io {
        /// The path as given.
        path: String,
        /// The underlying error.
        #[source]
        error: std::io::Error,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    TooLarge {
        /// The file name or label.
        origin: String,
        /// Its size in bytes (at least this much for a file that kept growing).
        size: u64,
        /// The limit.
        limit: usize,
    },
    /// The text is not valid YAML, or not a valid workflow definition.
    Invalid {
        /// The file name or label.
        origin: String,
        /// 1-based line; 0 when unknown.
        line: u64,
        /// 1-based column; 0 when unknown.
        column: u64,
        /// What is wrong, naming the element concerned.
        message: String,
    },
}

impl FileError {
    /// The file name or label the error is about (the path for I/O errors). Note: this shadows
    /// [`std::error::Error::source`]; call that trait method for the underlying I/O error.
    pub fn source(&self) -> &str {
        match self {
            FileError::Io { path, .. } => path,
            FileError::TooLarge { origin, .. } | FileError::Invalid { origin, .. } => origin,
        }
    }

    /// 1-based line of the offending element; 0 when the error is not about a position.
    pub fn line(&self) -> u64 {
        match self {
            FileError::Invalid { line, .. } => *line,
            _ => 0,
        }
    }

    /// 1-based column of the offending element; 0 when the error is not about a position.
    pub fn column(&self) -> u64 {
        match self {
            FileError::Invalid { column, .. } => *column,
            _ => 0,
        }
    }

    /// What is wrong, without the file name and position.
    pub fn message(&self) -> Cow<'_, str> {
        match self {
            FileError::Io { error, .. } => format!("cannot read workflow file: {error}").into(),
            FileError::TooLarge { size, limit, .. } => {
                format!("workflow file is {size} bytes, larger than the limit of {limit} bytes")
                    .into()
            }
            FileError::Invalid { message, .. } => Cow::Borrowed(message),
        }
    }

    /// Whether the file could not be read at all (missing, unreadable).
    pub fn is_io(&self) -> bool {
        matches!(self, FileError::Io { .. })
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Invalid { line: 0, .. } => {
                write!(f, "{}: {}", self.source(), self.message())
            }
            FileError::Invalid { line, column, .. } => {
                write!(f, "{}:{line}:{column}: {}", self.source(), self.message())
            }
            _ => write!(f, "{}: {}", self.source(), self.message()),
        }
    }
}

/// Reads and parses the workflow file at `path` (see [`parse_workflow`]).
pub fn load_workflow(path: &Path) -> Result<WorkflowSpec, FileError> {
    let origin = path.display().to_string();
    let io = |error| FileError::Io {
        path: origin.clone(),
        error,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let too_large = |size| FileError::TooLarge {
        origin: origin.clone(),
        size,
        limit: MAX_FILE_BYTES,
    };
    if let Ok(meta) = file.metadata() {
        if meta.len() > MAX_FILE_BYTES as u64 {
            return Err(too_large(meta.len()));
        }
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let column = String::from_utf8_lossy(&valid[line_start..])
            .chars()
            .count() as u64
            + 1;
        FileError::Invalid {
            origin: origin.clone(),
            line,
            column,
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
    let root = parse_tree(text).map_err(|e| syntax_error(source, &e))?;
    let mut reader = Reader {
        origin: source,
        text,
        warnings: Vec::new(),
    };
    reader.document(&root)
}

/// Parses a duration: a number of seconds (`"30"`, `"1.5"`), or numbers with units `ms`, `s`,
/// `m`, `h`, possibly combined (`"500ms"`, `"30s"`, `"2m"`, `"1h30m"`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const HINT: &str = "expected a number of seconds or a number with a unit ms, s, m or h \
                        (like \"500ms\", \"30s\", \"2m\")";
    let s = text.trim();
    if s.is_empty() || s.len() > 64 {
        return Err(format!("invalid duration {text:?}: {HINT}"));
    }
    if let Ok(secs) = s.parse::<f64>() {
        return seconds(secs).ok_or_else(|| format!("invalid duration {text:?}: {HINT}"));
    }
    let mut total = 0.0_f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let unit_len = rest[num_len..]
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len() - num_len);
        let (num, unit) = (&rest[..num_len], &rest[num_len..num_len + unit_len]);
        let factor = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(format!("invalid duration {text:?}: {HINT}")),
        };
        let value: f64 = num
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: {HINT}"))?;
        total += value * factor;
        rest = &rest[num_len + unit_len..];
    }
    seconds(total).ok_or_else(|| format!("invalid duration {text:?}: out of range"))
}

fn seconds(secs: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(secs).ok()
}

// ---------------------------------------------------------------------------------------------
// Step 1: text -> a tree of YAML nodes with positions.

/// Parser events that anchors may record and aliases replay, in all: enough for shared
/// settings referenced from every task of a large file, far below what an alias bomb needs.
const MAX_ALIAS_EVENTS: usize = 100_000;

fn parse_tree(text: &str) -> Result<Node, serde_saphyr::Error> {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = 64;
    budget.max_nodes = 1_000_000;
    budget.max_events = 4_000_000;
    budget.max_aliases = 10_000;
    budget.max_anchors = 10_000;
    budget.max_documents = 2;
    budget.max_total_scalar_bytes = 4 * MAX_FILE_BYTES;
    budget.max_recorded_anchor_events = MAX_ALIAS_EVENTS;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = MAX_ALIAS_EVENTS;
    options.with_snippet = false;
    options.strict_booleans = true;
    serde_saphyr::from_str_with_options(text, options)
}

fn syntax_error(origin: &str, err: &serde_saphyr::Error) -> FileError {
    let mut inner = err;
    while let serde_saphyr::Error::AliasError { error, .. }
    | serde_saphyr::Error::WithSnippet { error, .. } = inner
    {
        inner = error;
    }
    let message: String = serde_saphyr::UserMessageFormatter
        .format_message(inner)
        .chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect();
    let (line, column) = err.location().map_or((0, 0), |l| (l.line(), l.column()));
    FileError::Invalid {
        origin: origin.to_string(),
        line,
        column,
        message: format!("invalid YAML: {message}"),
    }
}

struct Node {
    pos: SourcePos,
    kind: Kind,
}

enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    /// The value and, when known, the byte range of its text (to keep `version: 1.10` as typed).
    Float(f64, Option<(usize, usize)>),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

struct Key {
    name: String,
    pos: SourcePos,
}

fn pos_of(loc: &serde_saphyr::Location) -> SourcePos {
    SourcePos {
        line: loc.line(),
        column: loc.column(),
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Kind>::deserialize(d)?;
        let mut kind = spanned.value;
        if let Kind::Float(_, text) = &mut kind {
            let span = spanned.referenced.span();
            if let (Some(start), Some(len)) = (span.byte_offset(), span.byte_len()) {
                *text = Some((start as usize, len as usize));
            }
        }
        Ok(Node {
            pos: pos_of(&spanned.referenced),
            kind,
        })
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<String>::deserialize(d)?;
        Ok(Key {
            pos: pos_of(&spanned.referenced),
            name: spanned.value,
        })
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KindVisitor)
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_none<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        Kind::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Kind, E> {
        Ok(Kind::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Kind, E> {
        Ok(Kind::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Kind, E> {
        Ok(Kind::UInt(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Kind, E> {
        Ok(Kind::Float(v, None))
    }
    fn visit_str<E>(self, v: &str) -> Result<Kind, E> {
        Ok(Kind::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Kind, E> {
        Ok(Kind::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Kind::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Kind::Map(entries))
    }
}

impl Kind {
    fn describe(&self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) | Kind::UInt(_) => "an integer",
            Kind::Float(..) => "a number",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Step 2: the tree -> a WorkflowSpec.

/// Walks the node tree; `what` arguments name the element for messages (`task "count"`).
struct Reader<'a> {
    origin: &'a str,
    text: &'a str,
    warnings: Vec<String>,
}

/// The entries of a mapping whose keys were checked against the allowed field names.
struct Fields<'n> {
    pos: SourcePos,
    entries: &'n [(Key, Node)],
}

impl<'n> Fields<'n> {
    /// The value of `name`; an explicit `null` counts as absent.
    fn get(&self, name: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, v)| k.name == name && !matches!(v.kind, Kind::Null))
            .map(|(_, v)| v)
    }

    fn key_pos(&self, name: &str) -> SourcePos {
        self.entries
            .iter()
            .find(|(k, _)| k.name == name)
            .map_or(self.pos, |(k, _)| k.pos)
    }
}

const WORKFLOW_FIELDS: &[&str] = &[
    "name",
    "version",
    "description",
    "orchestration_pattern",
    "agents",
    "tasks",
    "fault_tolerance",
];
const POOL_FIELDS: &[&str] = &["type", "count", "capabilities", "config"];
const TASK_FIELDS: &[&str] = &[
    "id",
    "agent",
    "depends_on",
    "timeout",
    "retry_policy",
    "parallel",
    "optional",
    "input",
];
const RETRY_FIELDS: &[&str] = &[
    "max_attempts",
    "initial_backoff",
    "max_backoff",
    "multiplier",
    "jitter",
    "retry_on",
];

impl Reader<'_> {
    fn error(&self, pos: SourcePos, message: impl fmt::Display) -> FileError {
        FileError::Invalid {
            origin: self.origin.to_string(),
            line: pos.line,
            column: pos.column,
            message: message.to_string(),
        }
    }

    fn warn(&mut self, pos: SourcePos, message: impl fmt::Display) {
        let line = format!("{}:{}:{}: {message}", self.origin, pos.line, pos.column);
        self.warnings.push(line);
    }

    fn type_error(&self, what: &str, field: &str, node: &Node, expected: &str) -> FileError {
        let found = node.kind.describe();
        self.error(
            node.pos,
            format!("{what}: field {field:?}: expected {expected}, found {found}"),
        )
    }

    fn fields<'n>(
        &self,
        what: &str,
        node: &'n Node,
        allowed: &[&str],
    ) -> Result<Fields<'n>, FileError> {
        let Kind::Map(entries) = &node.kind else {
            let found = node.kind.describe();
            return Err(self.error(
                node.pos,
                format!("{what}: expected a mapping, found {found}"),
            ));
        };
        for (key, _) in entries {
            if !allowed.contains(&key.name.as_str()) {
                let expected = allowed
                    .iter()
                    .map(|a| format!("{a:?}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(self.error(
                    key.pos,
                    format!(
                        "{what}: unknown field {:?}, expected one of {expected}",
                        key.name
                    ),
                ));
            }
        }
        Ok(Fields {
            pos: node.pos,
            entries,
        })
    }

    fn required<'n>(
        &self,
        what: &str,
        fields: &Fields<'n>,
        name: &str,
    ) -> Result<&'n Node, FileError> {
        fields
            .get(name)
            .ok_or_else(|| self.error(fields.pos, format!("{what}: missing field {name:?}")))
    }

    fn string(&self, what: &str, field: &str, node: &Node) -> Result<String, FileError> {
        match &node.kind {
            Kind::Str(s) => Ok(s.clone()),
            _ => Err(self.type_error(what, field, node, "a string")),
        }
    }

    /// A name or id: a non-empty string (integers are taken as their decimal text).
    fn name(&self, what: &str, field: &str, node: &Node) -> Result<String, FileError> {
        let name = match &node.kind {
            Kind::Str(s) => s.clone(),
            Kind::Int(i) => i.to_string(),
            Kind::UInt(u) => u.to_string(),
            _ => return Err(self.type_error(what, field, node, "a name")),
        };
        if name.trim().is_empty() {
            return Err(self.error(node.pos, format!("{what}: field {field:?} is empty")));
        }
        Ok(name)
    }

    fn boolean(&self, what: &str, field: &str, node: Option<&Node>) -> Result<bool, FileError> {
        match node.map(|n| (n, &n.kind)) {
            None => Ok(false),
            Some((_, Kind::Bool(b))) => Ok(*b),
            Some((n, _)) => Err(self.type_error(what, field, n, "true or false")),
        }
    }

    fn whole(&self, what: &str, field: &str, node: &Node) -> Result<u64, FileError> {
        match node.kind {
            Kind::UInt(u) => Ok(u),
            Kind::Int(i) if i >= 0 => Ok(i as u64),
            Kind::Int(i) => Err(self.error(
                node.pos,
                format!("{what}: field {field:?} must not be negative, got {i}"),
            )),
            _ => Err(self.type_error(what, field, node, "a whole number")),
        }
    }

    fn whole_u32(&self, what: &str, field: &str, node: &Node) -> Result<u32, FileError> {
        let n = self.whole(what, field, node)?;
        u32::try_from(n).map_err(|_| {
            self.error(
                node.pos,
                format!("{what}: field {field:?} is too large: {n}"),
            )
        })
    }

    fn number(&self, what: &str, field: &str, node: &Node) -> Result<f64, FileError> {
        match node.kind {
            Kind::UInt(u) => Ok(u as f64),
            Kind::Int(i) => Ok(i as f64),
            Kind::Float(f, _) => Ok(f),
            _ => Err(self.type_error(what, field, node, "a number")),
        }
    }

    fn duration(&self, what: &str, field: &str, node: &Node) -> Result<Duration, FileError> {
        let bad = |msg: String| self.error(node.pos, format!("{what}: field {field:?}: {msg}"));
        match &node.kind {
            Kind::UInt(u) => Ok(Duration::from_secs(*u)),
            Kind::Int(i) => Err(bad(format!("a duration must not be negative, got {i}"))),
            Kind::Float(f, _) => seconds(*f).ok_or_else(|| {
                bad(format!(
                    "a duration must be a non-negative number of seconds, got {f}"
                ))
            }),
            Kind::Str(s) => parse_duration(s).map_err(bad),
            _ => Err(self.type_error(
                what,
                field,
                node,
                "a number of seconds or a duration like \"30s\"",
            )),
        }
    }

    fn names(
        &self,
        what: &str,
        field: &str,
        node: Option<&Node>,
    ) -> Result<Vec<String>, FileError> {
        match node.map(|n| (n, &n.kind)) {
            None => Ok(Vec::new()),
            Some((n, Kind::Str(_) | Kind::Int(_) | Kind::UInt(_))) => {
                Ok(vec![self.name(what, field, n)?])
            }
            Some((_, Kind::Seq(items))) => {
                items.iter().map(|i| self.name(what, field, i)).collect()
            }
            Some((n, _)) => Err(self.type_error(what, field, n, "a list of names")),
        }
    }

    fn document(&mut self, root: &Node) -> Result<WorkflowSpec, FileError> {
        const HINT: &str = "expected a mapping with a top-level \"workflow\" key";
        match root.kind {
            Kind::Null => return Err(self.error(root.pos, format!("the file is empty: {HINT}"))),
            Kind::Map(_) => {}
            ref other => {
                let found = other.describe();
                return Err(self.error(root.pos, format!("{HINT}, found {found}")));
            }
        }
        let top = self.fields("top level", root, &["workflow"])?;
        let workflow = self.required("top level", &top, "workflow")?;
        self.workflow(workflow)
    }

    fn workflow(&mut self, node: &Node) -> Result<WorkflowSpec, FileError> {
        const W: &str = "workflow";
        let f = self.fields(W, node, WORKFLOW_FIELDS)?;
        let name = self.name(W, "name", self.required(W, &f, "name")?)?;
        let version = match f.get("version") {
            None => "1".to_string(),
            Some(n) => self.version(n)?,
        };
        if let Some(d) = f.get("description") {
            self.string(W, "description", d)?;
        }
        let pattern = match f.get("orchestration_pattern") {
            None => None,
            Some(n) => {
                let p = self.string(W, "orchestration_pattern", n)?;
                if !KNOWN_PATTERNS.contains(&p.as_str()) {
                    let known = KNOWN_PATTERNS.join(", ");
                    return Err(self.error(
                        n.pos,
                        format!(
                            "{W}: unknown orchestration_pattern {p:?}, expected one of {known}"
                        ),
                    ));
                }
                if p != "dag" {
                    self.warn(
                        n.pos,
                        format!("orchestration_pattern {p:?} is checked; tasks run as a DAG until patterns land"),
                    );
                }
                Some(p)
            }
        };
        let mut agents = BTreeMap::new();
        if let Some(n) = f.get("agents") {
            let Kind::Map(entries) = &n.kind else {
                let expected = "a mapping of pool names to pools";
                return Err(self.type_error(W, "agents", n, expected));
            };
            for (key, pool) in entries {
                let parsed = self.pool(key, pool)?;
                agents.insert(key.name.clone(), parsed);
            }
        }
        let tasks = match f.get("tasks") {
            None => Vec::new(),
            Some(n) => {
                let Kind::Seq(items) = &n.kind else {
                    return Err(self.type_error(W, "tasks", n, "a list of tasks"));
                };
                let mut tasks = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    tasks.push(self.task(i, item)?);
                }
                tasks
            }
        };
        let fault_tolerance = match f.get("fault_tolerance") {
            None => FaultTolerance::default(),
            Some(n) => self.fault_tolerance(n)?,
        };
        Ok(WorkflowSpec {
            name,
            version,
            pattern,
            agents,
            tasks,
            fault_tolerance,
            warnings: std::mem::take(&mut self.warnings),
        })
    }

    fn version(&self, node: &Node) -> Result<String, FileError> {
        match &node.kind {
            Kind::Str(s) => Ok(s.clone()),
            Kind::Int(i) => Ok(i.to_string()),
            Kind::UInt(u) => Ok(u.to_string()),
            Kind::Float(f, text) => {
                let typed = text.and_then(|(start, len)| self.text.get(start..start + len));
                Ok(typed.map_or_else(|| f.to_string(), |t| t.trim().to_string()))
            }
            _ => Err(self.type_error("workflow", "version", node, "a string or a number")),
        }
    }

    fn pool(&mut self, key: &Key, node: &Node) -> Result<PoolSpec, FileError> {
        let what = format!("pool {:?}", key.name);
        let f = self.fields(&what, node, POOL_FIELDS)?;
        let kind = self.name(&what, "type", self.required(&what, &f, "type")?)?;
        let count = match f.get("count") {
            None => 1,
            Some(n) => {
                let c = self.whole(&what, "count", n)?;
                if c == 0 {
                    return Err(self.error(n.pos, format!("{what}: count must be at least 1")));
                }
                usize::try_from(c)
                    .map_err(|_| self.error(n.pos, format!("{what}: count is too large: {c}")))?
            }
        };
        let capabilities = self.names(&what, "capabilities", f.get("capabilities"))?;
        if !capabilities.is_empty() {
            self.warn(
                f.key_pos("capabilities"),
                format!(
                    "{what}: capabilities are recorded but not used yet (used once patterns land)"
                ),
            );
        }
        let config = f.get("config").map_or(Ok(Value::Null), |n| self.value(n))?;
        Ok(PoolSpec {
            kind,
            count,
            capabilities,
            config,
            pos: key.pos,
        })
    }

    fn task(&mut self, index: usize, node: &Node) -> Result<TaskSpec, FileError> {
        // Name the task by its id in every message, even those about fields before `id`.
        let id_text = match &node.kind {
            Kind::Map(entries) => entries.iter().find(|(k, _)| k.name == "id"),
            _ => None,
        };
        let numbered = match id_text.map(|(_, v)| &v.kind) {
            Some(Kind::Str(s)) if !s.trim().is_empty() => format!("task {s:?}"),
            Some(Kind::UInt(u)) => format!("task \"{u}\""),
            Some(Kind::Int(i)) => format!("task \"{i}\""),
            _ => format!("task #{}", index + 1),
        };
        let f = self.fields(&numbered, node, TASK_FIELDS)?;
        let id = self.name(&numbered, "id", self.required(&numbered, &f, "id")?)?;
        let what = format!("task {id:?}");
        let agent = self.name(&what, "agent", self.required(&what, &f, "agent")?)?;
        let depends_on = self
            .names(&what, "depends_on", f.get("depends_on"))?
            .into_iter()
            .map(TaskId::from)
            .collect();
        let timeout = match f.get("timeout") {
            None => None,
            Some(n) => {
                let t = self.duration(&what, "timeout", n)?;
                if t.is_zero() {
                    return Err(self.error(n.pos, format!("{what}: timeout must be above zero")));
                }
                Some(t)
            }
        };
        let retry = match f.get("retry_policy") {
            None => RetryPolicy::none(),
            Some(n) => self.retry(&what, n)?,
        };
        Ok(TaskSpec {
            id: TaskId::from(id),
            agent,
            depends_on,
            timeout,
            retry,
            parallel: self.boolean(&what, "parallel", f.get("parallel"))?,
            optional: self.boolean(&what, "optional", f.get("optional"))?,
            input: f.get("input").map(|n| self.value(n)).transpose()?,
            pos: node.pos,
        })
    }

    fn retry(&self, task: &str, node: &Node) -> Result<RetryPolicy, FileError> {
        let what = format!("{task}: retry_policy");
        let policy = match &node.kind {
            Kind::Str(s) if s == "none" => return Ok(RetryPolicy::none()),
            Kind::Str(s) if s == "exponential_backoff" => return Ok(RetryPolicy::exponential_backoff()),
            Kind::Str(s) => {
                return Err(self.error(
                    node.pos,
                    format!("{what}: unknown policy {s:?}, expected \"none\", \"exponential_backoff\" or a mapping with fields {}", RETRY_FIELDS.join(", ")),
                ))
            }
            _ => {
                let f = self.fields(&what, node, RETRY_FIELDS)?;
                let mut p = RetryPolicy::exponential_backoff();
                if let Some(n) = f.get("max_attempts") {
                    p.max_attempts = self.whole_u32(&what, "max_attempts", n)?;
                }
                if let Some(n) = f.get("initial_backoff") {
                    p.initial_backoff = self.duration(&what, "initial_backoff", n)?;
                }
                if let Some(n) = f.get("max_backoff") {
                    p.max_backoff = self.duration(&what, "max_backoff", n)?;
                }
                if let Some(n) = f.get("multiplier") {
                    p.multiplier = self.number(&what, "multiplier", n)?;
                }
                if let Some(n) = f.get("jitter") {
                    p.jitter = self.number(&what, "jitter", n)?;
                }
                if let Some(n) = f.get("retry_on") {
                    p.retry_on = self.retry_on(&what, n)?;
                }
                p
            }
        };
        policy
            .validate()
            .map_err(|reason| self.error(node.pos, format!("{what}: {reason}")))?;
        Ok(policy)
    }

    fn retry_on(&self, what: &str, node: &Node) -> Result<RetryOn, FileError> {
        match &node.kind {
            Kind::Str(s) if s == "retryable" => Ok(RetryOn::Retryable),
            Kind::Str(s) if s == "any" => Ok(RetryOn::Any),
            Kind::Seq(items) if !items.is_empty() => Ok(RetryOn::Classes(
                items
                    .iter()
                    .map(|i| self.name(what, "retry_on", i))
                    .collect::<Result<_, _>>()?,
            )),
            _ => Err(self.error(
                node.pos,
                format!("{what}: field \"retry_on\": expected \"retryable\", \"any\" or a non-empty list of failure classes"),
            )),
        }
    }

    fn fault_tolerance(&self, node: &Node) -> Result<FaultTolerance, FileError> {
        let f = self.fields("fault_tolerance", node, &["circuit_breaker"])?;
        let Some(n) = f.get("circuit_breaker") else {
            return Ok(FaultTolerance::default());
        };
        const W: &str = "fault_tolerance: circuit_breaker";
        let cb = self.fields(W, n, &["failure_threshold", "timeout_seconds"])?;
        let threshold_node = self.required(W, &cb, "failure_threshold")?;
        let failure_threshold = self.whole_u32(W, "failure_threshold", threshold_node)?;
        if failure_threshold == 0 {
            return Err(self.error(
                threshold_node.pos,
                format!("{W}: failure_threshold must be at least 1"),
            ));
        }
        let open_for = self.duration(
            W,
            "timeout_seconds",
            self.required(W, &cb, "timeout_seconds")?,
        )?;
        Ok(FaultTolerance {
            circuit_breaker: Some(CircuitBreakerConfig {
                failure_threshold,
                open_for,
            }),
        })
    }

    /// Any YAML value as JSON (tasks' `input`, pools' `config`).
    fn value(&self, node: &Node) -> Result<Value, FileError> {
        Ok(match &node.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Int(i) => Value::from(*i),
            Kind::UInt(u) => Value::from(*u),
            Kind::Float(f, _) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .ok_or_else(|| self.error(node.pos, format!("{f} is not a finite number")))?,
            Kind::Str(s) => Value::String(s.clone()),
            Kind::Seq(items) => Value::Array(
                items
                    .iter()
                    .map(|i| self.value(i))
                    .collect::<Result<_, _>>()?,
            ),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| Ok((k.name.clone(), self.value(v)?)))
                    .collect::<Result<_, FileError>>()?,
            ),
        })
    }
}
