//! What the SQL stores share: a tiny interface to one connection ([`Sql`]), the schema and its
//! migrations, every store operation written once against that interface, and the
//! group-commit writer thread. SQLite and PostgreSQL differ only in their [`Sql`]
//! implementation (placeholders, types, error mapping, reconnecting).

pub(crate) mod checksum;
pub(crate) mod ops;
pub(crate) mod schema;
pub(crate) mod store;
pub(crate) mod writer;

use std::sync::Arc;

use super::StoreError;

/// The SQL dialect of a backend (where the schema's text differs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres,
}

/// A parameter or a column value. Parameters use the typed nulls; results use `Null`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
    Null,
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        v.map_or(Value::Null, Value::Text)
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Value::Null, Value::Int)
    }
}

/// One result row; accessors fail with [`StoreError::Corrupt`] naming the column.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) location: Arc<str>,
    pub(crate) values: Vec<Value>,
}

impl Row {
    fn get(&self, i: usize) -> Result<&Value, StoreError> {
        self.values
            .get(i)
            .ok_or_else(|| StoreError::corrupt(&self.location, format!("row has no column {i}")))
    }

    fn wrong(&self, i: usize, want: &str, got: &Value) -> StoreError {
        StoreError::corrupt(
            &self.location,
            format!("column {i} should be {want}, found {got:?}"),
        )
    }

    pub(crate) fn int(&self, i: usize) -> Result<i64, StoreError> {
        match self.get(i)? {
            Value::Int(v) => Ok(*v),
            other => Err(self.wrong(i, "an integer", other)),
        }
    }

    /// A non-negative integer as u64.
    pub(crate) fn uint(&self, i: usize) -> Result<u64, StoreError> {
        let v = self.int(i)?;
        u64::try_from(v).map_err(|_| {
            StoreError::corrupt(&self.location, format!("column {i} is negative ({v})"))
        })
    }

    pub(crate) fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.get(i)? {
            Value::Null => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    pub(crate) fn text(&self, i: usize) -> Result<String, StoreError> {
        match self.get(i)? {
            Value::Text(v) => Ok(v.clone()),
            other => Err(self.wrong(i, "text", other)),
        }
    }

    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self.get(i)? {
            Value::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }

    pub(crate) fn blob(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        match self.get(i)? {
            Value::Blob(v) => Ok(v.clone()),
            // SQLite returns an empty blob written as zero bytes as a blob; NULL never.
            other => Err(self.wrong(i, "bytes", other)),
        }
    }

    /// A JSON column.
    pub(crate) fn json(&self, i: usize) -> Result<serde_json::Value, StoreError> {
        let text = self.text(i)?;
        serde_json::from_str(&text).map_err(|e| {
            StoreError::corrupt(&self.location, format!("column {i} is not JSON: {e}"))
        })
    }
}

/// One connection, inside the writer thread. Statements use `?` placeholders.
pub(crate) trait Sql: Send {
    /// The dialect, for the schema's text.
    fn dialect(&self) -> Dialect;
    /// The store's location, for errors.
    fn location(&self) -> &Arc<str>;
    /// Runs a statement; the number of rows changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError>;
    /// Runs a query; its rows.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError>;
    /// Runs statements without parameters (`BEGIN`, `SAVEPOINT s`, DDL).
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;
    /// Starts a transaction (a write one takes the write lock at once where that matters).
    fn begin(&mut self, write: bool) -> Result<(), StoreError>;

    /// The first row of a query, if any.
    fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

/// Converts a u64 to the i64 SQL stores, refusing values past i64::MAX.
pub(crate) fn to_i64(what: &str, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::invalid(what, format!("{v} is past {}", i64::MAX)))
}
