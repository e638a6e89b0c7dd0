//! Run state replicated without a shared store: a run's [`RunReplica`], a state-based CRDT
//! that the run's owner ships (as deltas, which are replicas themselves) to the run's backups
//! before it acknowledges a task's result, and the fencing rule that decides which owner of a
//! run may still write after a failover or a healed partition.
//!
//! IO-free: no clock is read (times and HLC stamps are inputs), nothing is sent; the `troupe
//! node` run service does the IO (it ships deltas with [`crate::runs::RunRequest::Replicate`]
//! and persists them in the backup's own store).
//!
//! # What a replica holds
//!
//! | part | CRDT | merge |
//! |---|---|---|
//! | `meta` | the run's creation record (a register written once) | keep one, the smaller if both differ |
//! | `epochs` | ownership epochs, token → the journal position the epoch started after | grow-only map (same token: the smaller base) |
//! | `journal` | the run's journal (its event stream), per sequence number | LWW register per number, the higher epoch wins |
//! | `graph` | the run's tasks (`task` or `task/item`) | grow-only set |
//! | `status` | each task's status (`running`, `completed`, `failed`, ...) | LWW register per task, ordered by [`Stamp`] (epoch, then HLC) |
//! | `results` | task results by idempotency key | add-wins (observed-remove) set |
//!
//! Every part is a join-semilattice, so [`RunReplica::merge`] is commutative, associative and
//! idempotent (property-tested in `tests.rs`), and deltas may arrive in any order, twice.
//!
//! # Fencing
//!
//! Each ownership of a run has an [`Epoch`]: `(n, node)`, ordered by `n` then the node's name.
//! The submitting owner writes under epoch 1; a node that takes the run over writes under the
//! highest epoch it knows plus one ([`RunReplica::take_over`]), starting after the last entry
//! of its replica's journal (its *base*). The rule:
//!
//! * **the highest epoch owns the run**; a write under a lower epoch is refused
//!   ([`RunReplica::admit`] says [`Admit::Fenced`] with the current owner), and the writer
//!   stops driving the run when told;
//! * a journal entry written under epoch `e` at position `s` counts only if no higher epoch
//!   started before `s` (`base < s`): what a fenced owner wrote after the new owner's base is
//!   not part of the run, so no result is applied twice (the new owner runs those tasks again
//!   under the same idempotency keys).

#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// One ownership of a run: higher wins (`n`, then the node's name).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Epoch {
    /// The epoch's number (1 for the submitting owner).
    #[serde(rename = "n")]
    pub n: u64,
    /// The node that owns the run in this epoch.
    #[serde(rename = "node")]
    pub node: String,
}

impl Epoch {
    /// Epoch `n` of `node`.
    pub fn new(n: u64, node: impl Into<String>) -> Self {
        Self {
            n,
            node: node.into(),
        }
    }
}

impl std::fmt::Display for Epoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.n, self.node)
    }
}

/// The order of a write: its epoch, then its HLC time (see [`Hlc`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stamp {
    /// The epoch it was written in.
    #[serde(rename = "epoch")]
    pub epoch: Epoch,
    /// Its hybrid logical time.
    #[serde(rename = "hlc")]
    pub hlc: u64,
}

/// A hybrid logical clock: wall milliseconds in the high bits, a counter in the low 16, never
/// going backwards and always after every stamp it observed. The caller passes the time in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hlc {
    last: u64,
}

impl Hlc {
    /// The next time, at wall time `now_ms`.
    pub fn tick(&mut self, now_ms: u64) -> u64 {
        self.last = (now_ms << 16).max(self.last + 1);
        self.last
    }

    /// Moves past `seen` (a stamp received from another node).
    pub fn observe(&mut self, seen: u64) {
        self.last = self.last.max(seen);
    }
}

