//! Event streams out of the journal: SSE per execution (`GET /api/v1/executions/{id}/events`,
//! event id = journal sequence number, resumed after `Last-Event-ID`) and a WebSocket per
//! workflow (`GET /ws/workflows/{id}`, every execution of it; with the contract's
//! `agent.assigned` and `checkpoint.created` too, see [`ws_messages`]).
//!
//! Both read the run's journal in the store — not the in-process bus — so a client that
//! reconnects, also to another process sharing the store, gets exactly the entries after the
//! last one it saw. The runtime's event bus only wakes the reader early; a run driven by
//! another process is read every [`POLL`].

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream, StreamExt};
use serde_json::{json, Value};
use troupe_runtime::store::JournalEntry;
use troupe_runtime::workflow::journal::{ErrorChain, FinalStatus, JournalEvent};
use troupe_runtime::workflow::PoolSpec;
use troupe_runtime::{EventStream, RunId};

use crate::auth::Scope;
use crate::error::ApiError;
use crate::state::{lock, Authed, Service};

/// How often a run's journal is read when no event of this runtime woke the reader.
const POLL: Duration = Duration::from_millis(250);

/// One journal entry as a contract message: `{type, workflow_id, execution_id, timestamp,
/// data, seq}`; `type` is one of `workflow.status_changed`, `task.started`, `task.completed`,
/// `error.occurred`, `signal.received`, `timer.set`, `timer.fired`, `compensation.started`,
/// `compensation.finished`.
pub(crate) fn message(workflow: &str, run: &RunId, entry: &JournalEntry) -> Option<Value> {
    let event = JournalEvent::decode(run, entry).ok()?;
    let status = |s: &str| ("workflow.status_changed", json!({ "status": s }));
    let (kind, data) = match &event {
        JournalEvent::Submitted { workflow, .. } => (
            "workflow.status_changed",
            json!({"status": "planning", "workflow": workflow}),
        ),
        JournalEvent::AttemptStarted {
            task,
            attempt,
            item,
            ..
        } => (
            "task.started",
            json!({"task": task, "attempt": attempt, "item": item}),
        ),
        JournalEvent::TaskCompleted {
            task,
            attempt,
            output,
        } => (
            "task.completed",
            json!({"task": task, "attempt": attempt, "output": output}),
        ),
        JournalEvent::TaskFailed {
            task,
            attempt,
            error,
            retry_at,
        } => (
            "error.occurred",
            json!({"task": task, "attempt": attempt, "error": chain(error), "retry_at": retry_at.map(|t| t.to_string())}),
        ),
        JournalEvent::SignalReceived { name, value } => {
            ("signal.received", json!({"name": name, "value": value}))
        }
        JournalEvent::TimerSet { timer, fires_at } => (
            "timer.set",
            json!({"timer": timer, "fires_at": fires_at.to_string()}),
        ),
        JournalEvent::TimerFired { timer } => ("timer.fired", json!({ "timer": timer })),
        JournalEvent::Paused { .. } => status("paused"),
        JournalEvent::Resumed { .. } => status("running"),
        JournalEvent::Cancelled { .. } => status("cancelling"),
        JournalEvent::CompensationStarted { task, attempt } => (
            "compensation.started",
            json!({"task": task, "attempt": attempt}),
        ),
        JournalEvent::CompensationFinished { task, error, .. } => (
            "compensation.finished",
            json!({"task": task, "error": error.as_ref().map(chain)}),
        ),
        JournalEvent::RunFinished { status: s, error } => {
            let s = match s {
                FinalStatus::Completed => "completed",
                FinalStatus::Failed => "failed",
                FinalStatus::Cancelled => "cancelled",
            };
            (
                "workflow.status_changed",
                json!({"status": s, "final": true, "error": error.as_ref().map(chain)}),
            )
        }
        _ => ("journal.entry", json!({ "kind": entry.kind })),
    };
    Some(json!({
        "type": kind,
        "workflow_id": workflow,
        "execution_id": run.to_string(),
        "timestamp": entry.at.to_string(),
        "seq": entry.seq,
        "data": data,
    }))
}

/// The WebSocket's messages for one journal entry: its [`message`], then the contract's
/// `agent.assigned` (one per pool of the run, after its submission: `{pool, kind, count,
/// agents}`, the agents named as their lifecycle events name them) and `checkpoint.created`
/// (after a pause: `{checkpoint_id, resume_url}`, the id the pause call returned).
pub(crate) fn ws_messages(
    workflow: &str,
    run: &RunId,
    entry: &JournalEntry,
    pools: &BTreeMap<String, PoolSpec>,
) -> Vec<Value> {
    let Some(first) = message(workflow, run, entry) else {
        return Vec::new();
    };
    let extra = |kind: &str, data: Value| {
        let mut m = first.clone();
        m["type"] = json!(kind);
        m["data"] = data;
        m
    };
    let mut out = Vec::new();
    match entry.kind.as_str() {
        "submitted" => {
            for (pool, spec) in pools {
                let agents: Vec<String> = (0..spec.count)
                    .map(|i| format!("{run}/{pool}/{i}"))
                    .collect();
                out.push(extra(
                    "agent.assigned",
                    json!({"pool": pool, "kind": spec.kind, "count": spec.count, "agents": agents}),
                ));
            }
        }
        "paused" => out.push(extra(
            "checkpoint.created",
            json!({
                "checkpoint_id": format!("{run}@{}", entry.seq),
                "resume_url": format!("/api/v1/executions/{run}/resume"),
            }),
        )),
        _ => {}
    }
    out.insert(0, first);
    out
}

