//! Runs: their status, creation, records, listing and retention.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Timestamp;
use crate::ids::RunId;

/// The lifecycle status of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Accepted, not started yet.
    Pending,
    /// Being driven by an owner.
    Running,
    /// Paused: no new attempt starts.
    Paused,
    /// Interrupted (its owner went away) and waiting to be resumed.
    Interrupted,
    /// Finished successfully.
    Completed,
    /// Finished with a failure.
    Failed,
    /// Cancelled by a user.
    Cancelled,
}

impl RunStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [RunStatus; 7] = [
        Self::Pending,
        Self::Running,
        Self::Paused,
        Self::Interrupted,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The stable tag stored for this status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Interrupted => "interrupted",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// The status with this tag, if any.
    pub fn parse(tag: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == tag)
    }

    /// Whether the run is over (completed, failed or cancelled): only those are pruned.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run to create: built with [`NewRun::new`] and the setters.
#[derive(Clone, Debug, PartialEq)]
pub struct NewRun {
    /// The run's id (unique in the store).
    pub id: RunId,
    /// The workflow's name.
    pub workflow: String,
    /// The workflow definition's text, as submitted.
    pub definition: String,
    /// The definition's version (the file's `version:` or a content hash).
    pub definition_version: String,
    /// The run's input.
    pub input: serde_json::Value,
    /// The run's options (retry overrides, tags, ...).
    pub options: serde_json::Value,
    /// The tenant the run belongs to, if the deployment has tenants.
    pub tenant: Option<String>,
    /// When the run was submitted.
    pub created_at: Timestamp,
}

impl NewRun {
    /// A run of `workflow` with an empty definition, a null input and empty options.
    pub fn new(id: impl Into<RunId>, workflow: impl Into<String>, created_at: Timestamp) -> Self {
        Self {
            id: id.into(),
            workflow: workflow.into(),
            definition: String::new(),
            definition_version: String::new(),
            input: serde_json::Value::Null,
            options: serde_json::Value::Object(Default::default()),
            tenant: None,
            created_at,
        }
    }

    /// Sets the definition text and its version.
    pub fn definition(mut self, text: impl Into<String>, version: impl Into<String>) -> Self {
        self.definition = text.into();
        self.definition_version = version.into();
        self
    }

    /// Sets the input.
    pub fn input(mut self, input: serde_json::Value) -> Self {
        self.input = input;
        self
    }

    /// Sets the options.
    pub fn options(mut self, options: serde_json::Value) -> Self {
        self.options = options;
        self
    }

    /// Sets the tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }
}

/// A stored run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    /// The run's id.
    pub id: RunId,
    /// The store-assigned position in submission order (the pagination cursor).
    pub ordinal: u64,
    /// The workflow's name.
    pub workflow: String,
    /// The definition text.
    pub definition: String,
    /// The definition's version.
    pub definition_version: String,
    /// The input.
    pub input: serde_json::Value,
    /// The options.
    pub options: serde_json::Value,
    /// The tenant, if any.
    pub tenant: Option<String>,
    /// The current status.
    pub status: RunStatus,
    /// Who drives (or last drove) the run, as recorded with [`Store::set_run_owner`](crate::store::Store::set_run_owner).
    pub owner: Option<String>,
    /// When it was submitted.
    pub created_at: Timestamp,
    /// When its status last changed.
    pub updated_at: Timestamp,
    /// When it finished, if it has.
    pub finished_at: Option<Timestamp>,
    /// The sequence number of its last journal entry (0: none yet).
    pub last_seq: u64,
    /// The size of its live journal entries (kinds and payloads), in bytes.
    pub journal_bytes: u64,
}

/// Which runs [`Store::list_runs`](crate::store::Store::list_runs) returns: all filters must match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunFilter {
    /// Only runs with this status.
    pub status: Option<RunStatus>,
    /// Only runs of this workflow.
    pub workflow: Option<String>,
    /// Only runs of this tenant.
    pub tenant: Option<String>,
    /// Only runs after this cursor ([`RunPage::next`] of the previous page).
    pub after: Option<u64>,
    /// At most this many runs (at least 1 is used).
    pub limit: usize,
}

impl Default for RunFilter {
    fn default() -> Self {
        Self {
            status: None,
            workflow: None,
            tenant: None,
            after: None,
            limit: 100,
        }
    }
}

/// One page of runs, in submission order.
#[derive(Clone, Debug, PartialEq)]
pub struct RunPage {
    /// The runs.
    pub runs: Vec<RunRecord>,
    /// The cursor of the next page, when there may be more.
    pub next: Option<u64>,
}

/// Which finished runs [`Store::prune_runs`](crate::store::Store::prune_runs) removes (with their
/// journal, snapshot and lease). Unfinished runs are never pruned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Remove finished runs that finished before this time.
    pub finished_before: Option<Timestamp>,
    /// Keep only this many finished runs (the most recently finished), remove the others.
    pub keep_finished: Option<u64>,
}
