//! Journals: append (fenced, capped), read, compact behind a snapshot.

use super::{ts, ts_value};
use crate::ids::RunId;
use crate::store::sql::checksum::Checksum;
use crate::store::sql::{to_i64, Dialect, Sql, Value};
use crate::store::types::*;
use crate::store::StoreError;

fn check_fence(sql: &mut dyn Sql, run: &RunId, token: u64) -> Result<(), StoreError> {
    let lock = match sql.dialect() {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE",
    };
    let row = sql.query_opt(
        &format!("SELECT token FROM leases WHERE run = ? AND owner IS NOT NULL{lock}"),
        &[run.as_str().into()],
    )?;
    let current = row.map(|r| r.uint(0)).transpose()?;
    if current != Some(token) {
        return Err(StoreError::LeaseLost {
            run: run.clone(),
            token,
        });
    }
    Ok(())
}

pub(crate) fn append(
    sql: &mut dyn Sql,
    limit: u64,
    run: &RunId,
    fence: Option<u64>,
    entries: Vec<NewEntry>,
) -> Result<AppendAck, StoreError> {
    if entries.is_empty() {
        return Err(StoreError::invalid(
            format!("append to run {:?}", run.as_str()),
            "the batch is empty",
        ));
    }
    let adding: u64 = entries.iter().map(NewEntry::size).sum();
    let count = entries.len() as u64;
    // One statement checks the fence (locking the lease row on a server, so that no acquire
    // can commit before this append does), the cap, and numbers the batch; only when it
    // changes nothing do further reads say why.
    let mut params = vec![
        Value::Int(to_i64("entry count", count)?),
        Value::Int(to_i64("batch size", adding)?),
        run.as_str().into(),
        Value::Int(to_i64("batch size", adding)?),
        Value::Int(to_i64("journal limit", limit)?),
    ];
    let fenced = match fence {
        None => "",
        Some(token) => {
            params.extend([run.as_str().into(), Value::Int(to_i64("token", token)?)]);
            match sql.dialect() {
                Dialect::Sqlite => {
                    " AND EXISTS (SELECT 1 FROM leases WHERE run = ? AND owner IS NOT NULL \
                     AND token = ?)"
                }
                Dialect::Postgres => {
                    " AND EXISTS (SELECT 1 FROM leases WHERE run = ? AND owner IS NOT NULL \
                     AND token = ? FOR UPDATE)"
                }
            }
        }
    };
    let row = sql.query_opt(
        &format!(
            "UPDATE runs SET last_seq = last_seq + ?, journal_bytes = journal_bytes + ? \
             WHERE id = ? AND journal_bytes + ? <= ?{fenced} RETURNING last_seq"
        ),
        &params,
    )?;
    let last = match row {
        Some(row) => row.uint(0)?,
        None => {
            if let Some(token) = fence {
                check_fence(sql, run, token)?;
            }
            let row = sql.query_opt(
                "SELECT journal_bytes FROM runs WHERE id = ?",
                &[run.as_str().into()],
            )?;
            return Err(match row {
                None => StoreError::not_found(format!("run {:?}", run.as_str())),
                Some(row) => StoreError::JournalFull {
                    run: run.clone(),
                    limit,
                    size: row.uint(0)?,
                    adding,
                },
            });
        }
    };
    let first = last + 1 - count;
    // One multi-row INSERT per chunk: one round trip to a server for a whole batch (7
    // parameters a row; a chunk stays under SQLite's oldest limit of 999 parameters).
    let mut seq = first;
    let mut entries = entries.into_iter().peekable();
    while entries.peek().is_some() {
        let chunk: Vec<NewEntry> = entries.by_ref().take(INSERT_CHUNK).collect();
        let mut params = Vec::with_capacity(chunk.len() * 7);
        for entry in chunk {
            let size = entry.size();
            let checksum = entry_checksum(run, seq, entry.at, &entry.kind, &entry.payload);
            params.extend([
                run.as_str().into(),
                Value::Int(to_i64("seq", seq)?),
                ts_value("entry time", entry.at)?,
                entry.kind.into(),
                entry.payload.into(),
                Value::Int(to_i64("entry size", size)?),
                Value::Int(checksum),
            ]);
            seq += 1;
        }
        sql.execute(&insert_rows(params.len() / 7), &params)?;
    }
    Ok(AppendAck { first, last })
}

/// The most journal rows one INSERT statement carries.
const INSERT_CHUNK: usize = 128;

/// `INSERT INTO journal ... VALUES (?, ...), (?, ...)` for `rows` rows.
fn insert_rows(rows: usize) -> String {
    let mut sql =
        String::from("INSERT INTO journal (run, seq, at, kind, payload, size, checksum) VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str("(?, ?, ?, ?, ?, ?, ?)");
    }
    sql
}

fn last_seq(sql: &mut dyn Sql, run: &RunId) -> Result<u64, StoreError> {
    let row = sql.query_opt(
        "SELECT last_seq FROM runs WHERE id = ?",
        &[run.as_str().into()],
    )?;
    match row {
        Some(row) => row.uint(0),
        None => Err(StoreError::not_found(format!("run {:?}", run.as_str()))),
    }
}

