//! The route table: the one list both the router ([`crate::Service::router`]) and the
//! OpenAPI 3.1 document (`GET /api/v1/openapi.json`) are built from, so that the document
//! names exactly the routes that are served.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::auth::Scope;
use crate::error::ApiError;
use crate::state::{Authed, Service};
use crate::{cluster, dlq, events, executions, schedules, webhooks, workflows};

/// One served route.
pub struct Route {
    /// The HTTP method, upper case.
    pub method: &'static str,
    /// The path, with `{param}` placeholders (axum's syntax, also OpenAPI's).
    pub path: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// The scope it needs (`None`: no token needed).
    pub scope: Option<Scope>,
    /// Its success status and the error statuses it may answer with.
    pub statuses: &'static [u16],
    pub(crate) handler: MethodRouter<Arc<Service>>,
}

/// Every route of the service, grouped by path (one [`MethodRouter`] per path).
pub(crate) fn grouped() -> BTreeMap<&'static str, MethodRouter<Arc<Service>>> {
    let mut by_path: BTreeMap<&'static str, MethodRouter<Arc<Service>>> = BTreeMap::new();
    for r in routes() {
        let merged = match by_path.remove(r.path) {
            Some(m) => m.merge(r.handler),
            None => r.handler,
        };
        by_path.insert(r.path, merged);
    }
    by_path
}

