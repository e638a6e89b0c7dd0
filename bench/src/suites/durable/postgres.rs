//! The PostgreSQL leg of the `durable` suite: a server of its own per scenario (from the
//! installed binaries, fsync on), through the harness the store's tests use.

use std::sync::Arc;

use troupe_runtime::store::testing::postgres::{pg_bin, PgServer};
use troupe_runtime::store::{PostgresOptions, PostgresStore, Store};

use crate::scenario::{reason, Reason};

/// Whether the PostgreSQL binaries are installed (without them the suite runs on SQLite only,
/// and says so in its SQLite scenarios' notes).
pub(super) fn available() -> bool {
    pg_bin().is_some()
}

/// A fresh server with a database `name`, a store on it and the database's address; the server
/// stops when the returned guard is dropped.
pub(super) async fn start(
    name: &str,
) -> Result<(Arc<dyn Store>, Box<dyn Send + Sync>, String), Reason> {
    let bin = pg_bin().ok_or("PostgreSQL is not installed (/usr/lib/postgresql/*/bin)")?;
    let db = format!("bench_{name}");
    let server = tokio::task::spawn_blocking(move || {
        let server = PgServer::start(bin, true)?;
        server.admin(format!("CREATE DATABASE {db}"))?;
        Ok::<_, String>((server, db))
    })
    .await
    .map_err(reason)??;
    let (server, db) = server;
    let url = server.url(&db);
    let store = PostgresStore::connect(&url, PostgresOptions::default())
        .await
        .map_err(reason)?;
    Ok((Arc::new(store), Box::new(server), url))
}
