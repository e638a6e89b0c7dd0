//! The durable store seam: runs, their journals, agent snapshots, dead letters and leases
//! behind one [`Store`] trait, with three implementations and one conformance suite.
//!
//! | file | what is there |
//! |---|---|
//! | `mod.rs` | the [`Store`] trait (this seam) |
//! | `types.rs`, `error.rs` | the records and the typed [`StoreError`] |
//! | `memory.rs` | [`MemoryStore`]: maps behind a mutex, for tests and `--store memory` |
//! | `sql/` | what SQLite and PostgreSQL share: the schema and its migrations, every operation written once against a tiny SQL interface, the group-commit writer |
//! | `sqlite.rs` | [`SqliteStore`]: the embedded default (one file, WAL, several processes) |
//! | `postgres.rs` | [`PostgresStore`]: one database shared by many nodes (feature `postgres`) |
//! | `spec.rs` | [`StoreSpec`]: `memory`, a path or `postgres://...`, opened as `Arc<dyn Store>` |
//! | `testing/` | the conformance suite every implementation runs |
//!
//! # The seam
//!
//! The trait is dyn-compatible (used as `Arc<dyn Store>`): every operation returns a
//! [`BoxFuture`], takes owned arguments and is `Send`. An operation is issued when it is
//! called (queued to the writer, or done at once in memory); its future only awaits the
//! answer, so a caller may issue several writes and then await them together, and they share a
//! commit. Stores never read the clock: callers pass times in ([`Timestamp`]), so lease expiry
//! and retention are deterministic under test.
//!
//! Why a blocking thread rather than async drivers: rusqlite is synchronous, SQLite's
//! durability is one `fsync` per commit whatever the API, and group commit needs one place
//! that sees every pending write anyway. A thread per store that owns its connection gives
//! that place, keeps blocking IO off the executor, and lets PostgreSQL use the same design
//! (the synchronous `postgres` client) so both share one implementation of every operation.
//!
//! # Group commit
//!
//! The SQL stores do their IO on one dedicated writer thread per store (rusqlite and the
//! `postgres` client are blocking; a thread keeps them off the async executor, and one thread
//! per store is what group commit needs anyway). Each call queues a job and awaits its reply.
//! The writer takes every job that is queued at that moment (up to
//! [`StoreConfig::max_batch`]), runs them in **one transaction**, each inside its own
//! savepoint (a failing job rolls back only itself; a lone job is the transaction itself, and
//! the statements between two jobs go to a server in one round trip), commits once and only
//! then answers every caller. So a call returns only once what it wrote is durable (SQLite runs with
//! `synchronous=FULL`: a commit is an fsync of the WAL), and appends that are ready together
//! share one fsync. [`Store::stats`] counts commits and appends, so a benchmark can report
//! fsyncs per task.
//!
//! # Journals and compaction
//!
//! [`Store::append`] assigns each entry the run's next sequence number (1, 2, 3, ...) and counts
//! its size against [`StoreConfig::journal_limit_bytes`]; past the limit it fails with
//! [`StoreError::JournalFull`]. [`Store::compact`] stores a [`RunSnapshot`] at a sequence
//! number and drops the entries it covers (freeing their bytes); a read from before the
//! snapshot returns the snapshot and the entries after it.
//!
//! # Leases and fencing
//!
//! One driver per run: [`Store::acquire_lease`] grants a run's lease to one owner for a TTL and
//! refuses others with [`StoreError::LeaseHeld`] naming the holder, until it expires or is
//! released. Every acquire increases the run's **fencing token**; an [`Store::append`] given a
//! token is refused with [`StoreError::LeaseLost`] once another owner acquired the lease, so a
//! paused-then-woken old driver cannot write behind the new one's back.
//!
//! # Run inbox
//!
//! Any process may ask a run to pause, resume, cancel or take a signal by posting a
//! [`RunRequest`] ([`Store::post_request`]); the request is durable once the call returns. The
//! process driving the run reads its [`Store::pending_requests`] (the workflow driver polls its
//! inbox every [`Durability::inbox_poll`](crate::workflow::durable::Durability::inbox_poll),
//! 100 ms by default: SQLite has no cross-process notification), journals what each request
//! causes, and only then acknowledges it with [`Store::ack_requests`]. A driver that crashes
//! between the two reads the request again after a resume; every request is idempotent
//! (pausing a paused run, delivering the same signal again) so applying it twice is harmless.
//! Pruning a run drops its inbox.
//!
//! # Keyed records
//!
//! [`KeyedRecord`]s are JSON documents under a `(kind, key)` pair for what a service keeps
//! beside runs (submitted workflows, webhooks, schedules, audit entries): put (upsert),
//! insert-if-absent ([`Store::insert_keyed`], an atomic claim across processes), get, list in
//! key order (with a prefix and pagination) and delete.
//!
//! # Schema
//!
//! The SQL stores keep a `schema_version` table and apply the numbered migrations they lack
//! when opened (under a lock, so concurrent openers agree). A store written by a newer build
//! is refused with [`StoreError::SchemaTooNew`].
//!
//! # Integrity
//!
//! A damaged store gives [`StoreError::Corrupt`] naming the file (and the run and entry where
//! known), never a panic and never a silently different run: SQLite's `quick_check` runs when
//! a file is opened; every journal entry and snapshot carries a CRC-32 of its identity and
//! contents, checked when read; a journal read checks its entries run without a gap up to the
//! run's last sequence number; a value that does not decode (JSON, a status tag) names its
//! record.
//!
//! Reads go through the same writer queue as writes (so a read sees every write acknowledged
//! before it); other processes read the same SQLite file concurrently through WAL.

