//! The audit log: one JSON line per mutating call (every method but GET/HEAD), refused ones
//! too — `{"at", "who", "tenant", "method", "path", "status"}`, `who` being the token's `sub`
//! (or `"-"` when no token verified). Written to the store (keyed records of kind [`AUDIT`],
//! key `{millis:015}-{random}`, so they list in time order) before the call is answered, and
//! read back by `GET /api/v1/audit` (admin; `?after=KEY&limit=N`, `?who=`); also appended
//! to a file (JSON Lines) when one is configured.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{json, Value};
use troupe_runtime::store::{KeyedRecord, Timestamp};

use crate::state::{lock, Service};

/// Where mutating calls are recorded.
#[derive(Clone, Debug, Default)]
pub struct AuditLog {
    file: Option<Arc<Mutex<std::fs::File>>>,
    path: Option<PathBuf>,
    recent: Arc<Mutex<Vec<Value>>>,
}

/// The keyed-record kind of an audit entry.
pub const AUDIT: &str = "audit";

/// How many records the in-memory copy keeps (the file keeps all).
const RECENT: usize = 10_000;

impl AuditLog {
    /// Records kept in memory only.
    pub fn memory() -> Self {
        Self::default()
    }

    /// Records appended to `path` (created if missing) and kept in memory.
    pub fn file(path: &Path) -> Result<Self, String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot open the audit log {}: {e}", path.display()))?;
        Ok(Self {
            file: Some(Arc::new(Mutex::new(file))),
            path: Some(path.to_path_buf()),
            recent: Arc::default(),
        })
    }

    /// The file records go to, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Appends one record.
    pub fn record(&self, entry: Value) {
        if let Some(file) = &self.file {
            let mut line = entry.to_string();
            line.push('\n');
            if let Err(e) = lock(file).write_all(line.as_bytes()) {
                tracing::error!(error = %e, "cannot append to the audit log");
            }
        }
        let mut recent = lock(&self.recent);
        if recent.len() >= RECENT {
            recent.remove(0);
        }
        recent.push(entry);
    }

    /// The records kept in memory, oldest first.
    pub fn recent(&self) -> Vec<Value> {
        lock(&self.recent).clone()
    }
}

/// Middleware: records every mutating call once it is answered.
pub(crate) async fn audit(State(svc): State<Arc<Service>>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    if method == axum::http::Method::GET || method == axum::http::Method::HEAD {
        return next.run(req).await;
    }
    let path = req.uri().path().to_string();
    let caller = svc.auth.caller(req.headers(), req.uri().query()).ok();
    let response = next.run(req).await;
    let now = Timestamp::now();
    let entry = json!({
        "at": now.to_string(),
        "who": caller.as_ref().map_or("-", |c| c.who.as_str()),
        "tenant": caller.as_ref().and_then(|c| c.tenant.clone()),
        "method": method.as_str(),
        "path": path,
        "status": response.status().as_u16(),
    });
    let key = format!("{:015}-{:08x}", now.as_millis(), fastrand::u32(..));
    let stored = svc
        .store()
        .put_keyed(KeyedRecord::new(AUDIT, key, entry.clone(), now))
        .await;
    if let Err(e) = stored {
        tracing::error!(error = %e, "cannot write the audit entry to the store");
    }
    svc.audit.record(entry);
    response
}
