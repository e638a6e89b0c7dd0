//! Webhooks: subscriptions (a URL and the message types it wants) that receive the contract's
//! execution messages (those of the WebSocket: `workflow.status_changed`, `task.started`,
//! `task.completed`, `error.occurred`, ...) as signed HTTP POSTs.
//!
//! - **Stored**: subscriptions are keyed records of kind [`SUBSCRIPTION`]; every delivery is
//!   one of kind [`DELIVERY`] under `{webhook}~{execution}~{seq}` (inserted only if absent, so
//!   an event fed twice, e.g. after a restart, is delivered once), written before it is sent.
//! - **Signed**: `X-Troupe-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{body}" under
//!   the subscription's secret>`, `X-Troupe-Timestamp` (Unix seconds), `X-Troupe-Event` (the
//!   message type), `X-Troupe-Delivery` (the delivery id), `X-Troupe-Webhook` (its id).
//! - **Schedule**: an attempt at once, then after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h
//!   ([`SCHEDULE`]); a 2xx answer delivers. After the last failure the delivery is
//!   dead-lettered (`status: "dead"`), listed per endpoint and replayable.
//! - **Fed** from the journals of the runs this process drives ([`Service::adopt`]): exactly
//!   one process drives a run, so each event is fed by one process. Pending deliveries are
//!   picked up again when a service starts ([`Service::resume_webhooks`]).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use troupe_runtime::store::{KeyedFilter, KeyedRecord, Store, Timestamp};
use troupe_runtime::RunId;

use crate::auth::Scope;
use crate::error::{ApiError, JsonBody};
use crate::state::{lock, Authed, Service};

/// The keyed-record kind of a subscription (key: its id).
pub const SUBSCRIPTION: &str = "webhook";
/// The keyed-record kind of a delivery (key: `{webhook}~{execution}~{seq:012}`).
pub const DELIVERY: &str = "webhook-delivery";

/// The delays before each attempt: at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
pub const SCHEDULE: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// How deliveries are made.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// The delay before each attempt (the first is usually zero); after the last, dead.
    pub schedule: Vec<Duration>,
    /// How long one attempt may take (`None`: no limit — for tests on paused time, where a
    /// timer would fire while the receiver answers).
    pub request_timeout: Option<Duration>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            schedule: SCHEDULE.to_vec(),
            request_timeout: Some(Duration::from_secs(10)),
        }
    }
}

/// The service's webhook machinery: its configuration and HTTP client.
pub(crate) struct Webhooks {
    config: std::sync::Mutex<WebhookConfig>,
    http: std::sync::OnceLock<reqwest::Client>,
}

impl Default for Webhooks {
    fn default() -> Self {
        Self {
            config: std::sync::Mutex::new(WebhookConfig::default()),
            http: std::sync::OnceLock::new(),
        }
    }
}

impl Webhooks {
    fn config(&self) -> WebhookConfig {
        lock(&self.config).clone()
    }

    fn client(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            let mut b = reqwest::Client::builder()
                // No idle connections: nothing but the attempt itself holds a timer.
                .pool_max_idle_per_host(0)
                .redirect(reqwest::redirect::Policy::none());
            if let Some(t) = self.config().request_timeout {
                b = b.timeout(t);
            }
            b.build().unwrap_or_default()
        })
    }
}

/// HMAC-SHA256 of `{timestamp}.{body}` under `secret`, as lower-case hex.
pub fn signature(secret: &str, timestamp: u64, body: &str) -> String {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, format!("{timestamp}.{body}").as_bytes());
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn now_ms() -> u64 {
    Timestamp::now().as_millis()
}

fn delivery_key(webhook: &str, run: &RunId, seq: u64) -> String {
    format!("{webhook}~{run}~{seq:012}")
}

fn wants(sub: &Value, tenant: Option<&str>, kind: &str) -> bool {
    let tenant_ok = match sub["tenant"].as_str() {
        Some(t) => tenant == Some(t),
        None => true,
    };
    let types = sub["event_types"].as_array();
    let type_ok = types
        .is_none_or(|ts| ts.is_empty() || ts.iter().any(|t| t.as_str() == Some(kind) || t == "*"));
    tenant_ok && type_ok && sub["active"].as_bool() != Some(false)
}

impl Service {
    /// Sets how webhooks are delivered (before the first delivery).
    pub fn configure_webhooks(&self, config: WebhookConfig) {
        *lock(&self.webhooks.config) = config;
    }

