//! The cluster endpoints, served when the service runs on a cluster node (`troupe node …
//! --api ADDR`): members with their state and declared resources, where each agent lives,
//! calling an agent by id with JSON, migrating one, and an SSE stream of cluster events
//! (member changes, migrations, steals, failovers).
//!
//! The service crate does not know the cluster: the node installs a [`ClusterApi`] with
//! [`Service::set_cluster`]. Without one (`troupe serve`) these routes answer 501.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::auth::Scope;
use crate::error::{ApiError, JsonBody};
use crate::state::{lock, Authed, Service};

/// A boxed future, as a [`ClusterApi`] returns them.
pub type ClusterFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Why a cluster operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClusterOpError {
    /// No such agent or node (404).
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be carried out as asked (400).
    #[error("{0}")]
    BadRequest(String),
    /// The agent or its node did not answer, or refused (409).
    #[error("{0}")]
    Failed(String),
}

impl From<ClusterOpError> for ApiError {
    fn from(e: ClusterOpError) -> Self {
        match e {
            ClusterOpError::NotFound(m) => ApiError::NotFound(m),
            ClusterOpError::BadRequest(m) => ApiError::BadRequest(m),
            ClusterOpError::Failed(m) => ApiError::Conflict(m),
        }
    }
}

/// What the cluster endpoints need of the node they run on.
pub trait ClusterApi: Send + Sync + 'static {
    /// Every member this node knows of, itself included: `{name, state (alive, suspect,
    /// down), transport, gossip, incarnation, resources: {capacity, kinds, task_slots},
    /// agents, tasks_queued, tasks_executed, tasks_stolen, migrations, failovers}` (the
    /// counters as far as this node knows them).
    fn members(&self) -> Vec<Value>;
    /// Every agent of the registry: `{id, node, state, version}`.
    fn agents(&self) -> Vec<Value>;
    /// Calls agent `id` wherever it lives with `request`; its answer. With `kind`, an agent
    /// not active anywhere is first activated as that kind where placement puts it (a
    /// virtual agent).
    fn call(
        &self,
        id: String,
        kind: Option<String>,
        request: Value,
    ) -> ClusterFuture<Result<Value, ClusterOpError>>;
    /// Moves agent `id` to node `to`; answers once it runs there.
    fn migrate(&self, id: String, to: String) -> ClusterFuture<Result<Value, ClusterOpError>>;
    /// The cluster's event log ([`ClusterEvents`]).
    fn events(&self) -> &ClusterEvents;
}

/// How many cluster events are kept for clients that connect (or reconnect) later.
const KEPT: usize = 1000;

/// The cluster's events as the node saw them, numbered from 1: the last 1,000 kept for
/// replay after `Last-Event-ID`, new ones broadcast to the streams that follow.
pub struct ClusterEvents {
    log: Mutex<(u64, VecDeque<Value>)>,
    tx: broadcast::Sender<Value>,
}

impl Default for ClusterEvents {
    fn default() -> Self {
        Self {
            log: Mutex::new((0, VecDeque::new())),
            tx: broadcast::channel(256).0,
        }
    }
}

impl ClusterEvents {
    /// Records an event of `kind` (`member.up`, `member.suspect`, `member.down`,
    /// `agent.placed`, `agent.migrated`, `agent.failed_over`, `tasks.stolen`, ...) with `data`;
    /// returns its number.
    pub fn push(&self, kind: &str, data: Value) -> u64 {
        let mut log = lock(&self.log);
        log.0 += 1;
        let seq = log.0;
        let event = json!({
            "seq": seq,
            "type": kind,
            "timestamp": troupe_runtime::store::Timestamp::now().to_string(),
            "data": data,
        });
        log.1.push_back(event.clone());
        if log.1.len() > KEPT {
            log.1.pop_front();
        }
        // Sent under the lock, so a subscriber taking the backlog sees each event once.
        let _ = self.tx.send(event);
        seq
    }

    /// The kept events after `last`, and a receiver of the ones after those.
    pub fn since(&self, last: u64) -> (Vec<Value>, broadcast::Receiver<Value>) {
        let log = lock(&self.log);
        let rx = self.tx.subscribe();
        let backlog = log
            .1
            .iter()
            .filter(|e| e["seq"].as_u64().unwrap_or(0) > last)
            .cloned()
            .collect();
        (backlog, rx)
    }
}

fn cluster(svc: &Service) -> Result<Arc<dyn ClusterApi>, ApiError> {
    svc.cluster.get().cloned().ok_or_else(|| {
        ApiError::NotImplemented(
            "this service is not a cluster node (start it with `troupe node ... --api ADDR`)"
                .into(),
        )
    })
}

