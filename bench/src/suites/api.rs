//! The HTTP API (`troupe_service`, in process on 127.0.0.1, real HTTP through reqwest) beside
//! the Rust SDK and the in-process event bus, measured in the same run:
//!
//! - submit → complete of a 3-task workflow: `POST …/execute` then its SSE stream read to the
//!   run's end, vs `submit_durable_with_input` + `wait` on the same runtime and store;
//! - `GET /api/v1/executions/{id}` latency under 16 concurrent clients (budget p95 < 5 ms), vs
//!   `GET /health` under the same load;
//! - events per second to one SSE client (a finished run's journal streamed), vs the same
//!   number of events through an in-process [`EventBus`] (budget ≥ 500,000/s, i.e. p50 under
//!   2 ms per 1,000 events).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use troupe_runtime::events::{EventBus, EventKind};
use troupe_runtime::store::{MemoryStore, Store};
use troupe_runtime::workflow::durable::{Definition, Durability};
use troupe_runtime::workflow::plan::plan;
use troupe_runtime::workflow::{parse_workflow, Plan as WorkflowPlan};
use troupe_runtime::{Runtime, RuntimeConfig};
use troupe_service::audit::AuditLog;
use troupe_service::auth::{expiry_in, sign_hs256};
use troupe_service::{Auth, Claims, Service, ServiceConfig};

use super::{err, Context};
use crate::budget::Budget;
use crate::scenario::{Plan, Prepared, Reason, Scenario, Unit, Variant};

/// The secret of the suite's own tokens.
const SECRET: &[u8] = b"troupe bench api suite";
/// Concurrent clients of the status scenario.
const CLIENTS: u64 = 16;
/// Events per sample of the streaming scenario.
const EVENTS: u64 = 1_000;

/// The 3-task chain.
const THREE: &str = "workflow:\n  name: three\n  agents:\n    shout: { type: text.transform, config: { op: uppercase } }\n  tasks:\n    - { id: a, agent: shout, input: \"hello\" }\n    - { id: b, agent: shout, depends_on: [a] }\n    - { id: c, agent: shout, depends_on: [b] }\n";

/// The suite's scenarios.
pub fn scenarios(ctx: &Context) -> Vec<Scenario> {
    let tasks = ctx.size.pick(500, 2_000);
    vec![
        Scenario::new(
            "api",
            "3-task workflow submit → complete",
            Unit::per_op("run"),
            Plan::batch(ctx.size.pick(30, 300)).warmup(5),
            setup_submit,
        )
        .describe("POST …/execute + its SSE stream to the end vs the Rust SDK's submit + wait"),
        Scenario::new(
            "api",
            "GET execution, 16 clients",
            Unit::per_op("request"),
            Plan::batch(ctx.size.pick(800, 16_000)).warmup(160),
            setup_status,
        )
        .describe("GET /api/v1/executions/{id} by 16 concurrent clients vs GET /health")
        .budget(Budget::P95Below { nanos: 5_000_000 }),
        Scenario::new(
            "api",
            "events to one SSE client",
            Unit::batch(EVENTS, "event"),
            Plan::heavy(ctx.size.pick(5, 20)).warmup(1),
            move || setup_events(tasks),
        )
        .describe("a finished run's journal streamed over SSE vs the in-process event bus")
        .budget(Budget::P50Below { nanos: 2_000_000 }),
    ]
}

/// The service under test, its runtime and store, and a token for it.
struct Api {
    base: String,
    http: reqwest::Client,
    token: String,
    runtime: Runtime,
    durability: Durability,
    stop: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl Api {
    async fn start() -> Result<Self, Reason> {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let runtime = Runtime::start(RuntimeConfig::named("bench-api"))
            .await
            .map_err(|e| err("runtime", e))?;
        troupe_agents::register_all(runtime.kinds());
        let mut durability = Durability::new(store, "bench-api/1");
        durability.inbox_poll = Duration::from_millis(20);
        let svc = Service::new(ServiceConfig {
            runtime: runtime.clone(),
            durability: durability.clone(),
            auth: Auth::hs256(SECRET),
            audit: AuditLog::memory(),
            replay: None,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| err("bind 127.0.0.1", e))?;
        let base = format!(
            "http://{}",
            listener.local_addr().map_err(|e| err("address", e))?
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = svc
                .serve(listener, axum::Router::new(), async move {
                    let _ = stopped.await;
                })
                .await;
        });
        let claims = Claims {
            sub: "bench".into(),
            scope: "admin".into(),
            tenant: None,
            exp: expiry_in(Duration::from_secs(24 * 3600)),
        };
        Ok(Self {
            base,
            http: reqwest::Client::new(),
            token: sign_hs256(&claims, SECRET)?,
            runtime,
            durability,
            stop: std::sync::Mutex::new(Some(stop)),
        })
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, Reason> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| err(path, e))?;
        let status = r.status();
        let text = r.text().await.map_err(|e| err(path, e))?;
        if !status.is_success() {
            return Err(format!("POST {path}: {status}: {text}"));
        }
        serde_json::from_str(&text).map_err(|e| err(path, e))
    }

