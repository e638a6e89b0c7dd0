//! [`PostgresStore`]: one PostgreSQL database shared by many nodes. The same operations and
//! group-commit writer as SQLite; concurrency between nodes rests on row locks (a run's journal
//! counter, a lease row, the id counters) inside each batch's transaction. A lost connection
//! fails the batch with [`StoreError::Unavailable`] and is re-established for the next one.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use postgres::config::Host;
use postgres::types::{IsNull, ToSql, Type};
use postgres::{Client, Config, NoTls, Statement};

use super::sql::schema;
use super::sql::store::SqlStore;
use super::sql::writer::Writer;
use super::sql::{Dialect, Row, Sql, Value};
use super::{StoreConfig, StoreError};

/// Marks a [`SqlStore`] kept in PostgreSQL.
#[derive(Debug)]
pub enum Postgres {}

/// The shared store: a PostgreSQL database.
pub type PostgresStore = SqlStore<Postgres>;

/// How to connect to a PostgreSQL store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresOptions {
    /// The store's limits.
    pub config: StoreConfig,
    /// How long connecting may take before failing with [`StoreError::Unavailable`].
    pub connect_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            config: StoreConfig::default(),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl SqlStore<Postgres> {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db` or
    /// `host=... user=...`) and brings its schema up to date.
    ///
    /// Fails with [`StoreError::Invalid`] for a malformed address, [`StoreError::Unavailable`]
    /// when the server cannot be reached, [`StoreError::SchemaTooNew`] if a newer build wrote
    /// the database.
    pub async fn connect(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        options.config.validate()?;
        let mut pg =
            Config::from_str(url).map_err(|e| StoreError::invalid("PostgreSQL address", e))?;
        pg.connect_timeout(options.connect_timeout);
        let location: Arc<str> = describe(&pg).into();
        let conn_location = location.clone();
        let config = options.config;
        let writer = Writer::start(location.clone(), config.max_batch, move || {
            let mut conn = PgConn::connect(pg, conn_location)?;
            schema::migrate(&mut conn)?;
            Ok(Box::new(conn) as Box<dyn Sql>)
        })
        .await?;
        Ok(Self {
            writer,
            config,
            location,
            backend: PhantomData,
        })
    }
}

/// `postgres://user@host:port/db`, without the password.
fn describe(pg: &Config) -> String {
    let host = match pg.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    let user = pg.get_user().unwrap_or("");
    let db = pg.get_dbname().unwrap_or(user);
    format!("postgres://{user}@{host}:{port}/{db}")
}

struct PgConn {
    config: Config,
    client: Option<Client>,
    statements: HashMap<String, Statement>,
    location: Arc<str>,
}

impl PgConn {
    fn connect(config: Config, location: Arc<str>) -> Result<Self, StoreError> {
        let mut conn = Self {
            config,
            client: None,
            statements: HashMap::new(),
            location,
        };
        conn.client()?;
        Ok(conn)
    }

    /// The connection, re-established if it was lost.
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.statements.clear();
            self.client = None;
            let client = self
                .config
                .connect(NoTls)
                .map_err(|e| map_err(&self.location, e))?;
            self.client = Some(client);
        }
        self.client.as_mut().ok_or_else(|| StoreError::Closed {
            location: self.location.to_string(),
        })
    }

    /// Maps a call's error; after connection trouble (no database error code, or the server
    /// shutting the session down) the connection is dropped, so the next call reconnects even
    /// if the client has not noticed yet that it is closed.
    fn checked<T>(&mut self, result: Result<T, postgres::Error>) -> Result<T, StoreError> {
        result.map_err(|e| {
            let lost = e
                .code()
                .is_none_or(|c| *c == postgres::error::SqlState::ADMIN_SHUTDOWN);
            if lost {
                self.client = None;
                self.statements.clear();
            }
            map_err(&self.location, e)
        })
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let numbered = number_placeholders(sql);
        let prepared = self.client()?.prepare(&numbered);
        let statement = self.checked(prepared)?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

/// Rewrites `?` placeholders to PostgreSQL's `$1, $2, ...` (the shared SQL has no `?` in
/// literals).
fn number_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Maps the client's errors: connection trouble and serialisation failures are retryable.
fn map_err(location: &Arc<str>, e: postgres::Error) -> StoreError {
    use postgres::error::SqlState;
    let transient = match e.code() {
        None => true,
        Some(code) => {
            *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
                || *code == SqlState::TOO_MANY_CONNECTIONS
        }
    };
    let reason = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    };
    if transient {
        StoreError::Unavailable {
            location: location.to_string(),
            reason,
        }
    } else {
        StoreError::Backend {
            location: location.to_string(),
            reason,
        }
    }
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Int(v) if *ty == Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
            Value::Int(v) => v.to_sql(ty, out),
            Value::Text(v) => v.as_str().to_sql(ty, out),
            Value::Blob(v) => v.as_slice().to_sql(ty, out),
            Value::Null => Ok(IsNull::Yes),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

fn params(values: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

fn column(location: &Arc<str>, row: &postgres::Row, i: usize) -> Result<Value, StoreError> {
    let ty = row.columns()[i].type_().clone();
    let bad = |e: postgres::Error| StoreError::corrupt(location, format!("column {i}: {e}"));
    let value = if ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(i)
            .map_err(bad)?
            .map(Value::Int)
    } else if ty == Type::INT4 {
        let v = row.try_get::<_, Option<i32>>(i).map_err(bad)?;
        v.map(|v| Value::Int(i64::from(v)))
    } else if ty == Type::INT2 {
        let v = row.try_get::<_, Option<i16>>(i).map_err(bad)?;
        v.map(|v| Value::Int(i64::from(v)))
    } else if ty == Type::TEXT || ty == Type::VARCHAR || ty == Type::NAME {
        row.try_get::<_, Option<String>>(i)
            .map_err(bad)?
            .map(Value::Text)
    } else if ty == Type::BYTEA {
        row.try_get::<_, Option<Vec<u8>>>(i)
            .map_err(bad)?
            .map(Value::Blob)
    } else if ty == Type::VOID {
        None
    } else {
        return Err(StoreError::corrupt(
            location,
            format!("column {i} has the unexpected type {ty}"),
        ));
    };
    Ok(value.unwrap_or(Value::Null))
}

impl Sql for PgConn {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn location(&self) -> &Arc<str> {
        &self.location
    }

    fn execute(&mut self, sql: &str, values: &[Value]) -> Result<u64, StoreError> {
        let statement = self.statement(sql)?;
        let result = self.client()?.execute(&statement, &params(values));
        self.checked(result)
    }

    fn query(&mut self, sql: &str, values: &[Value]) -> Result<Vec<Row>, StoreError> {
        let statement = self.statement(sql)?;
        let location = self.location.clone();
        let result = self.client()?.query(&statement, &params(values));
        let rows = self.checked(result)?;
        rows.iter()
            .map(|row| {
                let values = (0..row.len())
                    .map(|i| column(&location, row, i))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Row {
                    location: location.clone(),
                    values,
                })
            })
            .collect()
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        let result = self.client()?.batch_execute(sql);
        self.checked(result)
    }

    fn begin(&mut self, _write: bool) -> Result<(), StoreError> {
        self.batch("BEGIN")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order() {
        assert_eq!(
            number_placeholders("UPDATE t SET a = ? WHERE b = ? AND c <= ?"),
            "UPDATE t SET a = $1 WHERE b = $2 AND c <= $3"
        );
    }

    #[test]
    fn the_location_leaves_the_password_out() {
        let pg = Config::from_str("postgres://troupe:secret@127.0.0.1:5433/runs").unwrap();
        assert_eq!(describe(&pg), "postgres://troupe@127.0.0.1:5433/runs");
    }
}
