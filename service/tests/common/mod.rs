//! A service on a real port over a real store, tokens for it, and a line-reading SSE client.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use troupe_runtime::store::{Store, StoreConfig, StoreSpec};
use troupe_runtime::workflow::durable::Durability;
use troupe_runtime::workflow::resources::Capacity;
use troupe_runtime::{Runtime, RuntimeConfig};
use troupe_service::audit::AuditLog;
use troupe_service::auth::{expiry_in, sign_hs256};
use troupe_service::{Auth, Claims, Service, ServiceConfig};

/// The HS256 secret of the test services.
pub const SECRET: &[u8] = b"test secret of the troupe service";

/// A workflow that waits for signal `approval` between two tasks.
pub const GATE: &str = r#"
workflow:
  name: gate
  agents:
    shout: { type: text.transform, config: { op: uppercase } }
  tasks:
    - { id: first, agent: shout, input: "hello" }
    - { id: approve, await_signal: approval, depends_on: [first] }
    - { id: last, agent: shout, depends_on: [approve] }
"#;

/// A running service.
pub struct TestService {
    pub base: String,
    pub svc: Arc<Service>,
    pub store: Arc<dyn Store>,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// A service over a fresh SQLite store with this machine's capacity (or `capacity`).
pub async fn start_with(capacity: Option<Capacity>, auth: Auth) -> TestService {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreSpec::Sqlite(dir.path().join("t.db"))
        .open(StoreConfig::default())
        .await
        .unwrap();
    let mut config = RuntimeConfig::named("svc-test");
    if let Some(c) = capacity {
        config.capacity = c;
    }
    let rt = Runtime::start(config).await.unwrap();
    troupe_agents::register_all(rt.kinds());
    let mut durability = Durability::new(store.clone(), "svc-test/1");
    durability.inbox_poll = Duration::from_millis(20);
    let svc = Service::new(ServiceConfig {
        runtime: rt,
        durability,
        auth,
        audit: AuditLog::memory(),
        replay: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = svc.clone();
    tokio::spawn(async move {
        served
            .serve(listener, axum::Router::new(), std::future::pending())
            .await
    });
    TestService {
        base,
        svc,
        store,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

/// A service accepting HS256 tokens signed with [`SECRET`].
pub async fn start() -> TestService {
    start_with(None, Auth::hs256(SECRET)).await
}

/// A token with `scope` for `tenant`, valid an hour.
pub fn token(scope: &str, tenant: Option<&str>) -> String {
    let claims = Claims {
        sub: format!("tester-{scope}"),
        scope: scope.into(),
        tenant: tenant.map(String::from),
        exp: expiry_in(Duration::from_secs(3600)),
    };
    sign_hs256(&claims, SECRET).unwrap()
}

impl TestService {
    /// A request with `token`.
    pub fn req(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
    }

    /// Submits `yaml` as `token`: (status, body).
    pub async fn submit(&self, yaml: &str, token: &str) -> (u16, Value) {
        let r = self
            .req(reqwest::Method::POST, "/api/v1/workflows", token)
            .header("content-type", "application/yaml")
            .body(yaml.to_string())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// POSTs JSON: (status, body).
    pub async fn post(&self, path: &str, body: Value, token: &str) -> (u16, Value) {
        let r = self
            .req(reqwest::Method::POST, path, token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// GETs JSON: (status, body).
    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let r = self
            .req(reqwest::Method::GET, path, token)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub id: u64,
    pub event: String,
    pub data: Value,
}

/// An open SSE stream.
pub struct Sse {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: String,
}

/// Opens `url` as an event stream, after `last` when given.
pub async fn sse(http: &reqwest::Client, url: &str, token: &str, last: Option<u64>) -> Sse {
    let mut req = http.get(url).bearer_auth(token);
    if let Some(last) = last {
        req = req.header("Last-Event-ID", last.to_string());
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "SSE {url}");
    Sse {
        body: Box::pin(r.bytes_stream()),
        buf: String::new(),
    }
}

impl Sse {
    /// The next event (`None`: the stream ended). Comments (keep-alives) are skipped.
    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if let Some(id) = id {
                    let data = serde_json::from_str(&data).unwrap();
                    return Some(SseEvent { id, event, data });
                }
                continue;
            }
            let chunk = self.body.next().await?.ok()?;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// A service over a [`MemoryStore`](troupe_runtime::store::MemoryStore) (its calls answer at
/// once: usable on tokio's paused time, where a store thread's answer would let timers jump),
/// with an HTTP client that keeps no idle connections (no pool timers).
pub async fn start_memory() -> TestService {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(troupe_runtime::store::MemoryStore::new());
    let rt = Runtime::start(RuntimeConfig::named("svc-mem"))
        .await
        .unwrap();
    troupe_agents::register_all(rt.kinds());
    let mut durability = Durability::new(store.clone(), "svc-mem/1");
    durability.inbox_poll = Duration::from_millis(20);
    let svc = Service::new(ServiceConfig {
        runtime: rt,
        durability,
        auth: Auth::hs256(SECRET),
        audit: AuditLog::memory(),
        replay: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = svc.clone();
    tokio::spawn(async move {
        served
            .serve(listener, axum::Router::new(), std::future::pending())
            .await
    });
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    TestService {
        base,
        svc,
        store,
        http,
        _dir: dir,
    }
}

/// Another service (its own runtime) over `store`, accepting the tokens of [`token`].
pub async fn start_on(store: Arc<dyn Store>) -> TestService {
    let rt = Runtime::start(RuntimeConfig::named("svc-other"))
        .await
        .unwrap();
    troupe_agents::register_all(rt.kinds());
    let mut durability = Durability::new(store.clone(), "svc-other/1");
    durability.inbox_poll = Duration::from_millis(20);
    let svc = Service::new(ServiceConfig {
        runtime: rt,
        durability,
        auth: Auth::hs256(SECRET),
        audit: AuditLog::memory(),
        replay: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = svc.clone();
    tokio::spawn(async move {
        served
            .serve(listener, axum::Router::new(), std::future::pending())
            .await
    });
    TestService {
        base,
        svc,
        store,
        http: reqwest::Client::new(),
        _dir: tempfile::tempdir().unwrap(),
    }
}