/// Every route of the service.
pub fn routes() -> Vec<Route> {
    use Scope::*;
    let r = |method, path, summary, scope, statuses, handler| Route {
        method,
        path,
        summary,
        scope,
        statuses,
        handler,
    };
    vec![
        r(
            "GET",
            "/health",
            "Liveness: the process serves requests",
            None,
            &[200],
            get(health),
        ),
        r(
            "GET",
            "/ready",
            "Readiness: the store answers",
            None,
            &[200, 503],
            get(ready),
        ),
        r(
            "GET",
            "/api/v1/openapi.json",
            "This document",
            None,
            &[200],
            get(document),
        ),
        r(
            "POST",
            "/api/v1/workflows",
            "Submit a workflow definition (YAML or JSON) for validation",
            Some(Submit),
            &[201, 400, 401, 403, 422, 507],
            post(workflows::submit),
        ),
        r(
            "POST",
            "/api/v1/workflows/{id}/execute",
            "Execute a submitted workflow (a durable run)",
            Some(Submit),
            &[202, 400, 401, 403, 404, 409, 429, 503, 507],
            post(workflows::execute),
        ),
        r(
            "GET",
            "/api/v1/workflows/{id}/status",
            "Status of a workflow's latest execution",
            Some(Read),
            &[200, 401, 403, 404],
            get(workflows::status),
        ),
        r(
            "POST",
            "/api/v1/workflows/{id}/pause",
            "Pause a workflow's latest execution",
            Some(Operate),
            &[200, 401, 403, 404, 409],
            post(workflows::pause),
        ),
        r(
            "GET",
            "/api/v1/executions",
            "List executions (filter: status, workflow; page: after, limit)",
            Some(Read),
            &[200, 400, 401, 403],
            get(executions::list),
        ),
        r(
            "GET",
            "/api/v1/executions/{id}",
            "An execution's status, every task's state, attempts and durations",
            Some(Read),
            &[200, 401, 403, 404],
            get(executions::get),
        ),
        r(
            "POST",
            "/api/v1/executions/{id}/pause",
            "Pause an execution (running attempts finish, no new one starts)",
            Some(Operate),
            &[200, 401, 403, 404, 409],
            post(executions::pause),
        ),
        r(
            "POST",
            "/api/v1/executions/{id}/resume",
            "Resume a paused execution",
            Some(Operate),
            &[200, 401, 403, 404, 409],
            post(executions::resume),
        ),
        r(
            "POST",
            "/api/v1/executions/{id}/cancel",
            "Cancel an execution",
            Some(Operate),
            &[200, 401, 403, 404, 409],
            post(executions::cancel),
        ),
        r(
            "POST",
            "/api/v1/executions/{id}/signals/{name}",
            "Send a signal (`{\"value\": …}`) to an execution",
            Some(Operate),
            &[200, 400, 401, 403, 404, 409],
            post(executions::signal),
        ),
        r(
            "GET",
            "/api/v1/executions/{id}/events",
            "Server-sent events from the execution's journal (resumes after Last-Event-ID)",
            Some(Read),
            &[200, 400, 401, 403, 404],
            get(events::sse),
        ),
        r(
            "GET",
            "/ws/workflows/{id}",
            "WebSocket of a workflow's execution messages",
            Some(Read),
            &[101, 401, 403, 404],
            get(events::ws),
        ),
        r(
            "GET",
            "/api/v1/dead-letters",
            "List dead letters (filter: execution; page: after, limit)",
            Some(Read),
            &[200, 400, 401, 403],
            get(dlq::list),
        ),
        r(
            "POST",
            "/api/v1/dead-letters/{id}/replay",
            "Run a dead letter again (dropped if it succeeds)",
            Some(Operate),
            &[200, 401, 403, 404, 409, 501],
            post(dlq::replay),
        ),
        r(
            "DELETE",
            "/api/v1/dead-letters/{id}",
            "Drop a dead letter",
            Some(Operate),
            &[200, 401, 403, 404],
            delete(dlq::drop_letter),
        ),
        r(
            "GET",
            "/api/v1/cluster/members",
            "Cluster members: state (alive, suspect, down), resources, agents, counters",
            Some(Read),
            &[200, 401, 403, 501],
            get(cluster::members),
        ),
        r(
            "GET",
            "/api/v1/cluster/agents",
            "Where each agent of the cluster lives",
            Some(Read),
            &[200, 401, 403, 501],
            get(cluster::agents),
        ),
        r(
            "GET",
            "/api/v1/cluster/events",
            "Server-sent cluster events: member changes, migrations, steals, failovers",
            Some(Read),
            &[200, 400, 401, 403, 501],
            get(cluster::events),
        ),
        r(
            "POST",
            "/api/v1/agents/{id}/call",
            "Call an agent by id with JSON (`{\"request\": …}`)",
            Some(Operate),
            &[200, 400, 401, 403, 404, 409, 501],
            post(cluster::call),
        ),
        r(
            "POST",
            "/api/v1/agents/{id}/migrate",
            "Move an agent to another node (`{\"to\": NODE}`)",
            Some(Operate),
            &[200, 400, 401, 403, 404, 409, 501],
            post(cluster::migrate),
        ),
        r(
            "GET",
            "/api/v1/audit",
            "The audit log of mutating calls, from the store (page: after, limit; filter: who)",
            Some(Admin),
            &[200, 400, 401, 403],
            get(audit),
        ),
        r(
            "POST",
            "/api/v1/webhooks",
            "Subscribe a URL to execution messages (HMAC-SHA256 signed POSTs)",
            Some(Operate),
            &[201, 400, 401, 403],
            post(webhooks::create),
        ),
        r(
            "GET",
            "/api/v1/webhooks",
            "List webhook subscriptions with their delivery status",
            Some(Read),
            &[200, 401, 403],
            get(webhooks::list),
        ),
        r(
            "GET",
            "/api/v1/webhooks/{id}",
            "A webhook subscription and its delivery status",
            Some(Read),
            &[200, 401, 403, 404],
            get(webhooks::get),
        ),
        r(
            "DELETE",
            "/api/v1/webhooks/{id}",
            "Delete a webhook subscription",
            Some(Operate),
            &[200, 401, 403, 404],
            delete(webhooks::remove),
        ),
        r(
            "GET",
            "/api/v1/webhooks/{id}/deliveries",
            "A webhook's deliveries (filter: status = pending, delivered, dead)",
            Some(Read),
            &[200, 400, 401, 403, 404],
            get(webhooks::list_deliveries),
        ),
        r(
            "POST",
            "/api/v1/webhooks/{id}/deliveries/{delivery}/replay",
            "Attempt a dead-lettered delivery again",
            Some(Operate),
            &[202, 401, 403, 404, 409],
            post(webhooks::replay),
        ),
        r(
            "PUT",
            "/api/v1/workflows/{id}/schedule",
            "Set a workflow's schedule (`{cron, missed_ticks: skip|catch_up, input_data}`)",
            Some(Submit),
            &[200, 400, 401, 403, 404],
            put(schedules::put),
        ),
        r(
            "GET",
            "/api/v1/workflows/{id}/schedule",
            "A workflow's schedule, its next fire times and last ticks",
            Some(Read),
            &[200, 401, 403, 404],
            get(schedules::get),
        ),
        r(
            "DELETE",
            "/api/v1/workflows/{id}/schedule",
            "Remove a workflow's schedule",
            Some(Submit),
            &[200, 401, 403, 404],
            delete(schedules::remove),
        ),
        r(
            "GET",
            "/api/v1/schedules",
            "Every schedule with its next fire times",
            Some(Read),
            &[200, 401, 403],
            get(schedules::list),
        ),
    ]
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn ready(
    State(svc): State<Arc<Service>>,
) -> Result<Json<Value>, (axum::http::StatusCode, Json<Value>)> {
    match svc.store().schema_version().await {
        Ok(v) => Ok(Json(
            json!({"status": "ready", "store": svc.store().location(), "schema_version": v}),
        )),
        Err(e) => {
            let e = ApiError::Internal(format!("the store does not answer: {e}"));
            Err((axum::http::StatusCode::SERVICE_UNAVAILABLE, Json(e.body())))
        }
    }
}

/// The query of `GET /api/v1/audit`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    /// The `next` of the previous page.
    after: Option<String>,
    limit: Option<usize>,
    /// Only the calls of this token subject.
    who: Option<String>,
    access_token: Option<String>,
}

