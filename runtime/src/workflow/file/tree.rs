//! Step 1 of reading a workflow file: text -> a tree of YAML nodes that keep their line and
//! column (via [`serde_saphyr::Spanned`]).

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::{MessageFormatter, Spanned};

use super::{FileError, MAX_FILE_BYTES};
use crate::workflow::spec::SourcePos;

/// Parser events that anchors may record and aliases replay, in all: plenty for settings shared
/// by every task of a large file, far below what an alias bomb needs.
const MAX_ALIAS_EVENTS: usize = 100_000;

pub(super) fn parse_tree(text: &str) -> Result<Node, serde_saphyr::Error> {
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

pub(super) fn syntax_error(origin: &str, err: &serde_saphyr::Error) -> FileError {
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

pub(super) struct Node {
    pub(super) pos: SourcePos,
    pub(super) kind: Kind,
}

pub(super) enum Kind {
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

pub(super) struct Key {
    pub(super) name: String,
    pub(super) pos: SourcePos,
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
    pub(super) fn describe(&self) -> &'static str {
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
pub(super) fn to_json(node: &Node) -> Value {
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
