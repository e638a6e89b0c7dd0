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
//! A `retry_policy` is `none`, `exponential_backoff`, or a mapping of `max_attempts`,
//! `initial_backoff`, `max_backoff`, `multiplier`, `jitter` and `retry_on` (`retryable`, `any` or
//! a list of failure classes); missing fields come from the `exponential_backoff` preset.
//! Durations are seconds or strings like `"500ms"`, `"30s"`, `"2m"` ([`parse_duration`]).
//! Validation that needs the whole definition (unknown dependencies, cycles, unknown kinds) is
//! the planner's job: [`crate::workflow::plan::plan`].

use std::borrow::Cow;
use std::cell::RefCell;
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

/// Parser events that anchors may record and aliases replay, in all: plenty for settings shared
/// by every task of a large file, far below what an alias bomb needs.
const MAX_ALIAS_EVENTS: usize = 100_000;

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
    let root = parse_tree(text).map_err(|e| syntax_error(source, &e))?;
    let reader = Reader {
        origin: source,
        text,
        warnings: RefCell::new(Vec::new()),
    };
    reader.document(&root)
}

/// Parses a duration: a number of seconds (`"30"`, `"1.5"`), or numbers with units `ms`, `s`,
/// `m`, `h`, possibly combined (`"500ms"`, `"30s"`, `"2m"`, `"1h30m"`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid duration {text:?}: expected a number of seconds or a number with a unit \
             ms, s, m or h (like \"500ms\", \"30s\", \"2m\")"
        )
    };
    let s = text.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|_| bad());
    }
    let (mut total, mut rest) = (0.0, s);
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'));
        let (number, tail) = rest.split_at(digits.unwrap_or(rest.len()));
        let letters = tail.find(|c: char| !c.is_ascii_alphabetic());
        let (unit, tail) = tail.split_at(letters.unwrap_or(tail.len()));
        let factor = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += number.parse::<f64>().map_err(|_| bad())? * factor;
        rest = tail;
    }
    match s.is_empty() {
        true => Err(bad()),
        false => Duration::try_from_secs_f64(total).map_err(|_| bad()),
    }
}

// Step 1: text -> a tree of YAML nodes with positions.

fn parse_tree(text: &str) -> Result<Node, serde_saphyr::Error> {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = 64;
    budget.max_nodes = 1_000_000;
    budget.max_events = 4_000_000;
    budget.max_aliases = 10_000;
    budget.max_anchors = 10_000;
    budget.max_documents = 2; // the second one is reported as "multiple documents"
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
    let text = serde_saphyr::UserMessageFormatter.format_message(inner);
    let message = text.replace(char::is_control, " ");
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
        let Spanned {
            mut value,
            referenced,
            ..
        } = Spanned::<Kind>::deserialize(d)?;
        if let Kind::Float(_, text) = &mut value {
            let span = referenced.span();
            let range = span.byte_offset().zip(span.byte_len());
            *text = range.map(|(start, len)| (start as usize, len as usize));
        }
        let pos = pos_of(&referenced);
        Ok(Node { pos, kind: value })
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<String>::deserialize(d)?;
        let pos = pos_of(&spanned.referenced);
        Ok(Key {
            name: spanned.value,
            pos,
        })
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KindVisitor)
    }
}

struct KindVisitor;

macro_rules! visit_scalars {
    ($($method:ident($ty:ty) => $make:expr),* $(,)?) => {$(
        fn $method<E>(self, v: $ty) -> Result<Kind, E> {
            Ok(($make)(v))
        }
    )*};
}

impl<'de> Visitor<'de> for KindVisitor {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    visit_scalars! {
        visit_bool(bool) => Kind::Bool,
        visit_i64(i64) => Kind::Int,
        visit_u64(u64) => Kind::UInt,
        visit_f64(f64) => |v| Kind::Float(v, None),
        visit_str(&str) => |v: &str| Kind::Str(v.to_string()),
        visit_string(String) => Kind::Str,
    }

