//! A run's journal limits: the **cap** on its size and when it is **compacted**.
//!
//! - **The cap** counts what a resume must read: the live journal entries (kinds and
//!   payloads) plus the run's snapshot. An append that would pass it is refused with
//!   [`JournalCapError`] naming the run, the cap and the size; the run then fails, and that
//!   failure (its `run_finished` event, with the cap error as its cause) is still journaled:
//!   the final event may go past the cap, nothing is ever silently dropped. The default is
//!   50 MiB (Temporal's history limit, without its silence).
//! - **Compaction** (see [`compact_run`](super::compact_run)): once `compact_after` entries are
//!   live, the recorder replaces them by a snapshot of the run in the background. The snapshot
//!   keeps what replay needs and drops what it does not, so the cap is reached later, and a
//!   resume reads one snapshot and the entries after it.
//!
//! The cap of a run is kept in its options (`journal_cap_bytes`), so a resumed run keeps the cap
//! it was submitted with.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::ids::RunId;

/// How large one run's journal may grow and when it is compacted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalLimits {
    /// The most bytes (live entries plus snapshot) the run's journal may hold.
    pub cap_bytes: u64,
    /// Compact the run once this many journal entries are live (`None`: never).
    pub compact_after: Option<u64>,
}

impl JournalLimits {
    /// The default cap: 50 MiB.
    pub const DEFAULT_CAP_BYTES: u64 = 50 * 1024 * 1024;
    /// By default a run is compacted once 10,000 entries are live.
    pub const DEFAULT_COMPACT_AFTER: u64 = 10_000;
}

impl Default for JournalLimits {
    fn default() -> Self {
        Self {
            cap_bytes: Self::DEFAULT_CAP_BYTES,
            compact_after: Some(Self::DEFAULT_COMPACT_AFTER),
        }
    }
}

/// A run's journal reached its cap: the append was refused and the run fails.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "run {run}: its journal reached its cap of {cap} bytes ({size} bytes journaled, {adding} more \
     refused); raise the cap (--journal-cap, JournalLimits::cap_bytes) or give the run less to \
     record"
)]
pub struct JournalCapError {
    /// The run.
    pub run: RunId,
    /// The cap, in bytes.
    pub cap: u64,
    /// What the journal holds (live entries and snapshot), in bytes.
    pub size: u64,
    /// The size of the refused batch.
    pub adding: u64,
}

/// A recorder's running count of its run's journal: bytes against the cap, live entries
/// towards the next compaction.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    pub(crate) bytes: AtomicU64,
    pub(crate) live: AtomicU64,
    pub(crate) compacting: AtomicBool,
}

impl Meter {
    /// A meter starting at `bytes` held and `live` entries.
    pub(crate) fn new(bytes: u64, live: u64) -> Self {
        Self {
            bytes: AtomicU64::new(bytes),
            live: AtomicU64::new(live),
            compacting: AtomicBool::new(false),
        }
    }

    /// Reserves `adding` bytes under `cap` (`force`: past it, for the run's final event).
    pub(crate) fn reserve(
        &self,
        run: &RunId,
        cap: u64,
        adding: u64,
        force: bool,
    ) -> Result<(), JournalCapError> {
        let before = self.bytes.fetch_add(adding, Ordering::AcqRel);
        if force || before.saturating_add(adding) <= cap {
            return Ok(());
        }
        self.bytes.fetch_sub(adding, Ordering::AcqRel);
        Err(JournalCapError {
            run: run.clone(),
            cap,
            size: before,
            adding,
        })
    }

    /// Gives back a reservation whose append failed.
    pub(crate) fn release(&self, bytes: u64) {
        self.bytes.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Counts `n` appended entries; whether a compaction should start now (`after` live).
    pub(crate) fn appended(&self, n: u64, after: Option<u64>) -> bool {
        let live = self.live.fetch_add(n, Ordering::AcqRel) + n;
        after.is_some_and(|after| live >= after) && !self.compacting.swap(true, Ordering::AcqRel)
    }

    /// A compaction replaced `entries` entries and `freed` bytes (net of the new snapshot).
    pub(crate) fn compacted(&self, entries: u64, freed: u64) {
        self.live.fetch_sub(entries, Ordering::AcqRel);
        self.bytes.fetch_sub(freed, Ordering::AcqRel);
        self.compacting.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_refuses_past_it_naming_run_cap_and_size_but_lets_the_end_through() {
        let meter = Meter::new(90, 0);
        let run = RunId::new("r1");
        meter.reserve(&run, 100, 10, false).unwrap();
        let err = meter.reserve(&run, 100, 1, false).unwrap_err();
        assert_eq!((err.cap, err.size, err.adding), (100, 100, 1));
        let text = err.to_string();
        assert!(text.contains("r1") && text.contains("100 bytes"), "{text}");
        meter.reserve(&run, 100, 5, true).unwrap();
        assert_eq!(meter.bytes.load(Ordering::Acquire), 105);
    }

    #[test]
    fn compaction_starts_once_per_threshold() {
        let meter = Meter::new(0, 0);
        assert!(!meter.appended(5, Some(10)));
        assert!(meter.appended(5, Some(10)));
        assert!(!meter.appended(5, Some(10)), "one compaction at a time");
        meter.compacted(15, 0);
        assert!(!meter.appended(1, None));
    }
}