    /// Feeds the journal of `run` (driven here) to the matching subscriptions until it ends.
    pub(crate) fn feed_webhooks(self: &Arc<Self>, run: RunId) {
        let me = self.clone();
        tokio::spawn(async move {
            let subs = match me.store().list_keyed(KeyedFilter::kind(SUBSCRIPTION)).await {
                Ok(s) if !s.is_empty() => s,
                _ => return,
            };
            let Ok(Some(record)) = me.store().get_run(run.clone()).await else {
                return;
            };
            let workflow = me.workflow_of(&record);
            let mut tail = crate::events::Tail::new(me.clone(), run.clone(), 0);
            while let Some(Ok(entries)) = tail.next().await {
                for entry in &entries {
                    let Some(message) = crate::events::message(&workflow, &run, entry) else {
                        continue;
                    };
                    let kind = message["type"].as_str().unwrap_or_default().to_string();
                    for sub in &subs {
                        if wants(&sub.value, record.tenant.as_deref(), &kind) {
                            me.enqueue(&sub.key, &run, entry.seq, &kind, &message).await;
                        }
                    }
                }
            }
        });
    }

    async fn enqueue(
        self: &Arc<Self>,
        webhook: &str,
        run: &RunId,
        seq: u64,
        kind: &str,
        m: &Value,
    ) {
        let key = delivery_key(webhook, run, seq);
        let value = json!({
            "delivery_id": key, "webhook_id": webhook, "event_type": kind, "event": m,
            "status": "pending", "attempts": 0, "next_attempt_at": now_ms(), "history": [],
        });
        let record = KeyedRecord::new(DELIVERY, key.clone(), value, Timestamp::now());
        match self.store().insert_keyed(record).await {
            Ok(true) => self.spawn_delivery(key, Duration::ZERO),
            Ok(false) => {}
            Err(e) => tracing::error!(%webhook, error = %e, "cannot record a webhook delivery"),
        }
    }

    /// Picks up every pending delivery (at start): each is attempted when it is due.
    pub async fn resume_webhooks(self: &Arc<Self>) -> Result<usize, ApiError> {
        let all = self.store().list_keyed(KeyedFilter::kind(DELIVERY)).await?;
        let mut n = 0;
        for d in all.into_iter().filter(|d| d.value["status"] == "pending") {
            let due = d.value["next_attempt_at"].as_u64().unwrap_or(0);
            self.spawn_delivery(d.key, Duration::from_millis(due.saturating_sub(now_ms())));
            n += 1;
        }
        Ok(n)
    }

