//! Journal entries, appends, run snapshots and reads.

use super::Timestamp;

/// A journal entry to append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEntry {
    /// When it happened.
    pub at: Timestamp,
    /// A short tag naming the kind of event (e.g. `task_completed`).
    pub kind: String,
    /// The encoded event (opaque to the store).
    pub payload: Vec<u8>,
}

impl NewEntry {
    /// An entry of `kind` with `payload`, at `at`.
    pub fn new(at: Timestamp, kind: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        Self {
            at,
            kind: kind.into(),
            payload: payload.into(),
        }
    }

    /// The bytes this entry counts against the journal's size limit.
    pub fn size(&self) -> u64 {
        (self.kind.len() + self.payload.len()) as u64
    }
}

/// A stored journal entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    /// Its sequence number: 1, 2, 3, ... per run, assigned by the store.
    pub seq: u64,
    /// When it happened.
    pub at: Timestamp,
    /// Its kind tag.
    pub kind: String,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// What [`Store::append`](crate::store::Store::append) assigned: the batch has `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendAck {
    /// The first entry's sequence number.
    pub first: u64,
    /// The last entry's sequence number.
    pub last: u64,
}

/// A run's state as of journal entry `seq`, standing in for the entries up to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSnapshot {
    /// The last journal entry the snapshot covers.
    pub seq: u64,
    /// When it was taken.
    pub at: Timestamp,
    /// The encoded state (opaque to the store).
    pub data: Vec<u8>,
}

/// What [`Store::read_journal`](crate::store::Store::read_journal) returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalRead {
    /// The run's snapshot, when the read starts at or before the entries it covers.
    pub snapshot: Option<RunSnapshot>,
    /// The entries after the snapshot (or from the requested seq), in order.
    pub entries: Vec<JournalEntry>,
}