    fn visit_unit<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }

    fn visit_none<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
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

/// Any YAML value as JSON (tasks' `input`, pools' `config`). Non-finite floats never get here:
/// the parser rejects them.
fn to_json(node: &Node) -> Value {
    match &node.kind {
        Kind::Null => Value::Null,
        Kind::Bool(b) => Value::Bool(*b),
        Kind::Int(i) => Value::from(*i),
        Kind::UInt(u) => Value::from(*u),
        Kind::Float(f, _) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Kind::Str(s) => Value::String(s.clone()),
        Kind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        Kind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.name.clone(), to_json(v)))
                .collect(),
        ),
    }
}

// Step 2: the tree -> a WorkflowSpec.

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

type Res<T> = Result<T, FileError>;

/// Walks the node tree, collecting warnings.
struct Reader<'a> {
    origin: &'a str,
    text: &'a str,
    warnings: RefCell<Vec<String>>,
}

/// The entries of a mapping whose keys were checked; `what` names it in messages (`task "a"`).
struct Fields<'r, 'n> {
    r: &'r Reader<'r>,
    what: &'r str,
    pos: SourcePos,
    entries: &'n [(Key, Node)],
}

/// One field's value, with what messages about it need.
#[derive(Clone, Copy)]
struct Field<'r, 'n> {
    r: &'r Reader<'r>,
    what: &'r str,
    name: &'n str,
    key_pos: SourcePos,
    node: &'n Node,
}

impl<'r, 'n> Fields<'r, 'n> {
    /// The field `name`; an explicit `null` counts as absent.
    fn get(&self, name: &str) -> Option<Field<'r, 'n>> {
        let (key, node) = self
            .entries
            .iter()
            .find(|(k, v)| k.name == name && !matches!(v.kind, Kind::Null))?;
        Some(Field {
            r: self.r,
            what: self.what,
            name: &key.name,
            key_pos: key.pos,
            node,
        })
    }

    fn req(&self, name: &str) -> Res<Field<'r, 'n>> {
        let missing = || format!("{}: missing field {name:?}", self.what);
        self.get(name)
            .ok_or_else(|| self.r.error(self.pos, missing()))
    }

    fn opt<T>(&self, name: &str, read: impl FnOnce(Field<'r, 'n>) -> Res<T>) -> Res<Option<T>> {
        self.get(name).map(read).transpose()
    }
}

impl Field<'_, '_> {
    fn fail(&self, message: impl fmt::Display) -> FileError {
        let (what, name) = (self.what, self.name);
        self.r
            .error(self.node.pos, format!("{what}: field {name:?}: {message}"))
    }

    fn expected(&self, expected: &str) -> FileError {
        self.fail(format!(
            "expected {expected}, found {}",
            self.node.kind.describe()
        ))
    }

    fn string(&self) -> Res<String> {
        match &self.node.kind {
            Kind::Str(s) => Ok(s.clone()),
            _ => Err(self.expected("a string")),
        }
    }

    /// A name or id: a non-empty string (integers are taken as their decimal text).
    fn name(&self) -> Res<String> {
        let name = match &self.node.kind {
            Kind::Str(s) => s.clone(),
            Kind::Int(_) | Kind::UInt(_) => to_json(self.node).to_string(),
            _ => return Err(self.expected("a name")),
        };
        match name.trim().is_empty() {
            true => Err(self.fail("must not be empty")),
            false => Ok(name),
        }
    }

    /// A list of names, or a single name as a list of one.
    fn names(&self) -> Res<Vec<String>> {
        match &self.node.kind {
            Kind::Seq(items) => items
                .iter()
                .map(|node| Field { node, ..*self }.name())
                .collect(),
            Kind::Str(_) | Kind::Int(_) | Kind::UInt(_) => Ok(vec![self.name()?]),
            _ => Err(self.expected("a list of names")),
        }
    }