/// A journaled error as one line: its messages, outermost first.
pub(crate) fn chain(e: &ErrorChain) -> String {
    e.messages.join(": ")
}

/// Reads a run's journal after `last`, waiting for more until the run has finished.
pub(crate) struct Tail {
    svc: Arc<Service>,
    run: RunId,
    last: u64,
    finished: bool,
    bus: EventStream,
}

impl Tail {
    pub(crate) fn new(svc: Arc<Service>, run: RunId, last: u64) -> Self {
        let bus = svc.runtime.subscribe();
        Self {
            svc,
            run,
            last,
            finished: false,
            bus,
        }
    }

    /// The next entries (waiting for at least one); `None` once the run's last entry was read.
    pub(crate) async fn next(&mut self) -> Option<Result<Vec<JournalEntry>, ApiError>> {
        loop {
            if self.finished {
                return None;
            }
            let read = match self
                .svc
                .store()
                .read_journal(self.run.clone(), self.last + 1)
                .await
            {
                Ok(r) => r,
                Err(e) => return Some(Err(e.into())),
            };
            let fresh: Vec<JournalEntry> = read
                .entries
                .into_iter()
                .filter(|e| e.seq > self.last)
                .collect();
            if let Some(last) = fresh.last() {
                self.last = last.seq;
                self.finished = fresh.iter().any(|e| e.kind == "run_finished");
                return Some(Ok(fresh));
            }
            // Finished without a run_finished entry (e.g. cancelled while nobody drove it).
            if let Ok(Some(r)) = self.svc.store().get_run(self.run.clone()).await {
                if r.status.is_finished() && r.last_seq <= self.last {
                    return None;
                }
            }
            self.wait().await;
        }
    }

    /// Until an event of this run on this runtime, or [`POLL`].
    async fn wait(&mut self) {
        let deadline = tokio::time::sleep(POLL);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                e = self.bus.recv() => match e {
                    Ok(e) if e.workflow.as_ref() != Some(&self.run) => continue,
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        deadline.as_mut().await;
                        return;
                    }
                },
            }
        }
    }
}

/// `GET /api/v1/executions/{id}/events`: `text/event-stream`, one event per journal entry
/// (`id:` its sequence number, `event:` its message type, `data:` the message), starting after
/// `Last-Event-ID` (header, or `?last_event_id=`) and ending after the run's last entry.
pub(crate) async fn sse(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    caller.require(Scope::Read)?;
    let run = svc.run(&caller, &id).await?;
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
            ApiError::BadRequest(format!(
                "Last-Event-ID {v:?} is not a journal sequence number"
            ))
        })?,
    };
    let workflow = svc.workflow_of(&run);
    let tail = Tail::new(svc, run.id, last);
    let events = stream::unfold(tail, move |mut tail| {
        let workflow = workflow.clone();
        async move {
            let batch = tail.next().await?;
            let events: Vec<Result<Event, Infallible>> = match batch {
                Ok(entries) => entries
                    .iter()
                    .filter_map(|e| {
                        let m = message(&workflow, &tail.run, e)?;
                        let kind = m["type"].as_str().unwrap_or("journal.entry").to_string();
                        Some(Ok(Event::default()
                            .id(e.seq.to_string())
                            .event(kind)
                            .data(m.to_string())))
                    })
                    .collect(),
                Err(e) => {
                    tail.finished = true;
                    vec![Ok(Event::default()
                        .event("error.occurred")
                        .data(e.body().to_string()))]
                }
            };
            Some((stream::iter(events), tail))
        }
    })
    .flatten();
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// `GET /ws/workflows/{id}`: a WebSocket of the contract's messages for every execution of a
/// submitted workflow, those started before the connection (from their first entry) and after.
pub(crate) async fn ws(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Read)?;
    let upgrade =
        upgrade.map_err(|e| ApiError::BadRequest(format!("not a WebSocket upgrade: {e}")))?;
    let workflow = svc.find_workflow(&caller, &id).await?;
    Ok(upgrade
        .on_upgrade(move |socket| stream_workflow(svc, id, workflow, socket))
        .into_response())
}

async fn stream_workflow(
    svc: Arc<Service>,
    id: String,
    workflow: Arc<std::sync::Mutex<crate::state::Submitted>>,
    mut socket: WebSocket,
) {
    let mut cursors: HashMap<RunId, u64> = HashMap::new();
    let mut bus = svc.runtime.subscribe();
    loop {
        let runs = lock(&workflow).executions.clone();
        for run in runs {
            let last = *cursors.entry(run.clone()).or_insert(0);
            let Ok(read) = svc.store().read_journal(run.clone(), last + 1).await else {
                continue;
            };
            for entry in read.entries.iter().filter(|e| e.seq > last) {
                cursors.insert(run.clone(), entry.seq);
                let pools = lock(&workflow).plan.pools.clone();
                for m in ws_messages(&id, &run, entry, &pools) {
                    if socket
                        .send(Message::Text(m.to_string().into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = bus.recv() => {}
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