/// A run's creation record, as the owner's store has it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RunMeta {
    /// The workflow's name.
    #[serde(rename = "workflow")]
    pub workflow: String,
    /// The definition's text.
    #[serde(rename = "definition")]
    pub definition: String,
    /// The definition's version.
    #[serde(rename = "definition_version")]
    pub definition_version: String,
    /// The input (JSON text).
    #[serde(rename = "input")]
    pub input: String,
    /// The options (JSON text).
    #[serde(rename = "options")]
    pub options: String,
    /// The tenant, if any.
    #[serde(rename = "tenant", default)]
    pub tenant: Option<String>,
    /// When the run was submitted (ms since the Unix epoch).
    #[serde(rename = "created_ms")]
    pub created_ms: u64,
}

/// One journal entry, as the owner's store numbered it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Entry {
    /// When it was written (ms since the Unix epoch).
    #[serde(rename = "at_ms")]
    pub at_ms: u64,
    /// Its kind.
    #[serde(rename = "kind")]
    pub kind: String,
    /// Its payload.
    #[serde(rename = "payload", with = "serde_bytes_vec")]
    pub payload: Vec<u8>,
}

/// An entry of an add-wins set: who added it, and its number there.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Dot {
    /// The adding node.
    #[serde(rename = "node")]
    pub node: String,
    /// Its counter there (unique per node).
    #[serde(rename = "n")]
    pub n: u64,
}

/// Task results by idempotency key, as an add-wins (observed-remove) set: a key is present
/// while one of its adds is not removed; a remove only removes the adds it observed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Results {
    /// Adds: key → dot → the result (JSON text).
    #[serde(rename = "adds", with = "pairs")]
    adds: BTreeMap<String, BTreeMap<Dot, String>>,
    /// Removed adds.
    #[serde(rename = "removed")]
    removed: BTreeSet<Dot>,
}

impl Results {
    /// Adds `value` under `key`, tagged `dot` (unique: a node's own counter).
    pub fn add(&mut self, key: impl Into<String>, dot: Dot, value: impl Into<String>) {
        self.adds
            .entry(key.into())
            .or_default()
            .insert(dot, value.into());
    }

    /// Removes `key` as this replica sees it (a concurrent add elsewhere survives).
    pub fn remove(&mut self, key: &str) {
        if let Some(dots) = self.adds.get(key) {
            self.removed.extend(dots.keys().cloned());
        }
    }

    /// The result under `key`, if present (the greatest live add's, so every replica agrees).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.adds
            .get(key)?
            .iter()
            .rev()
            .find(|(dot, _)| !self.removed.contains(*dot))
            .map(|(_, v)| v.as_str())
    }

    /// The present keys.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.adds
            .keys()
            .filter(|k| self.get(k).is_some())
            .map(String::as_str)
    }

    fn merge(&mut self, other: Results) {
        for (key, dots) in other.adds {
            self.adds.entry(key).or_default().extend(dots);
        }
        self.removed.extend(other.removed);
    }
}

/// A register keeping the value of the greatest stamp (ties: the greater value).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Lww<T> {
    /// When (in which epoch) it was written.
    #[serde(rename = "stamp")]
    pub stamp: Stamp,
    /// The value.
    #[serde(rename = "value")]
    pub value: T,
}

/// Whether a write under some epoch is admitted by a replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admit {
    /// The writer owns the run (its epoch is the highest known, or higher).
    Accept,
    /// A higher epoch owns the run: the writer must stop.
    Fenced {
        /// The owning epoch.
        current: Epoch,
    },
}

/// The replicated state of one run (and a delta of it: a delta is a replica too).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReplica {
    /// The run's id.
    #[serde(rename = "run")]
    pub run: String,
    /// Its creation record.
    #[serde(rename = "meta", default)]
    pub meta: Option<RunMeta>,
    /// Ownership epochs → the journal position each started after.
    #[serde(rename = "epochs", with = "pairs")]
    pub epochs: BTreeMap<Epoch, u64>,
    /// The journal: sequence number → (epoch written in, entry), the higher epoch kept.
    #[serde(rename = "journal", with = "pairs")]
    pub journal: BTreeMap<u64, (Epoch, Entry)>,
    /// The task graph: task keys (`task` or `task/item`).
    #[serde(rename = "graph")]
    pub graph: BTreeSet<String>,
    /// Task statuses.
    #[serde(rename = "status", with = "pairs")]
    pub status: BTreeMap<String, Lww<String>>,
    /// Results by idempotency key.
    #[serde(rename = "results")]
    pub results: Results,
}