    fn boolean(&self) -> Res<bool> {
        match self.node.kind {
            Kind::Bool(b) => Ok(b),
            _ => Err(self.expected("true or false")),
        }
    }

    fn whole(&self) -> Res<u64> {
        match self.node.kind {
            Kind::UInt(u) => Ok(u),
            Kind::Int(i) => Err(self.fail(format!("must not be negative, got {i}"))),
            _ => Err(self.expected("a whole number")),
        }
    }

    fn whole_u32(&self) -> Res<u32> {
        let n = self.whole()?;
        u32::try_from(n).map_err(|_| self.fail(format!("is too large: {n}")))
    }

    fn number(&self) -> Res<f64> {
        match self.node.kind {
            Kind::UInt(u) => Ok(u as f64),
            Kind::Int(i) => Ok(i as f64),
            Kind::Float(f, _) => Ok(f),
            _ => Err(self.expected("a number")),
        }
    }

    fn duration(&self) -> Res<Duration> {
        match &self.node.kind {
            Kind::UInt(u) => Ok(Duration::from_secs(*u)),
            Kind::Int(i) => Err(self.fail(format!("a duration must not be negative, got {i}"))),
            Kind::Float(f, _) => Duration::try_from_secs_f64(*f).map_err(|_| {
                self.fail(format!(
                    "a duration must be a number of seconds >= 0, got {f}"
                ))
            }),
            Kind::Str(s) => parse_duration(s).map_err(|m| self.fail(m)),
            _ => Err(self.expected("a number of seconds or a duration like \"30s\"")),
        }
    }

    fn retry_on(&self) -> Res<RetryOn> {
        match &self.node.kind {
            Kind::Str(s) if s == "retryable" => Ok(RetryOn::Retryable),
            Kind::Str(s) if s == "any" => Ok(RetryOn::Any),
            Kind::Seq(items) if !items.is_empty() => Ok(RetryOn::Classes(self.names()?)),
            _ => {
                Err(self.expected("\"retryable\", \"any\" or a non-empty list of failure classes"))
            }
        }
    }
}

