//! [`SqliteStore`]: the embedded default. One file (plus its `-wal` and `-shm` companions),
//! in WAL mode so several processes can open it at once (readers never block the writer; a
//! writer waits up to the busy timeout for another's transaction), `synchronous=FULL` so a
//! commit is durable when it returns. SQLite is bundled: nothing needs installing.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::sql::schema;
use super::sql::store::SqlStore;
use super::sql::writer::Writer;
use super::sql::{Dialect, Row, Sql, Value};
use super::{StoreConfig, StoreError};

/// Marks a [`SqlStore`] kept in SQLite.
#[derive(Debug)]
pub enum Sqlite {}

/// The embedded store: an SQLite file that several processes may open at once.
pub type SqliteStore = SqlStore<Sqlite>;

/// How to open an SQLite store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqliteOptions {
    /// The store's limits.
    pub config: StoreConfig,
    /// How long a write waits for another process's transaction before failing with
    /// [`StoreError::Unavailable`].
    pub busy_timeout: Duration,
    /// Run SQLite's `quick_check` when opening (finds a truncated or damaged file before it
    /// is used; costs a read of the whole file).
    pub check_on_open: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            config: StoreConfig::default(),
            busy_timeout: Duration::from_secs(5),
            check_on_open: true,
        }
    }
}

impl SqlStore<Sqlite> {
    /// Opens (creating if missing) the store file at `path` and brings its schema up to date.
    ///
    /// Fails with [`StoreError::Corrupt`] naming the file if it is not a healthy SQLite
    /// database, [`StoreError::SchemaTooNew`] if a newer build wrote it.
    pub async fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, StoreError> {
        options.config.validate()?;
        let path = path.as_ref().to_path_buf();
        let location: Arc<str> = path.display().to_string().into();
        let conn_location = location.clone();
        let config = options.config;
        let writer = Writer::start(location.clone(), config.max_batch, move || {
            let mut conn = SqliteConn::open(&path, conn_location, &options)?;
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

struct SqliteConn {
    conn: Connection,
    location: Arc<str>,
}

impl SqliteConn {
    fn open(
        path: &PathBuf,
        location: Arc<str>,
        options: &SqliteOptions,
    ) -> Result<Self, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| map_err(&location, e))?;
        let mut this = Self { conn, location };
        this.conn
            .busy_timeout(options.busy_timeout)
            .map_err(|e| map_err(&this.location, e))?;
        let mode = this.query("PRAGMA journal_mode = WAL", &[])?;
        let mode = mode.first().map(|r| r.text(0)).transpose()?;
        if mode.as_deref() != Some("wal") {
            return Err(StoreError::Backend {
                location: this.location.to_string(),
                reason: format!("cannot switch to WAL mode (journal mode is {mode:?})"),
            });
        }
        this.batch("PRAGMA synchronous = FULL")?;
        if options.check_on_open {
            let rows = this.query("PRAGMA quick_check", &[])?;
            let report = rows
                .iter()
                .map(|r| r.text(0))
                .collect::<Result<Vec<_>, _>>()?;
            if report != ["ok"] {
                return Err(StoreError::corrupt(&this.location, report.join("; ")));
            }
        }
        Ok(this)
    }
}

/// Maps SQLite's errors to the store's: damage to `Corrupt`, lock waits to `Unavailable`.
fn map_err(location: &Arc<str>, e: rusqlite::Error) -> StoreError {
    let code = e.sqlite_error_code();
    match code {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            StoreError::corrupt(location, e)
        }
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::CannotOpen) => {
            StoreError::Unavailable {
                location: location.to_string(),
                reason: e.to_string(),
            }
        }
        _ => StoreError::Backend {
            location: location.to_string(),
            reason: e.to_string(),
        },
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Value::Blob(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

impl Sql for SqliteConn {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn location(&self) -> &Arc<str> {
        &self.location
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let location = &self.location;
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(|e| map_err(location, e))?;
        let changed = stmt
            .execute(rusqlite::params_from_iter(params.iter()))
            .map_err(|e| map_err(location, e))?;
        Ok(changed as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let location = &self.location;
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(|e| map_err(location, e))?;
        let columns = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(|e| map_err(location, e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| map_err(location, e))? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                let value = match row.get_ref(i).map_err(|e| map_err(location, e))? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Text(v) => Value::Text(String::from_utf8_lossy(v).into_owned()),
                    ValueRef::Blob(v) => Value::Blob(v.to_vec()),
                    ValueRef::Real(v) => {
                        return Err(StoreError::corrupt(
                            location,
                            format!("column {i} holds a real number ({v}) where none belongs"),
                        ))
                    }
                };
                values.push(value);
            }
            out.push(Row {
                location: location.clone(),
                values,
            });
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.conn
            .execute_batch(sql)
            .map_err(|e| map_err(&self.location, e))
    }

    fn begin(&mut self, write: bool) -> Result<(), StoreError> {
        self.batch(if write { "BEGIN IMMEDIATE" } else { "BEGIN" })
    }
}
