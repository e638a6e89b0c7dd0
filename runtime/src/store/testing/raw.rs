//! Raw commits, the bottom layer under the SQL stores, for benchmark baselines: one 64-byte
//! row inserted and committed per sample, straight through the database client, with the
//! settings the stores use (SQLite: WAL, `synchronous=FULL`; PostgreSQL: the server's own, a
//! single-row `INSERT` in autocommit, one round trip). Blocking: call them off the executor.

use std::path::Path;
use std::time::Instant;

/// `ops` commits of one row each to a table in the SQLite file `path`; nanoseconds each.
pub fn sqlite_commits(path: &Path, ops: u64) -> Result<Vec<u64>, String> {
    let fail = |e: rusqlite::Error| format!("raw SQLite commit in {}: {e}", path.display());
    let conn = rusqlite::Connection::open(path).map_err(fail)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(fail)?;
    if mode != "wal" {
        return Err(format!("{} is not in WAL mode ({mode})", path.display()));
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL; \
         CREATE TABLE IF NOT EXISTS raw_commits (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)",
    )
    .map_err(fail)?;
    let payload = [7u8; 64];
    let mut samples = Vec::with_capacity(ops as usize);
    for _ in 0..ops {
        let start = Instant::now();
        conn.execute_batch("BEGIN IMMEDIATE").map_err(fail)?;
        conn.prepare_cached("INSERT INTO raw_commits (payload) VALUES (?1)")
            .and_then(|mut s| s.execute([&payload[..]]))
            .map_err(fail)?;
        conn.execute_batch("COMMIT").map_err(fail)?;
        samples.push(start.elapsed().as_nanos() as u64);
    }
    Ok(samples)
}

/// `ops` single-row `INSERT`s (each its own transaction: one round trip and one commit) on the
/// PostgreSQL database at `url`; nanoseconds each.
#[cfg(feature = "postgres")]
pub fn postgres_commits(url: &str, ops: u64) -> Result<Vec<u64>, String> {
    let fail = |e: postgres::Error| format!("raw PostgreSQL commit: {e}");
    let mut client = postgres::Client::connect(url, postgres::NoTls).map_err(fail)?;
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS raw_commits (id BIGSERIAL PRIMARY KEY, payload BYTEA NOT NULL)",
        )
        .map_err(fail)?;
    let insert = client
        .prepare("INSERT INTO raw_commits (payload) VALUES ($1)")
        .map_err(fail)?;
    let payload = vec![7u8; 64];
    let mut samples = Vec::with_capacity(ops as usize);
    for _ in 0..ops {
        let start = Instant::now();
        client.execute(&insert, &[&payload]).map_err(fail)?;
        samples.push(start.elapsed().as_nanos() as u64);
    }
    Ok(samples)
}