    fn spawn_delivery(self: &Arc<Self>, key: String, first_wait: Duration) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut wait = first_wait;
            loop {
                tokio::time::sleep(wait).await;
                match me.attempt(&key).await {
                    Ok(Some(next)) => wait = next,
                    Ok(None) => return,
                    Err(e) => {
                        tracing::error!(delivery = %key, error = %e, "webhook delivery");
                        return;
                    }
                }
            }
        });
    }

    /// One attempt of a pending delivery: `Some(wait)` before the next one.
    async fn attempt(&self, key: &str) -> Result<Option<Duration>, ApiError> {
        let store = self.store();
        let Some(mut d) = store.get_keyed(DELIVERY.into(), key.to_string()).await? else {
            return Ok(None);
        };
        if d.value["status"] != "pending" {
            return Ok(None);
        }
        let webhook = d.value["webhook_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let sub = store
            .get_keyed(SUBSCRIPTION.into(), webhook.clone())
            .await?;
        let config = self.webhooks.config();
        let attempts = d.value["attempts"].as_u64().unwrap_or(0) + 1;
        let (code, error) = match &sub {
            None => (None, Some("the subscription was deleted".to_string())),
            Some(sub) => self.post(&sub.value, key, &d.value).await,
        };
        let ok = code.is_some_and(|c| (200..300).contains(&c));
        let v = &mut d.value;
        v["attempts"] = json!(attempts);
        v["last_attempt_at"] = json!(now_ms());
        v["last_status_code"] = json!(code);
        v["last_error"] = json!(error);
        if let Some(h) = v["history"].as_array_mut() {
            h.push(
                json!({"attempt": attempts, "at": now_ms(), "status_code": code, "error": error}),
            );
        }
        let next = config.schedule.get(attempts as usize).copied();
        let wait = match (ok, next, &sub) {
            (true, _, _) => {
                v["status"] = json!("delivered");
                None
            }
            (false, Some(wait), Some(_)) => {
                v["next_attempt_at"] = json!(now_ms() + wait.as_millis() as u64);
                Some(wait)
            }
            _ => {
                v["status"] = json!("dead");
                v["next_attempt_at"] = Value::Null;
                None
            }
        };
        d.at = Timestamp::now();
        store.put_keyed(d).await?;
        Ok(wait)
    }

    /// POSTs the delivery's event: the status code answered, or why there was none.
    async fn post(&self, sub: &Value, key: &str, d: &Value) -> (Option<u16>, Option<String>) {
        let url = sub["url"].as_str().unwrap_or_default();
        let body = d["event"].to_string();
        let ts = now_ms() / 1000;
        let secret = sub["secret"].as_str().unwrap_or_default();
        let sent = self
            .webhooks
            .client()
            .post(url)
            .header("content-type", "application/json")
            .header(
                "x-troupe-signature",
                format!("sha256={}", signature(secret, ts, &body)),
            )
            .header("x-troupe-timestamp", ts.to_string())
            .header(
                "x-troupe-event",
                d["event_type"].as_str().unwrap_or_default(),
            )
            .header("x-troupe-delivery", key)
            .header("x-troupe-webhook", sub["id"].as_str().unwrap_or_default())
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => (Some(r.status().as_u16()), None),
            Ok(r) => (
                Some(r.status().as_u16()),
                Some(format!("the receiver answered {}", r.status())),
            ),
            Err(e) => (None, Some(error_chain(&e))),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// The body of `POST /api/v1/webhooks`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewWebhook {
    url: String,
    #[serde(default)]
    event_types: Vec<String>,
    /// The HMAC secret (generated when not given; shown once, in the answer).
    #[serde(default)]
    secret: Option<String>,
}

/// The message types a subscription may name.
const EVENT_TYPES: &[&str] = &[
    "*",
    "workflow.status_changed",
    "agent.assigned",
    "task.started",
    "task.completed",
    "error.occurred",
    "checkpoint.created",
    "signal.received",
    "timer.set",
    "timer.fired",
    "compensation.started",
    "compensation.finished",
];

fn shown(sub: &Value) -> Value {
    let mut v = sub.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("secret");
    }
    v
}

/// `POST /api/v1/webhooks`.
pub(crate) async fn create(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    JsonBody(req): JsonBody<NewWebhook>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Scope::Operate)?;
    let url = reqwest::Url::parse(&req.url)
        .map_err(|e| ApiError::BadRequest(format!("url {:?}: {e}", req.url)))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ApiError::BadRequest(format!(
            "url {:?}: the scheme must be http or https",
            req.url
        )));
    }
    if let Some(bad) = req
        .event_types
        .iter()
        .find(|t| !EVENT_TYPES.contains(&t.as_str()))
    {
        return Err(ApiError::BadRequest(format!(
            "event_types: unknown type {bad:?} (known: {})",
            EVENT_TYPES.join(", ")
        )));
    }
    let secret = match req.secret {
        Some(s) if s.is_empty() => {
            return Err(ApiError::BadRequest("secret: must not be empty".into()))
        }
        Some(s) => s,
        None => crate::auth::random_secret()
            .map(|b| b.iter().map(|x| format!("{x:02x}")).collect())
            .map_err(ApiError::Internal)?,
    };
    let id = crate::workflows::uuid_v4();
    let sub = json!({
        "id": id, "url": req.url, "event_types": req.event_types, "secret": secret,
        "tenant": caller.tenant, "created_by": caller.who, "created_at": Timestamp::now().to_string(),
        "active": true,
    });
    svc.store()
        .put_keyed(KeyedRecord::new(
            SUBSCRIPTION,
            id.clone(),
            sub.clone(),
            Timestamp::now(),
        ))
        .await?;
    let mut body = shown(&sub);
    body["secret"] = json!(secret);
    body["webhook_id"] = json!(id);
    body["signature_header"] =
        json!("X-Troupe-Signature: sha256=HMAC-SHA256(secret, \"{X-Troupe-Timestamp}.{body}\")");
    Ok((StatusCode::CREATED, Json(body)))
}

async fn subscription(svc: &Service, caller: &crate::Caller, id: &str) -> Result<Value, ApiError> {
    match svc
        .store()
        .get_keyed(SUBSCRIPTION.into(), id.to_string())
        .await?
    {
        Some(r) if caller.sees(r.value["tenant"].as_str()) => Ok(r.value),
        _ => Err(ApiError::NotFound(format!("no webhook {id:?}"))),
    }
}

