//! Runs: create, get, list, status, owner, prune.

use super::{json_text, next_counter, ts, ts_value};
use crate::ids::RunId;
use crate::store::sql::{to_i64, Row, Sql, Value};
use crate::store::types::*;
use crate::store::StoreError;

const RUN_COLUMNS: &str = "id, ordinal, workflow, definition, definition_version, input, \
     options, tenant, status, owner, created_at, updated_at, finished_at, last_seq, journal_bytes";

fn run_from(row: &Row) -> Result<RunRecord, StoreError> {
    let id = row.text(0)?;
    decode_run(row).map_err(|e| e.within(format!("run {id:?}")))
}

fn decode_run(row: &Row) -> Result<RunRecord, StoreError> {
    let status = row.text(8)?;
    Ok(RunRecord {
        id: RunId::new(row.text(0)?),
        ordinal: row.uint(1)?,
        workflow: row.text(2)?,
        definition: row.text(3)?,
        definition_version: row.text(4)?,
        input: row.json(5)?,
        options: row.json(6)?,
        tenant: row.opt_text(7)?,
        status: RunStatus::parse(&status).ok_or_else(|| {
            StoreError::corrupt(&row.location, format!("unknown run status {status:?}"))
        })?,
        owner: row.opt_text(9)?,
        created_at: ts(row, 10)?,
        updated_at: ts(row, 11)?,
        finished_at: row
            .opt_int(12)?
            .map(|v| Timestamp::from_millis(v.max(0) as u64)),
        last_seq: row.uint(13)?,
        journal_bytes: row.uint(14)?,
    })
}

pub(crate) fn create_run(sql: &mut dyn Sql, run: NewRun) -> Result<RunRecord, StoreError> {
    let ordinal = next_counter(sql, "run")?;
    let created = ts_value("created_at", run.created_at)?;
    let changed = sql.execute(
        "INSERT INTO runs (id, ordinal, workflow, definition, definition_version, input, options, \
         tenant, status, owner, created_at, updated_at, finished_at, last_seq, journal_bytes) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, NULL, 0, 0) ON CONFLICT (id) DO NOTHING",
        &[
            run.id.as_str().into(),
            Value::Int(to_i64("run ordinal", ordinal)?),
            run.workflow.into(),
            run.definition.into(),
            run.definition_version.into(),
            json_text("run input", &run.input)?,
            json_text("run options", &run.options)?,
            run.tenant.into(),
            RunStatus::Pending.as_str().into(),
            created.clone(),
            created,
        ],
    )?;
    if changed == 0 {
        return Err(StoreError::AlreadyExists {
            what: format!("run {:?}", run.id.as_str()),
        });
    }
    get_run(sql, &run.id)?.ok_or_else(|| StoreError::not_found(format!("run {:?}", run.id)))
}

pub(crate) fn get_run(sql: &mut dyn Sql, run: &RunId) -> Result<Option<RunRecord>, StoreError> {
    let row = sql.query_opt(
        &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?"),
        &[run.as_str().into()],
    )?;
    row.as_ref().map(run_from).transpose()
}

pub(crate) fn list_runs(sql: &mut dyn Sql, filter: RunFilter) -> Result<RunPage, StoreError> {
    let mut conditions = Vec::new();
    let mut params = Vec::new();
    if let Some(status) = filter.status {
        conditions.push("status = ?");
        params.push(status.as_str().into());
    }
    if let Some(workflow) = filter.workflow {
        conditions.push("workflow = ?");
        params.push(workflow.into());
    }
    if let Some(tenant) = filter.tenant {
        conditions.push("tenant = ?");
        params.push(tenant.into());
    }
    if let Some(after) = filter.after {
        conditions.push("ordinal > ?");
        params.push(Value::Int(to_i64("run cursor", after)?));
    }
    let limit = filter.limit.max(1);
    params.push(Value::Int(to_i64("run limit", limit as u64 + 1)?));
    let filter_sql = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let rows = sql.query(
        &format!("SELECT {RUN_COLUMNS} FROM runs {filter_sql} ORDER BY ordinal LIMIT ?"),
        &params,
    )?;
    let mut runs = rows.iter().map(run_from).collect::<Result<Vec<_>, _>>()?;
    let next = if runs.len() > limit {
        runs.truncate(limit);
        runs.last().map(|r| r.ordinal)
    } else {
        None
    };
    Ok(RunPage { runs, next })
}

pub(crate) fn set_run_status(
    sql: &mut dyn Sql,
    run: &RunId,
    status: RunStatus,
    at: Timestamp,
) -> Result<(), StoreError> {
    let at = ts_value("status time", at)?;
    let finished = if status.is_finished() {
        at.clone()
    } else {
        Value::Null
    };
    let changed = sql.execute(
        "UPDATE runs SET status = ?, updated_at = ?, finished_at = ? WHERE id = ?",
        &[status.as_str().into(), at, finished, run.as_str().into()],
    )?;
    if changed == 0 {
        return Err(StoreError::not_found(format!("run {:?}", run.as_str())));
    }
    Ok(())
}

pub(crate) fn set_run_owner(
    sql: &mut dyn Sql,
    run: &RunId,
    owner: Option<String>,
) -> Result<(), StoreError> {
    let changed = sql.execute(
        "UPDATE runs SET owner = ? WHERE id = ?",
        &[owner.into(), run.as_str().into()],
    )?;
    if changed == 0 {
        return Err(StoreError::not_found(format!("run {:?}", run.as_str())));
    }
    Ok(())
}

pub(crate) fn prune_runs(sql: &mut dyn Sql, rule: Retention) -> Result<u64, StoreError> {
    let rows = sql.query(
        "SELECT id, finished_at FROM runs WHERE finished_at IS NOT NULL \
         ORDER BY finished_at DESC, ordinal DESC",
        &[],
    )?;
    let mut doomed = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let finished = ts(row, 1)?;
        let too_old = rule.finished_before.is_some_and(|t| finished < t);
        let too_many = rule.keep_finished.is_some_and(|k| i as u64 >= k);
        if too_old || too_many {
            doomed.push(row.text(0)?);
        }
    }
    for id in &doomed {
        for table in [
            "DELETE FROM journal WHERE run = ?",
            "DELETE FROM run_snapshots WHERE run = ?",
            "DELETE FROM leases WHERE run = ?",
            "DELETE FROM run_requests WHERE run = ?",
            "DELETE FROM runs WHERE id = ?",
        ] {
            sql.execute(table, &[id.as_str().into()])?;
        }
        // The snapshots of the run's own agents (`RUN/POOL/I`, `RUN/agents`) go with it. LIKE
        // narrows them down (it ignores ASCII case in SQLite), the exact prefix decides.
        let prefix = format!("{id}/");
        let agents = sql.query(
            "SELECT agent FROM agent_snapshots WHERE agent LIKE ? ESCAPE '\\'",
            &[like_prefix(id).into()],
        )?;
        for row in agents {
            let agent = row.text(0)?;
            if agent.starts_with(&prefix) {
                sql.execute(
                    "DELETE FROM agent_snapshots WHERE agent = ?",
                    &[agent.as_str().into()],
                )?;
            }
        }
    }
    Ok(doomed.len() as u64)
}

/// A `LIKE` pattern matching the texts that start with `run` and a `/` (a backslash escapes `%`, `_`
/// and itself).
fn like_prefix(run: &str) -> String {
    let mut pattern = String::with_capacity(run.len() + 2);
    for c in run.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push_str("/%");
    pattern
}