fn entry_checksum(run: &RunId, seq: u64, at: Timestamp, kind: &str, payload: &[u8]) -> i64 {
    Checksum::new()
        .field(run.as_str().as_bytes())
        .num(seq)
        .num(at.as_millis())
        .field(kind.as_bytes())
        .field(payload)
        .value()
}

fn snapshot_checksum(run: &RunId, snapshot: &RunSnapshot) -> i64 {
    Checksum::new()
        .field(run.as_str().as_bytes())
        .num(snapshot.seq)
        .num(snapshot.at.as_millis())
        .field(&snapshot.data)
        .value()
}

fn run_snapshot(sql: &mut dyn Sql, run: &RunId) -> Result<Option<RunSnapshot>, StoreError> {
    let row = sql.query_opt(
        "SELECT seq, at, data, checksum FROM run_snapshots WHERE run = ?",
        &[run.as_str().into()],
    )?;
    let Some(row) = row else { return Ok(None) };
    let snapshot = RunSnapshot {
        seq: row.uint(0)?,
        at: ts(&row, 1)?,
        data: row.blob(2)?,
    };
    if row.int(3)? != snapshot_checksum(run, &snapshot) {
        return Err(StoreError::corrupt(
            sql.location(),
            format!(
                "the snapshot of run {:?} does not match its checksum",
                run.as_str()
            ),
        ));
    }
    Ok(Some(snapshot))
}

pub(crate) fn read_journal(
    sql: &mut dyn Sql,
    run: &RunId,
    from: u64,
) -> Result<JournalRead, StoreError> {
    let last = last_seq(sql, run)?;
    let snapshot = run_snapshot(sql, run)?.filter(|s| from <= s.seq);
    let start = snapshot.as_ref().map_or(from.max(1), |s| s.seq + 1);
    let rows = sql.query(
        "SELECT seq, at, kind, payload, checksum FROM journal WHERE run = ? AND seq >= ? \
         ORDER BY seq",
        &[run.as_str().into(), Value::Int(to_i64("seq", start)?)],
    )?;
    let mut entries = Vec::with_capacity(rows.len());
    for (expected, row) in (start..).zip(&rows) {
        let seq = row.uint(0)?;
        let entry = || {
            let entry = JournalEntry {
                seq,
                at: ts(row, 1)?,
                kind: row.text(2)?,
                payload: row.blob(3)?,
            };
            if seq != expected {
                return Err(StoreError::corrupt(
                    &row.location,
                    format!("entry {expected} is missing (the next stored one is {seq})"),
                ));
            }
            let sum = entry_checksum(run, seq, entry.at, &entry.kind, &entry.payload);
            if row.int(4)? != sum {
                return Err(StoreError::corrupt(
                    &row.location,
                    "the entry does not match its checksum",
                ));
            }
            Ok(entry)
        };
        entries.push(entry().map_err(|e: StoreError| {
            e.within(format!("journal of run {:?}, seq {seq}", run.as_str()))
        })?);
    }
    let end = start + entries.len() as u64;
    if end != start.max(last + 1) {
        return Err(StoreError::corrupt(
            sql.location(),
            format!(
                "journal of run {:?} holds entries up to seq {} but the run records {last}",
                run.as_str(),
                end - 1
            ),
        ));
    }
    Ok(JournalRead { snapshot, entries })
}

pub(crate) fn compact(
    sql: &mut dyn Sql,
    run: &RunId,
    snapshot: RunSnapshot,
) -> Result<(), StoreError> {
    let last = last_seq(sql, run)?;
    if snapshot.seq > last {
        return Err(StoreError::invalid(
            format!("snapshot of run {:?}", run.as_str()),
            format!(
                "it is at seq {} but the journal ends at {last}",
                snapshot.seq
            ),
        ));
    }
    if let Some(existing) = run_snapshot(sql, run)? {
        if existing.seq > snapshot.seq {
            return Err(StoreError::conflict(format!(
                "run {:?} has a snapshot at seq {}, newer than the one at seq {}",
                run.as_str(),
                existing.seq,
                snapshot.seq
            )));
        }
    }
    let seq = Value::Int(to_i64("seq", snapshot.seq)?);
    let freed = sql
        .query_opt(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM journal WHERE run = ? AND seq <= ?",
            &[run.as_str().into(), seq.clone()],
        )?
        .map(|row| row.int(0))
        .transpose()?
        .unwrap_or(0);
    sql.execute(
        "DELETE FROM journal WHERE run = ? AND seq <= ?",
        &[run.as_str().into(), seq.clone()],
    )?;
    let checksum = snapshot_checksum(run, &snapshot);
    sql.execute(
        "INSERT INTO run_snapshots (run, seq, at, data, checksum) VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (run) DO UPDATE SET seq = excluded.seq, at = excluded.at, \
         data = excluded.data, checksum = excluded.checksum",
        &[
            run.as_str().into(),
            seq,
            ts_value("snapshot time", snapshot.at)?,
            snapshot.data.into(),
            Value::Int(checksum),
        ],
    )?;
    sql.execute(
        "UPDATE runs SET journal_bytes = journal_bytes - ? WHERE id = ?",
        &[Value::Int(freed), run.as_str().into()],
    )?;
    Ok(())
}