async fn deliveries(store: &Arc<dyn Store>, id: &str) -> Result<Vec<KeyedRecord>, ApiError> {
    let filter = KeyedFilter {
        prefix: Some(format!("{id}~")),
        ..KeyedFilter::kind(DELIVERY)
    };
    Ok(store.list_keyed(filter).await?)
}

/// Counts of a subscription's deliveries by status, and its last attempt.
fn delivery_status(ds: &[KeyedRecord]) -> Value {
    let count = |s: &str| ds.iter().filter(|d| d.value["status"] == s).count();
    let last = ds
        .iter()
        .filter(|d| d.value["last_attempt_at"].is_u64())
        .max_by_key(|d| d.value["last_attempt_at"].as_u64());
    json!({
        "pending": count("pending"), "delivered": count("delivered"), "dead": count("dead"),
        "last_attempt_at": last.map(|d| d.value["last_attempt_at"].clone()),
        "last_status_code": last.map(|d| d.value["last_status_code"].clone()),
        "last_error": last.map(|d| d.value["last_error"].clone()),
    })
}

/// `GET /api/v1/webhooks`: the caller's subscriptions with their delivery status.
pub(crate) async fn list(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Read)?;
    let subs = svc
        .store()
        .list_keyed(KeyedFilter::kind(SUBSCRIPTION))
        .await?;
    let mut out = Vec::new();
    for s in subs
        .iter()
        .filter(|s| caller.sees(s.value["tenant"].as_str()))
    {
        let mut v = shown(&s.value);
        v["delivery_status"] = delivery_status(&deliveries(svc.store(), &s.key).await?);
        out.push(v);
    }
    Ok(Json(json!({ "webhooks": out })))
}

/// `GET /api/v1/webhooks/{id}`.
pub(crate) async fn get(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Read)?;
    let mut v = shown(&subscription(&svc, &caller, &id).await?);
    v["delivery_status"] = delivery_status(&deliveries(svc.store(), &id).await?);
    Ok(Json(v))
}

/// `DELETE /api/v1/webhooks/{id}` (its deliveries stay listed; pending ones go dead).
pub(crate) async fn remove(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Operate)?;
    subscription(&svc, &caller, &id).await?;
    svc.store()
        .delete_keyed(SUBSCRIPTION.into(), id.clone())
        .await?;
    Ok(Json(json!({"webhook_id": id, "deleted": true})))
}

/// The query of `GET /api/v1/webhooks/{id}/deliveries`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeliveryQuery {
    status: Option<String>,
    access_token: Option<String>,
}

/// `GET /api/v1/webhooks/{id}/deliveries?status=pending|delivered|dead`.
pub(crate) async fn list_deliveries(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    query: Result<Query<DeliveryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Read)?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest(format!("query: {}", e.body_text())))?;
    let _ = q.access_token;
    if let Some(s) = q.status.as_deref() {
        if !matches!(s, "pending" | "delivered" | "dead") {
            return Err(ApiError::BadRequest(format!(
                "query `status`: unknown status {s:?} (known: pending, delivered, dead)"
            )));
        }
    }
    subscription(&svc, &caller, &id).await?;
    let items: Vec<Value> = deliveries(svc.store(), &id)
        .await?
        .into_iter()
        .map(|d| d.value)
        .filter(|v| q.status.as_deref().is_none_or(|s| v["status"] == s))
        .collect();
    Ok(Json(json!({"webhook_id": id, "deliveries": items})))
}

/// `POST /api/v1/webhooks/{id}/deliveries/{delivery}/replay`: a dead delivery is attempted
/// again at once, on the schedule from its start.
pub(crate) async fn replay(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Scope::Operate)?;
    subscription(&svc, &caller, &id).await?;
    let found = svc
        .store()
        .get_keyed(DELIVERY.into(), delivery.clone())
        .await?;
    let Some(mut d) = found.filter(|d| d.value["webhook_id"] == id.as_str()) else {
        return Err(ApiError::NotFound(format!(
            "no delivery {delivery:?} of webhook {id}"
        )));
    };
    if d.value["status"] != "dead" {
        return Err(ApiError::Conflict(format!(
            "delivery {delivery} is {}: only a dead one is replayed",
            d.value["status"]
        )));
    }
    d.value["status"] = json!("pending");
    d.value["attempts"] = json!(0);
    d.value["next_attempt_at"] = json!(now_ms());
    d.value["replayed_by"] = json!(caller.who);
    svc.store().put_keyed(d).await?;
    svc.spawn_delivery(delivery.clone(), Duration::ZERO);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"delivery_id": delivery, "status": "pending"})),
    ))
}