impl RunReplica {
    /// An empty replica of `run`.
    pub fn new(run: impl Into<String>) -> Self {
        Self {
            run: run.into(),
            ..Self::default()
        }
    }

    /// Joins `other` into this replica (commutative, associative, idempotent).
    pub fn merge(&mut self, other: RunReplica) {
        if self.run.is_empty() {
            self.run = other.run;
        }
        self.meta = match (self.meta.take(), other.meta) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        for (epoch, base) in other.epochs {
            let slot = self.epochs.entry(epoch).or_insert(base);
            *slot = (*slot).min(base);
        }
        for (seq, written) in other.journal {
            match self.journal.get(&seq) {
                Some(have) if *have >= written => {}
                _ => {
                    self.journal.insert(seq, written);
                }
            }
        }
        self.graph.extend(other.graph);
        for (task, reg) in other.status {
            match self.status.get(&task) {
                Some(have) if *have >= reg => {}
                _ => {
                    self.status.insert(task, reg);
                }
            }
        }
        self.results.merge(other.results);
    }

    /// The owning epoch: the highest known.
    pub fn owner(&self) -> Option<&Epoch> {
        self.epochs.keys().next_back()
    }

    /// Whether a write under `writer` is admitted (the fencing rule, in the module docs).
    pub fn admit(&self, writer: &Epoch) -> Admit {
        match self.owner() {
            Some(current) if current > writer => Admit::Fenced {
                current: current.clone(),
            },
            _ => Admit::Accept,
        }
    }

    /// Whether the entry at `seq`, written under `epoch`, is part of the run: no higher epoch
    /// started before it.
    fn counts(&self, seq: u64, epoch: &Epoch) -> bool {
        self.epochs
            .range((
                std::ops::Bound::Excluded(epoch.clone()),
                std::ops::Bound::Unbounded,
            ))
            .all(|(_, base)| *base >= seq)
    }

    /// The run's journal as it stands: the entries that count, from sequence number 1 on,
    /// up to the first gap.
    pub fn journal_prefix(&self) -> Vec<(u64, &Entry)> {
        (1..)
            .zip(&self.journal)
            .take_while(|(next, (seq, (epoch, _)))| *seq == next && self.counts(**seq, epoch))
            .map(|(_, (seq, (_, entry)))| (*seq, entry))
            .collect()
    }

    /// The last sequence number of [`RunReplica::journal_prefix`] (0: none).
    pub fn journal_end(&self) -> u64 {
        self.journal_prefix().last().map_or(0, |(s, _)| *s)
    }

    /// Takes the run over as `node`: a new epoch above every known one, starting after the
    /// journal this replica has. Returns it.
    pub fn take_over(&mut self, node: &str) -> Epoch {
        let n = self.owner().map_or(0, |e| e.n) + 1;
        let epoch = Epoch::new(n, node);
        let base = self.journal_end();
        self.epochs.insert(epoch.clone(), base);
        epoch
    }

    /// The replica as bytes (msgpack with field names), to keep it in a store.
    pub fn to_bytes(&self) -> Result<Vec<u8>, String> {
        rmp_serde::to_vec_named(self).map_err(|e| format!("replica of {}: {e}", self.run))
    }

    /// A replica kept with [`RunReplica::to_bytes`]; `what` names where it came from.
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Self, String> {
        rmp_serde::from_slice(bytes).map_err(|e| format!("{what}: not a run replica: {e}"))
    }

    /// Whether the result under idempotency key `key` is known.
    pub fn has_result(&self, key: &str) -> bool {
        self.results.get(key).is_some()
    }
}

/// Maps as sequences of pairs on the wire (msgpack and JSON alike, whatever the key type).
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

/// Bytes as a msgpack binary (not a list of numbers).
mod serde_bytes_vec {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = a.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_byte_buf(V)
    }
}
