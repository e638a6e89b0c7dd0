//! The store's typed error: what went wrong and where, with fatal and retryable apart.

use std::fmt;

use crate::ids::RunId;

use super::types::Timestamp;

/// Why a store operation failed.
///
/// Every variant names what is wrong and where (the store's location, the run, the record).
/// [`StoreError::is_retryable`] separates the transient ones (the same call may succeed later)
/// from the fatal ones (retrying cannot help: fix the data, the call or the build).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The stored data cannot be read back: a truncated or overwritten file, a row that does
    /// not decode. Fatal.
    #[error("store {location} is corrupt: {reason}")]
    Corrupt {
        /// The store file or database (and record, where known).
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store was written by a newer build whose schema this build does not know. Fatal.
    #[error(
        "store {location} has schema version {found}, newer than version {supported} that this \
         build knows: use a newer troupe"
    )]
    SchemaTooNew {
        /// The store file or database.
        location: String,
        /// The version recorded in the store.
        found: u32,
        /// The newest version this build can read and write.
        supported: u32,
    },
    /// The store cannot be reached right now (locked by another process for longer than the
    /// busy timeout, connection refused or lost). Retryable.
    #[error("store {location} is unavailable: {reason}")]
    Unavailable {
        /// The store file or database.
        location: String,
        /// Why it cannot be reached.
        reason: String,
    },
    /// The backend refused an operation for a reason not covered by another variant (disk
    /// full, permission denied, an SQL error). Fatal.
    #[error("store {location} failed: {reason}")]
    Backend {
        /// The store file or database.
        location: String,
        /// The backend's message.
        reason: String,
    },
    /// A record with this identity exists already (creating run `r1` twice). Fatal.
    #[error("{what} already exists")]
    AlreadyExists {
        /// The record, e.g. `run "r1"`.
        what: String,
    },
    /// The write contradicts what is stored (a stale agent snapshot version, a snapshot behind
    /// the journal's last compaction). Fatal for this write.
    #[error("conflict: {reason}")]
    Conflict {
        /// What contradicts what.
        reason: String,
    },
    /// The record the operation needs does not exist. Fatal.
    #[error("{what} not found")]
    NotFound {
        /// The record, e.g. `run "r1"`.
        what: String,
    },
    /// Another owner holds the run's lease and it has not expired. Retryable (after `until`).
    #[error("run {run} is driven by {holder}: its lease is held until {until}")]
    LeaseHeld {
        /// The run.
        run: RunId,
        /// The owner holding the lease.
        holder: String,
        /// When the lease expires unless renewed.
        until: Timestamp,
    },
    /// The caller's lease (fencing token) is no longer the run's current one: another owner
    /// acquired it since, or it was released. The caller must stop driving the run. Fatal.
    #[error("lease of run {run} with fencing token {token} is no longer held")]
    LeaseLost {
        /// The run.
        run: RunId,
        /// The caller's (stale) fencing token.
        token: u64,
    },
    /// Appending would take the run's journal past its size limit. Fatal for this run: compact
    /// it behind a snapshot or raise the limit.
    #[error(
        "journal of run {run} is full: {size} bytes stored + {adding} bytes appended would pass \
         the limit of {limit} bytes (compact it behind a snapshot or raise \
         StoreConfig::journal_limit_bytes)"
    )]
    JournalFull {
        /// The run.
        run: RunId,
        /// The limit in bytes.
        limit: u64,
        /// The journal's size now.
        size: u64,
        /// The size of the refused batch.
        adding: u64,
    },
    /// An argument is not acceptable (an empty batch, a snapshot past the journal's end).
    /// Fatal.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The argument.
        what: String,
        /// Why it is refused.
        reason: String,
    },
    /// The store has been shut down (its writer stopped). Fatal.
    #[error("store {location} is closed")]
    Closed {
        /// The store file or database.
        location: String,
    },
}

impl StoreError {
    /// Whether the same call may succeed later without anything else changing.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::LeaseHeld { .. })
    }

    pub(crate) fn corrupt(location: impl fmt::Display, reason: impl fmt::Display) -> Self {
        Self::Corrupt {
            location: location.to_string(),
            reason: reason.to_string(),
        }
    }

    /// Adds the record a corrupt value was found in to the error's location.
    pub(crate) fn within(self, record: impl fmt::Display) -> Self {
        match self {
            Self::Corrupt { location, reason } => Self::Corrupt {
                location: format!("{location} ({record})"),
                reason,
            },
            other => other,
        }
    }

    pub(crate) fn not_found(what: impl fmt::Display) -> Self {
        Self::NotFound {
            what: what.to_string(),
        }
    }

    pub(crate) fn invalid(what: impl fmt::Display, reason: impl fmt::Display) -> Self {
        Self::Invalid {
            what: what.to_string(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn conflict(reason: impl fmt::Display) -> Self {
        Self::Conflict {
            reason: reason.to_string(),
        }
    }
}
