//! The conformance suite every [`Store`] implementation runs (modelled on openraft's
//! `testing/log/suite.rs`): one named case per behaviour of the contract, each on a fresh,
//! empty store from a [`StoreFactory`].
//!
//! ```ignore
//! #[tokio::test]
//! async fn memory_store_passes_the_suite() {
//!     troupe_runtime::store::testing::run_suite(&MyFactory).await.assert_ok();
//! }
//! ```
//!
//! Cases are plain async functions that panic (assert) on a violation; [`run_suite`] runs each
//! in its own task, so one failure does not hide the others, and reports every failing case by
//! name.

mod journal;
mod keyed;
mod leases;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod raw;
mod records;
mod requests;
mod runs;
mod tempdir;

pub use tempdir::TempDir;

use std::any::Any;
use std::sync::Arc;

use super::{Store, StoreConfig, StoreError};
use crate::BoxFuture;

/// A fresh store for one case, with whatever must live as long as it (a temporary directory,
/// a database to drop).
pub struct Built {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Dropped after the case.
    pub guard: Box<dyn Any + Send>,
}

/// Makes a fresh, empty store per case.
pub trait StoreFactory: Send + Sync {
    /// A new empty store with these limits.
    fn build(&self, config: StoreConfig) -> BoxFuture<'_, Result<Built, StoreError>>;
}

/// One behaviour of the contract.
pub struct Case {
    /// The case's name (what failed, in a report).
    pub name: &'static str,
    /// The limits its store needs.
    pub config: fn() -> StoreConfig,
    /// The case itself; panics on a violation.
    pub run: fn(Arc<dyn Store>) -> BoxFuture<'static, ()>,
}

fn default_config() -> StoreConfig {
    StoreConfig::default()
}

macro_rules! case {
    ($module:ident :: $name:ident) => {
        Case {
            name: stringify!($name),
            config: default_config,
            run: |store| Box::pin($module::$name(store)),
        }
    };
    ($module:ident :: $name:ident, $config:expr) => {
        Case {
            name: stringify!($name),
            config: $config,
            run: |store| Box::pin($module::$name(store)),
        }
    };
}

/// Every case of the suite.
pub fn cases() -> Vec<Case> {
    vec![
        case!(runs::schema_version_is_latest),
        case!(runs::create_and_get_run),
        case!(runs::create_run_twice_is_already_exists),
        case!(runs::get_missing_run_is_none),
        case!(runs::list_runs_filters_by_status_workflow_and_tenant),
        case!(runs::list_runs_paginates_in_submission_order),
        case!(runs::set_run_status_records_finished_at),
        case!(runs::set_run_owner_records_the_owner),
        case!(runs::prune_runs_by_age_removes_old_finished_runs),
        case!(runs::prune_runs_by_count_keeps_newest_and_unfinished),
        case!(journal::append_assigns_increasing_seqs),
        case!(journal::append_keeps_payload_bytes_exactly),
        case!(journal::a_large_batch_keeps_every_entry_in_order),
        case!(journal::append_to_missing_run_is_not_found),
        case!(journal::append_empty_batch_is_invalid),
        case!(journal::read_journal_from_a_seq),
        case!(journal::journals_of_runs_are_apart),
        case!(journal::journal_full_at_the_limit, journal::small_journal),
        case!(journal::compaction_reads_snapshot_then_later_entries),
        case!(
            journal::compaction_frees_journal_bytes,
            journal::small_journal
        ),
        case!(journal::compaction_refuses_past_end_or_older_snapshot),
        case!(journal::concurrent_appends_are_all_durable_and_ordered),
        case!(journal::fenced_append_requires_the_current_lease),
        case!(journal::prune_removes_the_journal),
        case!(records::agent_snapshot_put_get_delete),
        case!(records::agent_snapshot_refuses_stale_version),
        case!(records::dead_letters_put_list_get_drop),
        case!(records::dead_letters_filter_by_run_and_paginate),
        case!(records::prune_removes_the_runs_agent_snapshots),
        case!(leases::lease_refuses_another_owner_until_expiry),
        case!(leases::lease_token_increases_on_every_acquire),
        case!(leases::lease_renew_extends_and_release_frees),
        case!(leases::stale_lease_cannot_renew_or_release),
        case!(requests::requests_post_and_read_in_order),
        case!(requests::requests_to_a_missing_run_are_not_found),
        case!(requests::requests_ack_drops_through_an_id_of_one_run),
        case!(requests::prune_removes_the_inbox),
        case!(keyed::keyed_put_get_replace_delete),
        case!(keyed::keyed_insert_claims_once),
        case!(keyed::keyed_list_in_key_order_with_prefix_and_pages),
    ]
}

/// What [`run_suite`] found.
#[derive(Debug, Default)]
pub struct SuiteReport {
    /// The cases that passed.
    pub passed: Vec<&'static str>,
    /// The cases that failed, with why.
    pub failed: Vec<(&'static str, String)>,
}

impl SuiteReport {
    /// Panics listing every failed case, if any failed.
    pub fn assert_ok(&self) {
        if !self.failed.is_empty() {
            let lines: Vec<String> = self
                .failed
                .iter()
                .map(|(name, why)| format!("  {name}: {why}"))
                .collect();
            panic!(
                "{} of {} store suite cases failed:\n{}",
                self.failed.len(),
                self.failed.len() + self.passed.len(),
                lines.join("\n")
            );
        }
    }
}

/// Runs every case on a fresh store from `factory`, one after another, and reports each.
pub async fn run_suite(factory: &dyn StoreFactory) -> SuiteReport {
    let mut report = SuiteReport::default();
    for case in cases() {
        let outcome = run_case(factory, &case).await;
        match outcome {
            Ok(()) => {
                println!("store suite: {} ... ok", case.name);
                report.passed.push(case.name);
            }
            Err(why) => {
                println!("store suite: {} ... FAILED: {why}", case.name);
                report.failed.push((case.name, why));
            }
        }
    }
    report
}

/// Runs one case on a fresh store from `factory`.
pub async fn run_case(factory: &dyn StoreFactory, case: &Case) -> Result<(), String> {
    let built = factory
        .build((case.config)())
        .await
        .map_err(|e| format!("cannot build the store: {e}"))?;
    let outcome = tokio::spawn((case.run)(built.store.clone())).await;
    drop(built);
    outcome.map_err(|e| match e.try_into_panic() {
        Ok(panic) => panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panicked".into()),
        Err(e) => e.to_string(),
    })
}