impl Reader<'_> {
    fn error(&self, pos: SourcePos, message: impl fmt::Display) -> FileError {
        FileError::Invalid {
            origin: self.origin.to_string(),
            line: pos.line,
            column: pos.column,
            message: message.to_string(),
        }
    }

    fn warn(&self, pos: SourcePos, message: impl fmt::Display) {
        let line = format!("{}:{}:{}: {message}", self.origin, pos.line, pos.column);
        self.warnings.borrow_mut().push(line);
    }

    /// Checks that `node` is a mapping of `allowed` keys only.
    fn fields<'r, 'n>(
        &'r self,
        what: &'r str,
        node: &'n Node,
        allowed: &[&str],
    ) -> Res<Fields<'r, 'n>> {
        let Kind::Map(entries) = &node.kind else {
            let found = node.kind.describe();
            return Err(self.error(
                node.pos,
                format!("{what}: expected a mapping, found {found}"),
            ));
        };
        if let Some((key, _)) = entries
            .iter()
            .find(|(k, _)| !allowed.contains(&k.name.as_str()))
        {
            let expected: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
            let (name, expected) = (&key.name, expected.join(", "));
            let message = format!("{what}: unknown field {name:?}, expected one of {expected}");
            return Err(self.error(key.pos, message));
        }
        Ok(Fields {
            r: self,
            what,
            pos: node.pos,
            entries,
        })
    }

    fn document(&self, root: &Node) -> Res<WorkflowSpec> {
        const HINT: &str = "expected a mapping with a top-level \"workflow\" key";
        match &root.kind {
            Kind::Map(_) => {}
            Kind::Null => return Err(self.error(root.pos, format!("the file is empty: {HINT}"))),
            other => {
                return Err(self.error(root.pos, format!("{HINT}, found {}", other.describe())))
            }
        }
        let workflow = self
            .fields("top level", root, &["workflow"])?
            .req("workflow")?;
        self.workflow(workflow.node)
    }

    fn workflow(&self, node: &Node) -> Res<WorkflowSpec> {
        let f = self.fields("workflow", node, WORKFLOW_FIELDS)?;
        let name = f.req("name")?.name()?;
        let version = f.opt("version", |v| self.version(v))?;
        f.opt("description", |v| v.string())?;
        let pattern = f.opt("orchestration_pattern", |v| self.pattern(v))?;
        let mut agents = BTreeMap::new();
        if let Some(v) = f.get("agents") {
            let Kind::Map(entries) = &v.node.kind else {
                return Err(v.expected("a mapping of pool names to pools"));
            };
            for (key, pool) in entries {
                agents.insert(key.name.clone(), self.pool(key, pool)?);
            }
        }
        let tasks = match f.get("tasks") {
            None => Vec::new(),
            Some(v) => match &v.node.kind {
                Kind::Seq(items) => items
                    .iter()
                    .enumerate()
                    .map(|(i, t)| self.task(i, t))
                    .collect::<Res<_>>()?,
                _ => return Err(v.expected("a list of tasks")),
            },
        };
        let fault_tolerance = f.opt("fault_tolerance", |v| self.fault_tolerance(v.node))?;
        Ok(WorkflowSpec {
            name,
            version: version.unwrap_or_else(|| "1".into()),
            pattern,
            agents,
            tasks,
            fault_tolerance: fault_tolerance.unwrap_or_default(),
            warnings: self.warnings.take(),
        })
    }

    fn version(&self, v: Field<'_, '_>) -> Res<String> {
        match &v.node.kind {
            Kind::Str(s) => Ok(s.clone()),
            Kind::Int(_) | Kind::UInt(_) => Ok(to_json(v.node).to_string()),
            Kind::Float(f, span) => {
                let typed = span.and_then(|(start, len)| self.text.get(start..start + len));
                Ok(typed.map_or_else(|| f.to_string(), |t| t.trim().to_string()))
            }
            _ => Err(v.expected("a string or a number")),
        }
    }

    fn pattern(&self, v: Field<'_, '_>) -> Res<String> {
        let p = v.string()?;
        if !KNOWN_PATTERNS.contains(&p.as_str()) {
            let known = KNOWN_PATTERNS.join(", ");
            return Err(v.fail(format!("unknown pattern {p:?}, expected one of {known}")));
        }
        if p != "dag" {
            let message = format!(
                "orchestration_pattern {p:?} is checked; tasks run as a DAG until patterns land"
            );
            self.warn(v.node.pos, message);
        }
        Ok(p)
    }

    fn pool(&self, key: &Key, node: &Node) -> Res<PoolSpec> {
        let what = format!("pool {:?}", key.name);
        let f = self.fields(&what, node, POOL_FIELDS)?;
        let kind = f.req("type")?.name()?;
        let count = f.opt("count", |v| match v.whole()? {
            0 => Err(v.fail("must be at least 1")),
            c => usize::try_from(c).map_err(|_| v.fail(format!("is too large: {c}"))),
        })?;
        let capabilities = f.opt("capabilities", |v| {
            let names = v.names()?;
            if !names.is_empty() {
                let message = format!(
                    "{what}: capabilities are recorded but not used yet (used once patterns land)"
                );
                self.warn(v.key_pos, message);
            }
            Ok(names)
        })?;
        Ok(PoolSpec {
            kind,
            count: count.unwrap_or(1),
            capabilities: capabilities.unwrap_or_default(),
            config: f
                .opt("config", |v| Ok(to_json(v.node)))?
                .unwrap_or(Value::Null),
            pos: key.pos,
        })
    }

    fn task(&self, index: usize, node: &Node) -> Res<TaskSpec> {
        // Name the task by its id in every message, even in those about fields before `id`.
        let id = match &node.kind {
            Kind::Map(entries) => entries.iter().find(|(k, _)| k.name == "id"),
            _ => None,
        };
        let what = match id.map(|(_, v)| (&v.kind, to_json(v))) {
            Some((Kind::Str(s), _)) if !s.trim().is_empty() => format!("task {s:?}"),
            Some((Kind::Int(_) | Kind::UInt(_), n)) => format!("task \"{n}\""),
            _ => format!("task #{}", index + 1),
        };
        let f = self.fields(&what, node, TASK_FIELDS)?;
        let id = TaskId::from(f.req("id")?.name()?);
        let agent = f.req("agent")?.name()?;
        let depends_on = f.opt("depends_on", |v| v.names())?.unwrap_or_default();
        let timeout = f.opt("timeout", |v| match v.duration()? {
            t if t.is_zero() => Err(v.fail("must be above zero")),
            t => Ok(t),
        })?;
        let retry = f.opt("retry_policy", |v| self.retry(&what, v.node))?;
        Ok(TaskSpec {
            id,
            agent,
            depends_on: depends_on.into_iter().map(TaskId::from).collect(),
            timeout,
            retry: retry.unwrap_or_else(RetryPolicy::none),
            parallel: f.opt("parallel", |v| v.boolean())?.unwrap_or(false),
            optional: f.opt("optional", |v| v.boolean())?.unwrap_or(false),
            input: f.opt("input", |v| Ok(to_json(v.node)))?,
            pos: node.pos,
        })
    }

    fn retry(&self, task: &str, node: &Node) -> Res<RetryPolicy> {
        let what = format!("{task}: retry_policy");
        let policy = match &node.kind {
            Kind::Str(s) if s == "none" => RetryPolicy::none(),
            Kind::Str(s) if s == "exponential_backoff" => RetryPolicy::exponential_backoff(),
            Kind::Str(s) => {
                let fields = RETRY_FIELDS.join(", ");
                let message = format!("{what}: unknown policy {s:?}, expected \"none\", \"exponential_backoff\" or a mapping of {fields}");
                return Err(self.error(node.pos, message));
            }
            _ => {
                let f = self.fields(&what, node, RETRY_FIELDS)?;
                let d = RetryPolicy::exponential_backoff();
                RetryPolicy {
                    max_attempts: f
                        .opt("max_attempts", |v| v.whole_u32())?
                        .unwrap_or(d.max_attempts),
                    initial_backoff: f
                        .opt("initial_backoff", |v| v.duration())?
                        .unwrap_or(d.initial_backoff),
                    max_backoff: f
                        .opt("max_backoff", |v| v.duration())?
                        .unwrap_or(d.max_backoff),
                    multiplier: f.opt("multiplier", |v| v.number())?.unwrap_or(d.multiplier),
                    jitter: f.opt("jitter", |v| v.number())?.unwrap_or(d.jitter),
                    retry_on: f.opt("retry_on", |v| v.retry_on())?.unwrap_or(d.retry_on),
                }
            }
        };
        let invalid = |reason| self.error(node.pos, format!("{what}: {reason}"));
        policy.validate().map_err(invalid)?;
        Ok(policy)
    }

    fn fault_tolerance(&self, node: &Node) -> Res<FaultTolerance> {
        let f = self.fields("fault_tolerance", node, &["circuit_breaker"])?;
        let circuit_breaker = f.opt("circuit_breaker", |v| {
            let what = "fault_tolerance: circuit_breaker";
            let cb = self.fields(what, v.node, &["failure_threshold", "timeout_seconds"])?;
            let threshold = cb.req("failure_threshold")?;
            Ok(CircuitBreakerConfig {
                failure_threshold: match threshold.whole_u32()? {
                    0 => return Err(threshold.fail("must be at least 1")),
                    n => n,
                },
                open_for: cb.req("timeout_seconds")?.duration()?,
            })
        })?;
        Ok(FaultTolerance { circuit_breaker })
    }
}
