//! Leases and their fencing tokens.

use std::time::Duration;

use super::{ts, ts_value};
use crate::ids::RunId;
use crate::store::sql::{to_i64, Sql, Value};
use crate::store::types::*;
use crate::store::StoreError;

pub(crate) fn acquire_lease(sql: &mut dyn Sql, request: LeaseRequest) -> Result<Lease, StoreError> {
    let until = request.now.after(request.ttl);
    let row = sql.query_opt(
        "INSERT INTO leases (run, owner, token, until) VALUES (?, ?, 1, ?) ON CONFLICT (run) \
         DO UPDATE SET owner = excluded.owner, token = leases.token + 1, until = excluded.until \
         WHERE leases.owner IS NULL OR leases.until <= ? OR leases.owner = excluded.owner \
         RETURNING token",
        &[
            request.run.as_str().into(),
            request.owner.as_str().into(),
            ts_value("lease expiry", until)?,
            ts_value("lease time", request.now)?,
        ],
    )?;
    match row {
        Some(row) => Ok(Lease {
            run: request.run,
            owner: request.owner,
            token: row.uint(0)?,
            until,
        }),
        None => match get_lease(sql, &request.run)? {
            Some(held) => Err(StoreError::LeaseHeld {
                run: request.run,
                holder: held.owner,
                until: held.until,
            }),
            None => Err(StoreError::conflict(format!(
                "lease of run {:?} changed while acquiring it",
                request.run.as_str()
            ))),
        },
    }
}

pub(crate) fn renew_lease(
    sql: &mut dyn Sql,
    lease: Lease,
    ttl: Duration,
    now: Timestamp,
) -> Result<Lease, StoreError> {
    let until = now.after(ttl);
    let changed = sql.execute(
        "UPDATE leases SET until = ? WHERE run = ? AND token = ? AND owner = ?",
        &[
            ts_value("lease expiry", until)?,
            lease.run.as_str().into(),
            Value::Int(to_i64("lease token", lease.token)?),
            lease.owner.as_str().into(),
        ],
    )?;
    if changed == 0 {
        return Err(StoreError::LeaseLost {
            run: lease.run,
            token: lease.token,
        });
    }
    Ok(Lease { until, ..lease })
}

pub(crate) fn release_lease(sql: &mut dyn Sql, lease: Lease) -> Result<(), StoreError> {
    let changed = sql.execute(
        "UPDATE leases SET owner = NULL, until = 0 WHERE run = ? AND token = ? AND owner = ?",
        &[
            lease.run.as_str().into(),
            Value::Int(to_i64("lease token", lease.token)?),
            lease.owner.as_str().into(),
        ],
    )?;
    if changed == 0 {
        return Err(StoreError::LeaseLost {
            run: lease.run,
            token: lease.token,
        });
    }
    Ok(())
}

pub(crate) fn get_lease(sql: &mut dyn Sql, run: &RunId) -> Result<Option<Lease>, StoreError> {
    let row = sql.query_opt(
        "SELECT owner, token, until FROM leases WHERE run = ? AND owner IS NOT NULL",
        &[run.as_str().into()],
    )?;
    row.map(|row| {
        Ok(Lease {
            run: run.clone(),
            owner: row.text(0)?,
            token: row.uint(1)?,
            until: ts(&row, 2)?,
        })
    })
    .transpose()
}