async fn audit(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    query: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Admin)?;
    let axum::extract::Query(q) =
        query.map_err(|e| ApiError::BadRequest(format!("query: {}", e.body_text())))?;
    let _ = q.access_token;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let filter = troupe_runtime::store::KeyedFilter {
        after: q.after,
        limit,
        ..troupe_runtime::store::KeyedFilter::kind(crate::audit::AUDIT)
    };
    let page = svc.store().list_keyed(filter).await?;
    let next = (page.len() == limit).then(|| page.last().map(|r| r.key.clone()));
    let records: Vec<Value> = page
        .into_iter()
        .map(|r| r.value)
        .filter(|r| caller.sees(r["tenant"].as_str()) || caller.tenant.is_none())
        .filter(|r| q.who.as_deref().is_none_or(|w| r["who"] == w))
        .collect();
    Ok(Json(json!({
        "file": svc.audit.path().map(|p| p.display().to_string()),
        "records": records,
        "next": next.flatten(),
    })))
}

async fn document() -> Json<Value> {
    Json(openapi())
}

fn reason(status: u16) -> &'static str {
    axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("response")
}

/// The OpenAPI 3.1 document of [`routes`].
pub fn openapi() -> Value {
    let mut paths = Map::new();
    for r in routes() {
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut responses = Map::new();
        for s in r.statuses {
            let mut resp = json!({"description": reason(*s)});
            if *s >= 400 {
                resp["content"] =
                    json!({"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}});
            }
            responses.insert(s.to_string(), resp);
        }
        let mut op = json!({
            "summary": r.summary,
            "operationId": format!("{} {}", r.method.to_lowercase(), r.path),
            "parameters": params,
            "responses": responses,
        });
        match r.scope {
            Some(scope) => {
                op["security"] = json!([{ "bearer": [scope.as_str()] }]);
            }
            None => op["security"] = json!([]),
        }
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method.to_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Troupe API", "version": "v1"},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {"Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {
                    "type": "object",
                    "required": ["code", "message", "details"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "details": {"type": "object"}
                    }
                }}
            }}
        },
        "security": [{"bearer": []}],
    })
}
