//! Agent snapshots and dead letters.

use super::{json_text, next_counter, ts, ts_value};
use crate::ids::{AgentId, RunId, TaskId};
use crate::store::sql::checksum::Checksum;
use crate::store::sql::{to_i64, Row, Sql, Value};
use crate::store::types::*;
use crate::store::StoreError;

pub(crate) fn put_agent_snapshot(
    sql: &mut dyn Sql,
    snapshot: AgentSnapshot,
) -> Result<(), StoreError> {
    let checksum = agent_checksum(&snapshot);
    let changed = sql.execute(
        "INSERT INTO agent_snapshots (agent, version, at, data, checksum) VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (agent) DO UPDATE SET version = excluded.version, at = excluded.at, \
         data = excluded.data, checksum = excluded.checksum \
         WHERE agent_snapshots.version < excluded.version",
        &[
            snapshot.agent.as_str().into(),
            Value::Int(to_i64("snapshot version", snapshot.version)?),
            ts_value("snapshot time", snapshot.at)?,
            snapshot.data.into(),
            Value::Int(checksum),
        ],
    )?;
    if changed == 0 {
        let stored = get_agent_snapshot(sql, &snapshot.agent)?.map_or(0, |s| s.version);
        return Err(StoreError::conflict(format!(
            "agent {:?}: snapshot version {} is not newer than the stored version {stored}",
            snapshot.agent.as_str(),
            snapshot.version
        )));
    }
    Ok(())
}

pub(crate) fn get_agent_snapshot(
    sql: &mut dyn Sql,
    agent: &AgentId,
) -> Result<Option<AgentSnapshot>, StoreError> {
    let row = sql.query_opt(
        "SELECT version, at, data, checksum FROM agent_snapshots WHERE agent = ?",
        &[agent.as_str().into()],
    )?;
    let Some(row) = row else { return Ok(None) };
    let snapshot = AgentSnapshot {
        agent: agent.clone(),
        version: row.uint(0)?,
        at: ts(&row, 1)?,
        data: row.blob(2)?,
    };
    if row.int(3)? != agent_checksum(&snapshot) {
        return Err(StoreError::corrupt(
            sql.location(),
            format!(
                "the snapshot of agent {:?} does not match its checksum",
                agent.as_str()
            ),
        ));
    }
    Ok(Some(snapshot))
}

fn agent_checksum(snapshot: &AgentSnapshot) -> i64 {
    Checksum::new()
        .field(snapshot.agent.as_str().as_bytes())
        .num(snapshot.version)
        .num(snapshot.at.as_millis())
        .field(&snapshot.data)
        .value()
}

pub(crate) fn delete_agent_snapshot(
    sql: &mut dyn Sql,
    agent: &AgentId,
) -> Result<bool, StoreError> {
    let changed = sql.execute(
        "DELETE FROM agent_snapshots WHERE agent = ?",
        &[agent.as_str().into()],
    )?;
    Ok(changed > 0)
}

const LETTER_COLUMNS: &str = "id, run, task, input, errors, attempts, at";

fn letter_from(row: &Row) -> Result<DeadLetter, StoreError> {
    let errors = row.json(4)?;
    let errors: Vec<String> = serde_json::from_value(errors)
        .map_err(|e| StoreError::corrupt(&row.location, format!("dead letter errors: {e}")))?;
    Ok(DeadLetter {
        id: row.uint(0)?,
        letter: NewDeadLetter {
            run: row.opt_text(1)?.map(RunId::new),
            task: row.opt_text(2)?.map(TaskId::new),
            input: row.json(3)?,
            errors,
            attempts: u32::try_from(row.uint(5)?).unwrap_or(u32::MAX),
            at: ts(row, 6)?,
        },
    })
}

pub(crate) fn put_dead_letter(
    sql: &mut dyn Sql,
    letter: NewDeadLetter,
) -> Result<DeadLetter, StoreError> {
    let id = next_counter(sql, "dead_letter")?;
    let errors = serde_json::Value::from(letter.errors.clone());
    sql.execute(
        &format!("INSERT INTO dead_letters ({LETTER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"),
        &[
            Value::Int(to_i64("dead letter id", id)?),
            letter.run.as_ref().map(|r| r.to_string()).into(),
            letter.task.as_ref().map(|t| t.to_string()).into(),
            json_text("dead letter input", &letter.input)?,
            json_text("dead letter errors", &errors)?,
            Value::Int(i64::from(letter.attempts)),
            ts_value("dead letter time", letter.at)?,
        ],
    )?;
    Ok(DeadLetter { id, letter })
}

pub(crate) fn list_dead_letters(
    sql: &mut dyn Sql,
    filter: DeadLetterFilter,
) -> Result<Vec<DeadLetter>, StoreError> {
    let after = Value::Int(to_i64("dead letter cursor", filter.after.unwrap_or(0))?);
    let limit = Value::Int(to_i64("dead letter limit", filter.limit.max(1) as u64)?);
    let rows = match filter.run {
        Some(run) => sql.query(
            &format!(
                "SELECT {LETTER_COLUMNS} FROM dead_letters WHERE run = ? AND id > ? \
                 ORDER BY id LIMIT ?"
            ),
            &[run.as_str().into(), after, limit],
        )?,
        None => sql.query(
            &format!("SELECT {LETTER_COLUMNS} FROM dead_letters WHERE id > ? ORDER BY id LIMIT ?"),
            &[after, limit],
        )?,
    };
    rows.iter().map(letter_from).collect()
}

pub(crate) fn get_dead_letter(
    sql: &mut dyn Sql,
    id: u64,
) -> Result<Option<DeadLetter>, StoreError> {
    let row = sql.query_opt(
        &format!("SELECT {LETTER_COLUMNS} FROM dead_letters WHERE id = ?"),
        &[Value::Int(to_i64("dead letter id", id)?)],
    )?;
    row.as_ref().map(letter_from).transpose()
}

pub(crate) fn drop_dead_letter(sql: &mut dyn Sql, id: u64) -> Result<bool, StoreError> {
    let changed = sql.execute(
        "DELETE FROM dead_letters WHERE id = ?",
        &[Value::Int(to_i64("dead letter id", id)?)],
    )?;
    Ok(changed > 0)
}
