//! The run inbox: requests posted for a run, read and acknowledged by its driver.

use super::{json_text, next_counter, ts, ts_value};
use crate::ids::RunId;
use crate::store::sql::{to_i64, Row, Sql, Value};
use crate::store::types::*;
use crate::store::StoreError;

const COLUMNS: &str = "id, run, kind, name, value, by_whom, at";

pub(crate) fn post_request(
    sql: &mut dyn Sql,
    request: NewRunRequest,
) -> Result<RunRequest, StoreError> {
    let exists = sql.query_opt(
        "SELECT 1 FROM runs WHERE id = ?",
        &[request.run.as_str().into()],
    )?;
    if exists.is_none() {
        return Err(StoreError::not_found(format!(
            "run {:?}",
            request.run.as_str()
        )));
    }
    let id = next_counter(sql, "run_request")?;
    let (name, value) = match &request.kind {
        RequestKind::Signal { name, value } => {
            (Value::Text(name.clone()), json_text("signal value", value)?)
        }
        _ => (Value::Null, Value::Null),
    };
    sql.execute(
        &format!("INSERT INTO run_requests ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"),
        &[
            Value::Int(to_i64("request id", id)?),
            request.run.as_str().into(),
            request.kind.as_str().into(),
            name,
            value,
            request.by.clone().into(),
            ts_value("request time", request.at)?,
        ],
    )?;
    Ok(RunRequest { id, request })
}

fn request_from(row: &Row) -> Result<RunRequest, StoreError> {
    let tag = row.text(2)?;
    let kind = match tag.as_str() {
        "pause" => RequestKind::Pause,
        "resume" => RequestKind::Resume,
        "cancel" => RequestKind::Cancel,
        "signal" => RequestKind::Signal {
            name: row.text(3)?,
            value: row.json(4)?,
        },
        other => {
            return Err(StoreError::corrupt(
                &row.location,
                format!("run request {}: unknown kind {other:?}", row.int(0)?),
            ))
        }
    };
    Ok(RunRequest {
        id: row.uint(0)?,
        request: NewRunRequest {
            run: RunId::new(row.text(1)?),
            kind,
            by: row.opt_text(5)?,
            at: ts(row, 6)?,
        },
    })
}

pub(crate) fn pending_requests(
    sql: &mut dyn Sql,
    run: &RunId,
) -> Result<Vec<RunRequest>, StoreError> {
    let rows = sql.query(
        &format!("SELECT {COLUMNS} FROM run_requests WHERE run = ? ORDER BY id"),
        &[run.as_str().into()],
    )?;
    rows.iter().map(request_from).collect()
}

pub(crate) fn ack_requests(
    sql: &mut dyn Sql,
    run: &RunId,
    through: u64,
) -> Result<u64, StoreError> {
    sql.execute(
        "DELETE FROM run_requests WHERE run = ? AND id <= ?",
        &[
            run.as_str().into(),
            Value::Int(to_i64("request id", through)?),
        ],
    )
}
