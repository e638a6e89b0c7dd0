//! [`SqlStore`]: the [`Store`] implementation both SQL backends share; each call becomes one
//! job for the group-commit writer.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::ops;
use super::writer::Writer;
use crate::ids::{AgentId, RunId};
use crate::store::types::*;
use crate::store::{Store, StoreFuture};

/// A store kept in an SQL database, reached through one group-commit writer thread. Used as
/// [`SqliteStore`](crate::store::SqliteStore) and
/// [`PostgresStore`](crate::store::PostgresStore); `B` only tells them apart.
pub struct SqlStore<B> {
    pub(crate) writer: Writer,
    pub(crate) config: StoreConfig,
    pub(crate) location: Arc<str>,
    pub(crate) backend: PhantomData<fn() -> B>,
}

impl<B> std::fmt::Debug for SqlStore<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("location", &self.location)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<B> SqlStore<B> {
    /// The limits the store was opened with.
    pub fn config(&self) -> StoreConfig {
        self.config
    }
}

impl<B: 'static> Store for SqlStore<B> {
    fn location(&self) -> &str {
        &self.location
    }

    fn stats(&self) -> StoreStats {
        self.writer.stats()
    }

    fn take_commit_latencies(&self) -> Vec<Duration> {
        self.writer.take_commit_latencies()
    }

    fn schema_version(&self) -> StoreFuture<'_, u32> {
        self.writer.read(ops::schema_version)
    }

    fn create_run(&self, run: NewRun) -> StoreFuture<'_, RunRecord> {
        self.writer
            .write(move |sql| ops::create_run(sql, run), |_, _| {})
    }

    fn get_run(&self, run: RunId) -> StoreFuture<'_, Option<RunRecord>> {
        self.writer.read(move |sql| ops::get_run(sql, &run))
    }

    fn list_runs(&self, filter: RunFilter) -> StoreFuture<'_, RunPage> {
        self.writer.read(move |sql| ops::list_runs(sql, filter))
    }

    fn set_run_status(&self, run: RunId, status: RunStatus, at: Timestamp) -> StoreFuture<'_, ()> {
        self.writer.write(
            move |sql| ops::set_run_status(sql, &run, status, at),
            |_, _| {},
        )
    }

    fn set_run_owner(&self, run: RunId, owner: Option<String>) -> StoreFuture<'_, ()> {
        self.writer
            .write(move |sql| ops::set_run_owner(sql, &run, owner), |_, _| {})
    }

    fn prune_runs(&self, rule: Retention) -> StoreFuture<'_, u64> {
        self.writer
            .write(move |sql| ops::prune_runs(sql, rule), |_, _| {})
    }

    fn append(
        &self,
        run: RunId,
        fence: Option<u64>,
        entries: Vec<NewEntry>,
    ) -> StoreFuture<'_, AppendAck> {
        let limit = self.config.journal_limit_bytes;
        self.writer.write(
            move |sql| ops::append(sql, limit, &run, fence, entries),
            |ack, counters| counters.appended(ack.last - ack.first + 1),
        )
    }

    fn read_journal(&self, run: RunId, from: u64) -> StoreFuture<'_, JournalRead> {
        self.writer
            .read(move |sql| ops::read_journal(sql, &run, from))
    }

    fn compact(&self, run: RunId, snapshot: RunSnapshot) -> StoreFuture<'_, ()> {
        self.writer
            .write(move |sql| ops::compact(sql, &run, snapshot), |_, _| {})
    }

    fn put_agent_snapshot(&self, snapshot: AgentSnapshot) -> StoreFuture<'_, ()> {
        self.writer
            .write(move |sql| ops::put_agent_snapshot(sql, snapshot), |_, _| {})
    }

    fn get_agent_snapshot(&self, agent: AgentId) -> StoreFuture<'_, Option<AgentSnapshot>> {
        self.writer
            .read(move |sql| ops::get_agent_snapshot(sql, &agent))
    }

    fn delete_agent_snapshot(&self, agent: AgentId) -> StoreFuture<'_, bool> {
        self.writer.write(
            move |sql| ops::delete_agent_snapshot(sql, &agent),
            |_, _| {},
        )
    }

    fn put_dead_letter(&self, letter: NewDeadLetter) -> StoreFuture<'_, DeadLetter> {
        self.writer
            .write(move |sql| ops::put_dead_letter(sql, letter), |_, _| {})
    }

    fn list_dead_letters(&self, filter: DeadLetterFilter) -> StoreFuture<'_, Vec<DeadLetter>> {
        self.writer
            .read(move |sql| ops::list_dead_letters(sql, filter))
    }

    fn get_dead_letter(&self, id: u64) -> StoreFuture<'_, Option<DeadLetter>> {
        self.writer.read(move |sql| ops::get_dead_letter(sql, id))
    }

    fn drop_dead_letter(&self, id: u64) -> StoreFuture<'_, bool> {
        self.writer
            .write(move |sql| ops::drop_dead_letter(sql, id), |_, _| {})
    }

    fn acquire_lease(&self, request: LeaseRequest) -> StoreFuture<'_, Lease> {
        self.writer
            .write(move |sql| ops::acquire_lease(sql, request), |_, _| {})
    }

    fn renew_lease(&self, lease: Lease, ttl: Duration, now: Timestamp) -> StoreFuture<'_, Lease> {
        self.writer
            .write(move |sql| ops::renew_lease(sql, lease, ttl, now), |_, _| {})
    }

    fn release_lease(&self, lease: Lease) -> StoreFuture<'_, ()> {
        self.writer
            .write(move |sql| ops::release_lease(sql, lease), |_, _| {})
    }

    fn get_lease(&self, run: RunId) -> StoreFuture<'_, Option<Lease>> {
        self.writer.read(move |sql| ops::get_lease(sql, &run))
    }

    fn post_request(&self, request: NewRunRequest) -> StoreFuture<'_, RunRequest> {
        self.writer
            .write(move |sql| ops::post_request(sql, request), |_, _| {})
    }

    fn pending_requests(&self, run: RunId) -> StoreFuture<'_, Vec<RunRequest>> {
        self.writer
            .read(move |sql| ops::pending_requests(sql, &run))
    }

    fn ack_requests(&self, run: RunId, through: u64) -> StoreFuture<'_, u64> {
        self.writer
            .write(move |sql| ops::ack_requests(sql, &run, through), |_, _| {})
    }

    fn put_keyed(&self, record: KeyedRecord) -> StoreFuture<'_, ()> {
        self.writer
            .write(move |sql| ops::put_keyed(sql, record), |_, _| {})
    }

    fn insert_keyed(&self, record: KeyedRecord) -> StoreFuture<'_, bool> {
        self.writer
            .write(move |sql| ops::insert_keyed(sql, record), |_, _| {})
    }

    fn get_keyed(&self, kind: String, key: String) -> StoreFuture<'_, Option<KeyedRecord>> {
        self.writer
            .read(move |sql| ops::get_keyed(sql, &kind, &key))
    }

    fn list_keyed(&self, filter: KeyedFilter) -> StoreFuture<'_, Vec<KeyedRecord>> {
        self.writer.read(move |sql| ops::list_keyed(sql, filter))
    }

    fn delete_keyed(&self, kind: String, key: String) -> StoreFuture<'_, bool> {
        self.writer
            .write(move |sql| ops::delete_keyed(sql, &kind, &key), |_, _| {})
    }
}