    async fn get_text(&self, path: &str) -> Result<String, Reason> {
        get_text(&self.http, &self.base, &self.token, path).await
    }

    /// Submits `yaml` and returns its workflow id.
    async fn submit(&self, yaml: &str) -> Result<String, Reason> {
        let r = self
            .http
            .post(format!("{}/api/v1/workflows", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/yaml")
            .body(yaml.to_string())
            .send()
            .await
            .map_err(|e| err("submit", e))?;
        let body: Value = r.json().await.map_err(|e| err("submit", e))?;
        body["workflow_id"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| format!("submit: no workflow_id in {body}"))
    }

    /// Executes workflow `id` and reads its SSE stream to the run's end: the execution id and
    /// the number of events streamed.
    async fn run_to_end(&self, id: &str) -> Result<(String, u64), Reason> {
        let ex = self
            .post(
                &format!("/api/v1/workflows/{id}/execute"),
                json!({"execution_options": {"allow_concurrent": true}}),
            )
            .await?;
        let run = ex["execution_id"]
            .as_str()
            .ok_or_else(|| format!("execute: no execution_id in {ex}"))?
            .to_string();
        let events = self.events(&run).await?;
        Ok((run, events))
    }

    /// Reads execution `run`'s SSE stream to its end; the number of events in it.
    async fn events(&self, run: &str) -> Result<u64, Reason> {
        let body = self
            .get_text(&format!("/api/v1/executions/{run}/events"))
            .await?;
        if !body.contains("\"final\":true") {
            return Err(format!("the stream of {run} ended before the run did"));
        }
        Ok(body.lines().filter(|l| l.starts_with("id:")).count() as u64)
    }

    /// Stops serving and shuts the runtime down.
    async fn stop(&self) {
        let stop = self.stop.lock().ok().and_then(|mut s| s.take());
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        self.runtime.shutdown().await;
    }
}

/// `GET base+path` with `token`, its body (an error unless 2xx).
async fn get_text(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
) -> Result<String, Reason> {
    let r = http
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| err(path, e))?;
    let status = r.status();
    let text = r.text().await.map_err(|e| err(path, e))?;
    if !status.is_success() {
        return Err(format!("GET {path}: {status}: {text}"));
    }
    Ok(text)
}

/// The SDK's way: the same definition planned once, submitted and awaited.
fn sdk_plan(api: &Api) -> Result<Arc<WorkflowPlan>, Reason> {
    let spec = parse_workflow(THREE, "three.yaml").map_err(|e| err("parse", e))?;
    let plan = plan(spec, api.runtime.kinds()).map_err(|e| format!("plan: {e:?}"))?;
    Ok(Arc::new(plan))
}

async fn setup_submit() -> Result<Prepared, Reason> {
    let api = Arc::new(Api::start().await?);
    let id = api.submit(THREE).await?;
    let workflow = sdk_plan(&api)?;
    let over_http = api.clone();
    let subject = Variant::subject("over the HTTP API", move |ops| {
        let api = over_http.clone();
        let id = id.clone();
        async move {
            let mut samples = Vec::with_capacity(ops as usize);
            for _ in 0..ops {
                let start = Instant::now();
                api.run_to_end(&id).await?;
                samples.push(start.elapsed().as_nanos() as u64);
            }
            Ok(samples)
        }
    });
    let sdk = api.clone();
    let baseline = Variant::baseline("Rust SDK", move |ops| {
        let api = sdk.clone();
        let workflow = workflow.clone();
        async move {
            let mut samples = Vec::with_capacity(ops as usize);
            for _ in 0..ops {
                let start = Instant::now();
                let handle = api
                    .runtime
                    .submit_durable_with_input(
                        workflow.clone(),
                        Definition {
                            text: THREE.into(),
                            source: "three.yaml".into(),
                        },
                        Value::Null,
                        api.durability.clone(),
                    )
                    .await
                    .map_err(|e| err("submit", e))?;
                handle.wait().await.map_err(|e| err("wait", e))?;
                samples.push(start.elapsed().as_nanos() as u64);
            }
            Ok(samples)
        }
    });
    Ok(Prepared::new(vec![subject, baseline]).teardown(stop(api)))
}

/// The scenario's teardown: stops the service.
async fn stop(api: Arc<Api>) {
    api.stop().await;
}

/// Runs `ops` GETs of `path`, `CLIENTS` at a time; each one's latency.
async fn concurrent_gets(api: Arc<Api>, path: String, ops: u64) -> Result<Vec<u64>, Reason> {
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let share = ops / CLIENTS + u64::from(c < ops % CLIENTS);
        let (http, base, token, path) = (
            api.http.clone(),
            api.base.clone(),
            api.token.clone(),
            path.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(share as usize);
            for _ in 0..share {
                let start = Instant::now();
                get_text(&http, &base, &token, &path).await?;
                samples.push(start.elapsed().as_nanos() as u64);
            }
            Ok::<_, Reason>(samples)
        }));
    }
    let mut all = Vec::with_capacity(ops as usize);
    for c in clients {
        all.extend(c.await.map_err(|e| err("client", e))??);
    }
    Ok(all)
}

