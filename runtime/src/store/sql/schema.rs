//! The SQL stores' schema as numbered migrations, and applying the ones a store lacks.
//!
//! Version N is reached by running `MIGRATIONS[N - 1]`; the `schema_version` table records the
//! versions applied. A store at a version past [`LATEST`] was written by a newer build and is
//! refused. Migrations only ever get appended: an applied one is never edited.

use super::{Dialect, Sql, Value};
use crate::store::StoreError;

/// Version 1: runs, journal, run snapshots, agent snapshots, dead letters, leases, counters.
/// `{BLOB}` is the dialect's byte-string type. Journal entries and snapshots carry a CRC-32
/// of their identity and contents (see `checksum.rs`).
const V1: &str = "
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('run', 0);
INSERT INTO counters (name, value) VALUES ('dead_letter', 0);
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    ordinal BIGINT NOT NULL UNIQUE,
    workflow TEXT NOT NULL,
    definition TEXT NOT NULL,
    definition_version TEXT NOT NULL,
    input TEXT NOT NULL,
    options TEXT NOT NULL,
    tenant TEXT,
    status TEXT NOT NULL,
    owner TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT,
    last_seq BIGINT NOT NULL,
    journal_bytes BIGINT NOT NULL
);
CREATE INDEX runs_by_status ON runs (status, ordinal);
CREATE INDEX runs_by_workflow ON runs (workflow, ordinal);
CREATE TABLE journal (
    run TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    payload {BLOB} NOT NULL,
    size BIGINT NOT NULL,
    checksum BIGINT NOT NULL,
    PRIMARY KEY (run, seq)
);
CREATE TABLE run_snapshots (
    run TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    data {BLOB} NOT NULL,
    checksum BIGINT NOT NULL
);
CREATE TABLE agent_snapshots (
    agent TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    at BIGINT NOT NULL,
    data {BLOB} NOT NULL,
    checksum BIGINT NOT NULL
);
CREATE TABLE dead_letters (
    id BIGINT PRIMARY KEY,
    run TEXT,
    task TEXT,
    input TEXT NOT NULL,
    errors TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX dead_letters_by_run ON dead_letters (run, id);
CREATE TABLE leases (
    run TEXT PRIMARY KEY,
    owner TEXT,
    token BIGINT NOT NULL,
    until BIGINT NOT NULL
);
";

/// Version 2: the run inbox (requests to pause, resume, cancel or signal a run, posted by any
/// process and acknowledged by the run's driver once journaled).
const V2: &str = "
INSERT INTO counters (name, value) VALUES ('run_request', 0);
CREATE TABLE run_requests (
    id BIGINT PRIMARY KEY,
    run TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT,
    value TEXT,
    by_whom TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX run_requests_by_run ON run_requests (run, id);
";

/// Version 3: keyed records (JSON documents under `(kind, key)`: a service's workflows,
/// webhooks, schedules and their tick claims, audit entries). `{KEY}` is a text type that
/// sorts bytewise in both dialects.
const V3: &str = "
CREATE TABLE keyed_records (
    kind {KEY} NOT NULL,
    key {KEY} NOT NULL,
    value TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (kind, key)
);
";

/// The migrations, in order.
const MIGRATIONS: &[&str] = &[V1, V2, V3];

/// The newest schema version this build knows.
pub(crate) const LATEST: u32 = MIGRATIONS.len() as u32;

/// A key for PostgreSQL's advisory lock that serialises concurrent migrations.
const MIGRATION_LOCK: i64 = 0x7472_6f75_7065; // "troupe"

fn text(dialect: Dialect, migration: &str) -> String {
    let (blob, key) = match dialect {
        Dialect::Sqlite => ("BLOB", "TEXT"),
        Dialect::Postgres => ("BYTEA", "TEXT COLLATE \"C\""),
    };
    migration.replace("{BLOB}", blob).replace("{KEY}", key)
}

/// The version recorded in the store (0: a new, empty store).
pub(crate) fn current(sql: &mut dyn Sql) -> Result<u32, StoreError> {
    let row = sql.query_opt("SELECT MAX(version) FROM schema_version", &[])?;
    let version = match row {
        Some(row) => row.opt_int(0)?.unwrap_or(0),
        None => 0,
    };
    u32::try_from(version).map_err(|_| {
        StoreError::corrupt(
            sql.location(),
            format!("schema_version holds {version}, not a version number"),
        )
    })
}

/// Brings the store to [`LATEST`] in one transaction; refuses a newer store.
pub(crate) fn migrate(sql: &mut dyn Sql) -> Result<u32, StoreError> {
    sql.begin(true)?;
    let result = apply(sql);
    match result {
        Ok(v) => sql.batch("COMMIT").map(|()| v),
        Err(e) => {
            let _ = sql.batch("ROLLBACK");
            Err(e)
        }
    }
}

fn apply(sql: &mut dyn Sql) -> Result<u32, StoreError> {
    if sql.dialect() == Dialect::Postgres {
        sql.query(
            "SELECT pg_advisory_xact_lock(?)",
            &[Value::Int(MIGRATION_LOCK)],
        )?;
    }
    sql.batch("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
    let found = current(sql)?;
    if found > LATEST {
        return Err(StoreError::SchemaTooNew {
            location: sql.location().to_string(),
            found,
            supported: LATEST,
        });
    }
    for version in found + 1..=LATEST {
        let migration = text(sql.dialect(), MIGRATIONS[version as usize - 1]);
        sql.batch(&migration)?;
        sql.execute(
            "INSERT INTO schema_version (version) VALUES (?)",
            &[Value::Int(i64::from(version))],
        )?;
    }
    Ok(LATEST)
}
