//! [`StoreSpec`]: which store to open, as a user names it (`--store memory`, `--store PATH`,
//! `--store postgres://...`), and opening it as an `Arc<dyn Store>`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::{MemoryStore, SqliteOptions, SqliteStore, Store, StoreConfig, StoreError};

/// A store named by a string.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreSpec {
    /// `memory`: nothing survives the process.
    Memory,
    /// A path (or `sqlite:PATH`): the embedded SQLite store in that file.
    Sqlite(PathBuf),
    /// `postgres://...` or `postgresql://...`: a PostgreSQL database.
    Postgres(String),
}

impl StoreSpec {
    /// Reads a spec: `memory`, `postgres://...`/`postgresql://...`, `sqlite:PATH` or a path.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(StoreError::invalid(
                "store",
                "it is empty: give `memory`, a file path or a postgres:// address",
            ));
        }
        if text == "memory" {
            return Ok(Self::Memory);
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(Self::Postgres(text.to_owned()));
        }
        if let Some(path) = text.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(StoreError::invalid(
                    format!("store {text:?}"),
                    "sqlite: needs a file path after it",
                ));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(StoreError::invalid(
                format!("store {text:?}"),
                format!("unknown scheme {scheme:?} (known: postgres://, sqlite:, memory)"),
            ));
        }
        Ok(Self::Sqlite(PathBuf::from(text)))
    }

    /// Opens the store (creating an SQLite file, migrating a schema) with these limits.
    pub async fn open(&self, config: StoreConfig) -> Result<Arc<dyn Store>, StoreError> {
        match self {
            Self::Memory => Ok(Arc::new(MemoryStore::with_config(config)?)),
            Self::Sqlite(path) => {
                let options = SqliteOptions {
                    config,
                    ..SqliteOptions::default()
                };
                Ok(Arc::new(SqliteStore::open(path, options).await?))
            }
            #[cfg(feature = "postgres")]
            Self::Postgres(url) => {
                let options = super::PostgresOptions {
                    config,
                    ..super::PostgresOptions::default()
                };
                Ok(Arc::new(super::PostgresStore::connect(url, options).await?))
            }
            #[cfg(not(feature = "postgres"))]
            Self::Postgres(_) => Err(StoreError::invalid(
                format!("store {self}"),
                "this build has no PostgreSQL support (cargo feature `postgres`)",
            )),
        }
    }
}

/// Shown without any password.
impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::Sqlite(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl fmt::Debug for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreSpec({self})")
    }
}

/// `scheme://user:secret@host/...` → `scheme://user@host/...`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or("");
            format!("{scheme}://{user}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_by_their_shape() {
        assert_eq!(StoreSpec::parse("memory").unwrap(), StoreSpec::Memory);
        assert_eq!(
            StoreSpec::parse("runs/troupe.db").unwrap(),
            StoreSpec::Sqlite("runs/troupe.db".into())
        );
        assert_eq!(
            StoreSpec::parse("sqlite:///var/lib/troupe.db").unwrap(),
            StoreSpec::Sqlite("/var/lib/troupe.db".into())
        );
        assert_eq!(
            StoreSpec::parse("postgresql://u@h/db").unwrap(),
            StoreSpec::Postgres("postgresql://u@h/db".into())
        );
    }

    #[test]
    fn bad_specs_are_refused_by_name() {
        for (text, says) in [
            ("", "empty"),
            ("  ", "empty"),
            ("redis://h", "unknown scheme \"redis\""),
            ("sqlite:", "needs a file path"),
        ] {
            let err = StoreSpec::parse(text).expect_err(text);
            assert!(err.to_string().contains(says), "{text:?}: {err}");
        }
    }

    #[test]
    fn postgres_specs_display_without_the_password() {
        let spec = StoreSpec::parse("postgres://troupe:hunter2@db:5432/runs").unwrap();
        assert_eq!(spec.to_string(), "postgres://troupe@db:5432/runs");
        assert!(!format!("{spec:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn memory_specs_open_a_memory_store() {
        let store = StoreSpec::Memory
            .open(StoreConfig::default())
            .await
            .unwrap();
        assert_eq!(store.location(), "memory");
    }
}
