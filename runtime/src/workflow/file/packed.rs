//! A workflow file's positioned YAML tree in a compact serde form, journaled with a durable run
//! so that resuming it reads the definition without parsing its YAML again.
//!
//! Parsing YAML is what resuming a large run cost (a 5,000-task definition: most of a
//! resume); decoding this tree from MessagePack is a small fraction of that, and the reader
//! ([`super::reader`]) runs on it unchanged, so a resumed run's spec, warnings and error
//! messages (lines and columns) are exactly those of the submission.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::tree::{Key, Kind, Node};
use crate::workflow::spec::SourcePos;

/// The tree format this build writes and the newest it reads.
const TREE_FORMAT: u16 = 1;

/// The parsed, positioned tree of a workflow file; only
/// meaningful together with the text it was parsed from.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct PackedTree {
    #[serde(rename = "v")]
    v: u16,
    #[serde(rename = "root")]
    root: PNode,
}

impl std::fmt::Debug for PackedTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackedTree(format {})", self.v)
    }
}

/// The tree a [`WorkflowSpec`](crate::workflow::WorkflowSpec) was read from (none when it was
/// built in code), kept so that a durable run can journal it with its submission. Not part of
/// the spec's identity: two specs compare equal whatever their trees.
#[derive(Clone, Default)]
pub(crate) struct SourceTree(Option<Arc<Node>>);

impl SourceTree {
    pub(super) fn new(root: Node) -> Self {
        Self(Some(Arc::new(root)))
    }

    /// The tree in its journaled form, if the spec was read from a file.
    pub(crate) fn packed(&self) -> Option<PackedTree> {
        self.0.as_deref().map(PackedTree::pack)
    }
}

impl PartialEq for SourceTree {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for SourceTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "SourceTree(read)"
        } else {
            "SourceTree(none)"
        })
    }
}

/// A node: line, column, value.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
struct PNode(u64, u64, PKind);

#[derive(Clone, PartialEq, Serialize, Deserialize)]
enum PKind {
    #[serde(rename = "n")]
    Null,
    #[serde(rename = "b")]
    Bool(bool),
    #[serde(rename = "i")]
    Int(i64),
    #[serde(rename = "u")]
    UInt(u64),
    #[serde(rename = "f")]
    Float(f64, Option<(usize, usize)>),
    #[serde(rename = "s")]
    Str(String),
    #[serde(rename = "q")]
    Seq(Vec<PNode>),
    /// Entries: key, key line, key column, value.
    #[serde(rename = "m")]
    Map(Vec<(String, u64, u64, PNode)>),
}

impl PackedTree {
    pub(super) fn pack(root: &Node) -> Self {
        Self {
            v: TREE_FORMAT,
            root: pack(root),
        }
    }

    /// The tree, if this build reads its format.
    pub(super) fn unpack(self) -> Option<Node> {
        (self.v <= TREE_FORMAT).then(|| unpack(self.root))
    }
}

fn pack(node: &Node) -> PNode {
    let kind = match &node.kind {
        Kind::Null => PKind::Null,
        Kind::Bool(b) => PKind::Bool(*b),
        Kind::Int(i) => PKind::Int(*i),
        Kind::UInt(u) => PKind::UInt(*u),
        Kind::Float(f, span) => PKind::Float(*f, *span),
        Kind::Str(s) => PKind::Str(s.clone()),
        Kind::Seq(items) => PKind::Seq(items.iter().map(pack).collect()),
        Kind::Map(entries) => PKind::Map(
            entries
                .iter()
                .map(|(k, v)| (k.name.clone(), k.pos.line, k.pos.column, pack(v)))
                .collect(),
        ),
    };
    PNode(node.pos.line, node.pos.column, kind)
}

fn unpack(node: PNode) -> Node {
    let PNode(line, column, kind) = node;
    let kind = match kind {
        PKind::Null => Kind::Null,
        PKind::Bool(b) => Kind::Bool(b),
        PKind::Int(i) => Kind::Int(i),
        PKind::UInt(u) => Kind::UInt(u),
        PKind::Float(f, span) => Kind::Float(f, span),
        PKind::Str(s) => Kind::Str(s),
        PKind::Seq(items) => Kind::Seq(items.into_iter().map(unpack).collect()),
        PKind::Map(entries) => Kind::Map(
            entries
                .into_iter()
                .map(|(name, line, column, v)| {
                    let pos = SourcePos { line, column };
                    (Key { name, pos }, unpack(v))
                })
                .collect(),
        ),
    };
    Node {
        pos: SourcePos { line, column },
        kind,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse_workflow, read_packed, tree};
    use super::*;

    /// A definition with a warning-free mix of scalars, positions and a float kept as typed.
    const TEXT: &str = "workflow:\n  name: mix\n  version: 1.10\n  agents:\n    p: { type: util.echo, count: 2, config: { a: [1, -2, 3.5, true, null, \"s\"] } }\n  tasks:\n    - { id: t, agent: p, input: { deep: { x: 18446744073709551615 } }, timeout: 30s }\n";

    /// The tree of `text` through its journaled form (MessagePack, as in a journal entry).
    fn journaled(text: &str) -> PackedTree {
        let root = tree::parse_tree(text).unwrap();
        let bytes = rmp_serde::to_vec_named(&PackedTree::pack(&root)).unwrap();
        rmp_serde::from_slice(&bytes).unwrap()
    }

    #[test]
    fn a_journaled_tree_reads_to_the_spec_the_text_parses_to() {
        let parsed = parse_workflow(TEXT, "mix.yaml").unwrap();
        let read = read_packed(journaled(TEXT), TEXT, "mix.yaml")
            .expect("a format this build reads")
            .unwrap();
        assert_eq!(read, parsed);
        assert_eq!(read.version, "1.10", "the float kept as typed");
        assert_eq!(read.tasks[0].pos, parsed.tasks[0].pos);
        assert!(read.tasks[0].pos.is_known());
        assert_eq!(read.packed_tree(), parsed.packed_tree());
    }

    #[test]
    fn a_journaled_tree_gives_the_errors_the_text_gives() {
        let bad = TEXT.replace("timeout: 30s", "timeuot: 30s");
        let parsed = parse_workflow(&bad, "mix.yaml").unwrap_err().to_string();
        let read = read_packed(journaled(&bad), &bad, "mix.yaml")
            .unwrap()
            .unwrap_err()
            .to_string();
        assert_eq!(read, parsed);
        assert!(read.contains("mix.yaml:7:"), "{read}");
    }

    #[test]
    fn a_tree_in_a_newer_format_is_not_read() {
        let mut tree = journaled(TEXT);
        tree.v = TREE_FORMAT + 1;
        assert!(read_packed(tree, TEXT, "mix.yaml").is_none());
    }

    #[test]
    fn a_spec_built_in_code_has_no_tree() {
        let spec = crate::workflow::WorkflowSpec::builder("w").build();
        assert!(spec.packed_tree().is_none());
    }
}
