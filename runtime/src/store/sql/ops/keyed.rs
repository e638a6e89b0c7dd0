//! Keyed records: JSON documents under `(kind, key)`.

use super::{json_text, ts, ts_value};
use crate::store::sql::{Row, Sql, Value};
use crate::store::types::*;
use crate::store::StoreError;

const COLUMNS: &str = "kind, key, value, at";

fn params(record: &KeyedRecord) -> Result<Vec<Value>, StoreError> {
    Ok(vec![
        record.kind.as_str().into(),
        record.key.as_str().into(),
        json_text("keyed record value", &record.value)?,
        ts_value("keyed record time", record.at)?,
    ])
}

pub(crate) fn put_keyed(sql: &mut dyn Sql, record: KeyedRecord) -> Result<(), StoreError> {
    sql.execute(
        &format!(
            "INSERT INTO keyed_records ({COLUMNS}) VALUES (?, ?, ?, ?) \
             ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, at = excluded.at"
        ),
        &params(&record)?,
    )?;
    Ok(())
}

pub(crate) fn insert_keyed(sql: &mut dyn Sql, record: KeyedRecord) -> Result<bool, StoreError> {
    let changed = sql.execute(
        &format!(
            "INSERT INTO keyed_records ({COLUMNS}) VALUES (?, ?, ?, ?) \
             ON CONFLICT (kind, key) DO NOTHING"
        ),
        &params(&record)?,
    )?;
    Ok(changed == 1)
}

fn record_from(row: &Row) -> Result<KeyedRecord, StoreError> {
    Ok(KeyedRecord {
        kind: row.text(0)?,
        key: row.text(1)?,
        value: row.json(2)?,
        at: ts(row, 3)?,
    })
}

pub(crate) fn get_keyed(
    sql: &mut dyn Sql,
    kind: &str,
    key: &str,
) -> Result<Option<KeyedRecord>, StoreError> {
    let row = sql.query_opt(
        &format!("SELECT {COLUMNS} FROM keyed_records WHERE kind = ? AND key = ?"),
        &[kind.into(), key.into()],
    )?;
    row.as_ref().map(record_from).transpose()
}

pub(crate) fn list_keyed(
    sql: &mut dyn Sql,
    filter: KeyedFilter,
) -> Result<Vec<KeyedRecord>, StoreError> {
    let mut query = format!("SELECT {COLUMNS} FROM keyed_records WHERE kind = ?");
    let mut values: Vec<Value> = vec![filter.kind.as_str().into()];
    if let Some(prefix) = &filter.prefix {
        query.push_str(" AND substr(key, 1, ?) = ?");
        values.push(Value::Int(prefix.chars().count() as i64));
        values.push(prefix.as_str().into());
    }
    if let Some(after) = &filter.after {
        query.push_str(" AND key > ?");
        values.push(after.as_str().into());
    }
    query.push_str(" ORDER BY key LIMIT ?");
    values.push(Value::Int(filter.limit.clamp(1, i64::MAX as usize) as i64));
    let rows = sql.query(&query, &values)?;
    rows.iter().map(record_from).collect()
}

pub(crate) fn delete_keyed(sql: &mut dyn Sql, kind: &str, key: &str) -> Result<bool, StoreError> {
    let changed = sql.execute(
        "DELETE FROM keyed_records WHERE kind = ? AND key = ?",
        &[kind.into(), key.into()],
    )?;
    Ok(changed > 0)
}