impl Service {
    /// Serves the cluster endpoints with `api` (once; a second call is ignored and returns
    /// `false`).
    pub fn set_cluster(&self, api: Arc<dyn ClusterApi>) -> bool {
        self.cluster.set(api).is_ok()
    }
}

/// `GET /api/v1/cluster/members`.
pub(crate) async fn members(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Read)?;
    let c = cluster(&svc)?;
    Ok(Json(json!({"members": c.members()})))
}

/// `GET /api/v1/cluster/agents`.
pub(crate) async fn agents(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Read)?;
    let c = cluster(&svc)?;
    Ok(Json(json!({"agents": c.agents()})))
}

/// The body of `POST /api/v1/agents/{id}/call`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallBody {
    #[serde(default)]
    request: Value,
    /// Activate the agent as this kind if it is not active anywhere.
    #[serde(default)]
    kind: Option<String>,
}

/// `POST /api/v1/agents/{id}/call` with `{"request": …, "kind": KIND (optional)}`.
pub(crate) async fn call(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CallBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Operate)?;
    let c = cluster(&svc)?;
    let response = c.call(id.clone(), body.kind, body.request).await?;
    Ok(Json(json!({"agent": id, "response": response})))
}

/// The body of `POST /api/v1/agents/{id}/migrate`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MigrateBody {
    to: String,
}

/// `POST /api/v1/agents/{id}/migrate` with `{"to": NODE}`.
pub(crate) async fn migrate(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Operate)?;
    let c = cluster(&svc)?;
    let body: MigrateBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body must be {{\"to\": NODE}} (the node to move agent {id:?} to): {e}"
        ))
    })?;
    Ok(Json(c.migrate(id, body.to).await?))
}

/// `GET /api/v1/cluster/events`: `text/event-stream` of cluster events (`id:` the event's
/// number, `event:` its type), after `Last-Event-ID` (header or `?last_event_id=`), for as
/// long as the client stays.
pub(crate) async fn events(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    caller.require(Scope::Read)?;
    let c = cluster(&svc)?;
    let from_query = uri.query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("last_event_id="))
    });
    let last = match headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or(from_query)
    {
        None => 0,
        Some(v) => v.trim().parse::<u64>().map_err(|_| {
            ApiError::BadRequest(format!("Last-Event-ID {v:?} is not a cluster event number"))
        })?,
    };
    let (backlog, rx) = c.events().since(last);
    let sse = |e: Value| -> Result<Event, Infallible> {
        Ok(Event::default()
            .id(e["seq"].as_u64().unwrap_or(0).to_string())
            .event(e["type"].as_str().unwrap_or("cluster.event"))
            .data(e.to_string()))
    };
    let shown = backlog
        .last()
        .and_then(|e| e["seq"].as_u64())
        .unwrap_or(last);
    let live = stream::unfold((rx, shown), |(mut rx, shown)| async move {
        loop {
            match rx.recv().await {
                Ok(e) if e["seq"].as_u64().unwrap_or(0) <= shown => continue,
                Ok(e) => {
                    let seq = e["seq"].as_u64().unwrap_or(shown);
                    return Some((e, (rx, seq)));
                }
                // Too slow a client: it reconnects with its Last-Event-ID.
                Err(_) => return None,
            }
        }
    });
    let all = stream::iter(backlog).chain(live).map(sse);
    Ok(Sse::new(all).keep_alive(KeepAlive::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_are_numbered_replayed_after_last_and_then_followed() {
        let events = ClusterEvents::default();
        for i in 0..3 {
            events.push("member.up", json!({ "node": format!("n{i}") }));
        }
        let (backlog, mut rx) = events.since(1);
        let seqs: Vec<u64> = backlog.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, [2, 3]);
        assert_eq!(backlog[1]["data"]["node"], "n2");
        assert_eq!(events.push("member.down", json!({"node": "n1"})), 4);
        let next = rx.recv().await.unwrap();
        assert_eq!(
            (next["seq"].as_u64(), next["type"].as_str()),
            (Some(4), Some("member.down"))
        );
        assert!(next["timestamp"].as_str().unwrap().contains('T'));
    }

    #[test]
    fn only_the_last_events_are_kept() {
        let events = ClusterEvents::default();
        for _ in 0..KEPT + 5 {
            events.push("tasks.stolen", json!({}));
        }
        let (backlog, _) = events.since(0);
        assert_eq!(backlog.len(), KEPT);
        assert_eq!(backlog[0]["seq"], 6);
    }

    #[test]
    fn refusals_map_to_the_api_statuses() {
        let status = |e: ClusterOpError| ApiError::from(e).status().as_u16();
        assert_eq!(status(ClusterOpError::NotFound("x".into())), 404);
        assert_eq!(status(ClusterOpError::BadRequest("x".into())), 400);
        assert_eq!(status(ClusterOpError::Failed("x".into())), 409);
    }
}
