//! Every store operation, written once against [`Sql`]. Each runs inside the writer's
//! transaction and its own savepoint, so a failing operation leaves nothing behind.

mod journal;
mod keyed;
mod leases;
mod records;
mod requests;
mod runs;

pub(crate) use journal::{append, compact, read_journal};
pub(crate) use keyed::{delete_keyed, get_keyed, insert_keyed, list_keyed, put_keyed};
pub(crate) use leases::{acquire_lease, get_lease, release_lease, renew_lease};
pub(crate) use records::{
    delete_agent_snapshot, drop_dead_letter, get_agent_snapshot, get_dead_letter,
    list_dead_letters, put_agent_snapshot, put_dead_letter,
};
pub(crate) use requests::{ack_requests, pending_requests, post_request};
pub(crate) use runs::{create_run, get_run, list_runs, prune_runs, set_run_owner, set_run_status};

use super::{to_i64, Row, Sql, Value};
use crate::store::types::Timestamp;
use crate::store::StoreError;

pub(super) fn ts(row: &Row, i: usize) -> Result<Timestamp, StoreError> {
    row.uint(i).map(Timestamp::from_millis)
}

pub(super) fn ts_value(what: &str, t: Timestamp) -> Result<Value, StoreError> {
    to_i64(what, t.as_millis()).map(Value::Int)
}

pub(super) fn json_text(what: &str, v: &serde_json::Value) -> Result<Value, StoreError> {
    serde_json::to_string(v)
        .map(Value::Text)
        .map_err(|e| StoreError::invalid(what, e))
}
pub(super) fn next_counter(sql: &mut dyn Sql, name: &str) -> Result<u64, StoreError> {
    let row = sql.query_opt(
        "UPDATE counters SET value = value + 1 WHERE name = ? RETURNING value",
        &[name.into()],
    )?;
    match row {
        Some(row) => row.uint(0),
        None => Err(StoreError::corrupt(
            sql.location(),
            format!("counter {name:?} is missing"),
        )),
    }
}

pub(crate) fn schema_version(sql: &mut dyn Sql) -> Result<u32, StoreError> {
    super::schema::current(sql)
}