mod error;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
mod spec;
mod sql;
mod sqlite;
#[doc(hidden)]
pub mod testing;
mod types;

use crate::ids::{AgentId, RunId};
use crate::BoxFuture;

pub use error::StoreError;
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::{Postgres, PostgresOptions, PostgresStore};
pub use spec::StoreSpec;
pub use sql::store::SqlStore;
pub use sqlite::{Sqlite, SqliteOptions, SqliteStore};
pub use types::{
    AgentSnapshot, AppendAck, DeadLetter, DeadLetterFilter, JournalEntry, JournalRead, KeyedFilter,
    KeyedRecord, Lease, LeaseRequest, NewDeadLetter, NewEntry, NewRun, NewRunRequest, RequestKind,
    Retention, RunFilter, RunPage, RunRecord, RunRequest, RunSnapshot, RunStatus, StoreConfig,
    StoreStats, Timestamp,
};

/// Shown as its location (so that configurations holding a store can be debugged).
impl std::fmt::Debug for dyn Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.location())
    }
}

/// What a store operation returns.
pub type StoreFuture<'a, T> = BoxFuture<'a, Result<T, StoreError>>;

/// Durable storage of runs, journals, agent snapshots, dead letters and leases.
///
/// See the [module docs](self) for the guarantees: every write is durable when its future
/// resolves, appends are group-committed, leases carry fencing tokens.
pub trait Store: Send + Sync + 'static {
    /// Where the store lives (a file path, a database address without password, `memory`).
    fn location(&self) -> &str;

    /// Counters of the work done since the store was opened.
    fn stats(&self) -> StoreStats;

    /// The schema version the store is at.
    fn schema_version(&self) -> StoreFuture<'_, u32>;

    /// Creates a run with status [`RunStatus::Pending`]; [`StoreError::AlreadyExists`] if the id
    /// is taken.
    fn create_run(&self, run: NewRun) -> StoreFuture<'_, RunRecord>;

    /// The run, if it exists.
    fn get_run(&self, run: RunId) -> StoreFuture<'_, Option<RunRecord>>;

    /// Runs matching `filter`, in submission order, one page at a time.
    fn list_runs(&self, filter: RunFilter) -> StoreFuture<'_, RunPage>;

    /// Sets a run's status at time `at` (a finished status also records `finished_at`).
    fn set_run_status(&self, run: RunId, status: RunStatus, at: Timestamp) -> StoreFuture<'_, ()>;

    /// Records who drives the run (`None`: nobody).
    fn set_run_owner(&self, run: RunId, owner: Option<String>) -> StoreFuture<'_, ()>;

    /// Removes finished runs by `rule` (with their journals, snapshots and leases); returns how
    /// many were removed.
    fn prune_runs(&self, rule: Retention) -> StoreFuture<'_, u64>;

    /// Appends a non-empty batch to the run's journal, atomically, numbering the entries after
    /// the run's last one. With `fence`, refused with [`StoreError::LeaseLost`] unless it is the
    /// token of the run's current lease.
    fn append(
        &self,
        run: RunId,
        fence: Option<u64>,
        entries: Vec<NewEntry>,
    ) -> StoreFuture<'_, AppendAck>;

    /// The run's journal from sequence number `from` on (see [`JournalRead`]).
    fn read_journal(&self, run: RunId, from: u64) -> StoreFuture<'_, JournalRead>;

    /// Stores a snapshot of the run at `snapshot.seq` and drops the entries up to it.
    fn compact(&self, run: RunId, snapshot: RunSnapshot) -> StoreFuture<'_, ()>;

    /// Stores an agent's snapshot; [`StoreError::Conflict`] unless its version is newer than the
    /// stored one.
    fn put_agent_snapshot(&self, snapshot: AgentSnapshot) -> StoreFuture<'_, ()>;

    /// The agent's latest snapshot, if any.
    fn get_agent_snapshot(&self, agent: AgentId) -> StoreFuture<'_, Option<AgentSnapshot>>;

    /// Deletes the agent's snapshot; whether there was one.
    fn delete_agent_snapshot(&self, agent: AgentId) -> StoreFuture<'_, bool>;

    /// Keeps a dead letter; returns it with its new id.
    fn put_dead_letter(&self, letter: NewDeadLetter) -> StoreFuture<'_, DeadLetter>;

    /// Dead letters matching `filter`, by increasing id.
    fn list_dead_letters(&self, filter: DeadLetterFilter) -> StoreFuture<'_, Vec<DeadLetter>>;

    /// The dead letter with this id, if any.
    fn get_dead_letter(&self, id: u64) -> StoreFuture<'_, Option<DeadLetter>>;

    /// Drops a dead letter; whether it existed.
    fn drop_dead_letter(&self, id: u64) -> StoreFuture<'_, bool>;

    /// Acquires the run's lease for `request.owner`, with a new, greater fencing token;
    /// [`StoreError::LeaseHeld`] while another owner's lease has not expired. The holder may
    /// acquire again (a new token). Leases are keyed by run id and do not require the run to
    /// exist yet (a submitter may lease a run before creating it); pruning a run drops its
    /// lease.
    fn acquire_lease(&self, request: LeaseRequest) -> StoreFuture<'_, Lease>;

    /// Extends a held lease to `now + ttl`, keeping its token; [`StoreError::LeaseLost`] if the
    /// token is no longer current.
    fn renew_lease(
        &self,
        lease: Lease,
        ttl: std::time::Duration,
        now: Timestamp,
    ) -> StoreFuture<'_, Lease>;

    /// Releases a held lease; [`StoreError::LeaseLost`] if the token is no longer current.
    fn release_lease(&self, lease: Lease) -> StoreFuture<'_, ()>;

    /// The run's current lease, if one is held (possibly expired: compare `until`).
    fn get_lease(&self, run: RunId) -> StoreFuture<'_, Option<Lease>>;

    /// Posts a request to the run's inbox (see [Run inbox](self#run-inbox)); returns it with
    /// its new id. [`StoreError::NotFound`] if the run does not exist.
    fn post_request(&self, request: NewRunRequest) -> StoreFuture<'_, RunRequest>;

    /// The run's requests not yet acknowledged, by increasing id.
    fn pending_requests(&self, run: RunId) -> StoreFuture<'_, Vec<RunRequest>>;

    /// Acknowledges (drops) the run's requests with an id up to `through`; how many were
    /// dropped.
    fn ack_requests(&self, run: RunId, through: u64) -> StoreFuture<'_, u64>;

    /// How long each write commit took since the last call (its fsync on SQLite; at most a
    /// few thousand are kept between calls). Stores without commits return none.
    fn take_commit_latencies(&self) -> Vec<std::time::Duration> {
        Vec::new()
    }

    /// Writes `record` under its `(kind, key)`, replacing what was there.
    fn put_keyed(&self, record: KeyedRecord) -> StoreFuture<'_, ()>;

    /// Writes `record` only if nothing is stored under its `(kind, key)`: `true` when it was
    /// written. Of concurrent inserts of one key (from any process) exactly one gets `true`,
    /// which makes it a claim (e.g. of a schedule's tick).
    fn insert_keyed(&self, record: KeyedRecord) -> StoreFuture<'_, bool>;

    /// The record under `(kind, key)`.
    fn get_keyed(&self, kind: String, key: String) -> StoreFuture<'_, Option<KeyedRecord>>;

    /// The records `filter` selects, in key order (bytewise).
    fn list_keyed(&self, filter: KeyedFilter) -> StoreFuture<'_, Vec<KeyedRecord>>;

    /// Removes the record under `(kind, key)`: `true` when there was one.
    fn delete_keyed(&self, kind: String, key: String) -> StoreFuture<'_, bool>;
}
