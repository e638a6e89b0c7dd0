//! Keyed records: JSON documents under a `(kind, key)` pair, for what a service keeps beside
//! runs (submitted workflows, webhook subscriptions and deliveries, schedules and their tick
//! claims, audit entries).

use super::Timestamp;

/// A JSON document stored under `(kind, key)`.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyedRecord {
    /// What sort of record it is (`"workflow"`, `"webhook"`, ...): records of different kinds
    /// never meet.
    pub kind: String,
    /// Its key within its kind; listings are in key order (bytewise).
    pub key: String,
    /// The document.
    pub value: serde_json::Value,
    /// When it was written.
    pub at: Timestamp,
}

impl KeyedRecord {
    /// A record of `kind` under `key` holding `value`, written at `at`.
    pub fn new(
        kind: impl Into<String>,
        key: impl Into<String>,
        value: serde_json::Value,
        at: Timestamp,
    ) -> Self {
        Self {
            kind: kind.into(),
            key: key.into(),
            value,
            at,
        }
    }
}

/// Which keyed records [`Store::list_keyed`](crate::store::Store::list_keyed) returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyedFilter {
    /// Only records of this kind.
    pub kind: String,
    /// Only those whose key starts with this.
    pub prefix: Option<String>,
    /// Only those whose key sorts after this (the last key of the previous page).
    pub after: Option<String>,
    /// At most this many (at least 1 is used).
    pub limit: usize,
}

impl KeyedFilter {
    /// Every record of `kind` (up to 10,000).
    pub fn kind(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            prefix: None,
            after: None,
            limit: 10_000,
        }
    }
}