async fn setup_status() -> Result<Prepared, Reason> {
    let api = Arc::new(Api::start().await?);
    let id = api.submit(THREE).await?;
    let (run, _) = api.run_to_end(&id).await?;
    let path = format!("/api/v1/executions/{run}");
    let status = api.get_text(&path).await?;
    if !status.contains("completed") {
        return Err(format!("execution {run} did not complete: {status}"));
    }
    let a = api.clone();
    let subject = Variant::subject("GET /api/v1/executions/{id}", move |ops| {
        concurrent_gets(a.clone(), path.clone(), ops)
    });
    let b = api.clone();
    let baseline = Variant::baseline("GET /health", move |ops| {
        concurrent_gets(b.clone(), "/health".into(), ops)
    });
    Ok(Prepared::new(vec![subject, baseline])
        .teardown(stop(api))
        .note("16 concurrent clients, one reqwest connection pool"))
}

/// A workflow of `n` independent tasks.
fn wide(n: usize) -> String {
    let mut yaml = String::from(
        "workflow:\n  name: wide\n  agents:\n    shout: { type: text.transform, config: { op: uppercase } }\n  tasks:\n",
    );
    for i in 0..n {
        yaml.push_str(&format!(
            "    - {{ id: t{i}, agent: shout, input: \"x\" }}\n"
        ));
    }
    yaml
}

async fn setup_events(tasks: usize) -> Result<Prepared, Reason> {
    let api = Arc::new(Api::start().await?);
    let id = api.submit(&wide(tasks)).await?;
    let (run, events) = api.run_to_end(&id).await?;
    if events < EVENTS / 2 {
        return Err(format!("the run journaled only {events} events"));
    }
    let a = api.clone();
    let subject = Variant::subject("SSE, one client", move |ops| {
        let api = a.clone();
        let run = run.clone();
        async move {
            let mut samples = Vec::with_capacity(ops as usize);
            for _ in 0..ops {
                let start = Instant::now();
                let got = api.events(&run).await?;
                let nanos = start.elapsed().as_nanos() as u64;
                // Per EVENTS events, whatever the run's count.
                samples.push(nanos.saturating_mul(EVENTS) / got.max(1));
            }
            Ok(samples)
        }
    });
    let baseline = Variant::baseline("in-process event bus", move |ops| async move {
        let mut samples = Vec::with_capacity(ops as usize);
        for _ in 0..ops {
            let bus = EventBus::new("bench-bus", EVENTS as usize + 16);
            let mut rx = bus.subscribe();
            let start = Instant::now();
            let reader = tokio::spawn(async move {
                for _ in 0..EVENTS {
                    rx.recv().await.map_err(|e| err("bus", e))?;
                }
                Ok::<_, Reason>(())
            });
            for _ in 0..EVENTS {
                bus.emit(None, None, None, EventKind::WorkflowPaused);
            }
            reader.await.map_err(|e| err("bus reader", e))??;
            samples.push(start.elapsed().as_nanos() as u64);
        }
        Ok(samples)
    });
    Ok(Prepared::new(vec![subject, baseline])
        .teardown(stop(api))
        .note(format!(
            "{events} events per stream of a finished {tasks}-task run, scaled to {EVENTS}"
        )))
}
