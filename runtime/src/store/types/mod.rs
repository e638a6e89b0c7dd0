//! The records a [`Store`](super::Store) keeps: runs, journal entries, snapshots, dead
//! letters, leases, and the store's configuration and counters.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

mod journal;
mod keyed;
mod records;
mod requests;
mod run;

pub use journal::{AppendAck, JournalEntry, JournalRead, NewEntry, RunSnapshot};
pub use keyed::{KeyedFilter, KeyedRecord};
pub use records::{
    AgentSnapshot, DeadLetter, DeadLetterFilter, Lease, LeaseRequest, NewDeadLetter,
};
pub use requests::{NewRunRequest, RequestKind, RunRequest};
pub use run::{NewRun, Retention, RunFilter, RunPage, RunRecord, RunStatus};

/// A point in time: milliseconds since the Unix epoch (UTC). Stores never read the clock
/// themselves; callers pass the time in, so tests control it and leases compare like with like.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The time `millis` milliseconds after the Unix epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// The system clock's current time (a clock before 1970 reads as the epoch).
    pub fn now() -> Self {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }

    /// This time plus `d` (saturating).
    pub fn after(self, d: Duration) -> Self {
        let add = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Self(self.0.saturating_add(add))
    }
}

/// Shown as RFC 3339 in UTC with milliseconds: `2026-12-03T12:45:01.123Z`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (secs, millis) = (self.0 / 1000, self.0 % 1000);
        let (days, rest) = (secs / 86_400, secs % 86_400);
        // Howard Hinnant's civil-from-days, for days since 1970-01-01.
        let z = days as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            rest / 3600,
            rest % 3600 / 60,
            rest % 60
        )
    }
}

/// How a store is set up (limits); the backend's own options are separate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// The largest journal (live kinds and payloads) one run may have, in bytes.
    pub journal_limit_bytes: u64,
    /// At most this many queued operations share one transaction.
    pub max_batch: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            journal_limit_bytes: 64 * 1024 * 1024,
            max_batch: 512,
        }
    }
}

impl StoreConfig {
    /// Checks the values make sense.
    pub fn validate(&self) -> Result<(), crate::store::StoreError> {
        if self.journal_limit_bytes == 0 {
            return Err(crate::store::StoreError::invalid(
                "StoreConfig::journal_limit_bytes",
                "must be at least 1",
            ));
        }
        if self.max_batch == 0 {
            return Err(crate::store::StoreError::invalid(
                "StoreConfig::max_batch",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// Counters of a store's work since it was opened (for benchmarks: fsyncs per task).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Write transactions committed (each one fsync on SQLite with `synchronous=FULL`).
    pub commits: u64,
    /// Successful append calls.
    pub appends: u64,
    /// Journal entries appended.
    pub entries: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_display_as_rfc3339_utc() {
        assert_eq!(
            Timestamp::from_millis(0).to_string(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_millis(1_796_301_901_123).to_string(),
            "2026-12-03T12:45:01.123Z"
        );
        assert_eq!(
            Timestamp::from_millis(951_782_400_000).to_string(),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn run_status_tags_round_trip() {
        for status in RunStatus::ALL {
            assert_eq!(RunStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(RunStatus::parse("done"), None);
    }
}
