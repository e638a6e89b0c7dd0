//! `/api/v1/executions`: the durable runs, their status (every task's state, attempts and
//! durations, read from the journal), pause, resume, cancel and signals.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use troupe_runtime::store::{RequestKind, RunFilter, RunRecord, RunStatus, Timestamp};
use troupe_runtime::workflow::durable::{cancel_undriven, post_request, DurableError};
use troupe_runtime::workflow::journal::JournalEvent;
use troupe_runtime::RunId;

use crate::auth::{Caller, Scope};
use crate::error::{ApiError, JsonBody};
use crate::state::{Authed, Service};

/// A run's status as shown: a `running` run nobody drives any more is `interrupted`.
pub(crate) async fn shown_status(svc: &Service, run: &RunRecord) -> RunStatus {
    if run.status == RunStatus::Running && !svc.is_driven(&run.id).await {
        RunStatus::Interrupted
    } else {
        run.status
    }
}

/// Every task's state, attempts and times, from the journal.
#[derive(Default)]
struct TaskState {
    state: &'static str,
    attempts: u32,
    started_at: Option<Timestamp>,
    finished_at: Option<Timestamp>,
    error: Option<String>,
}

/// The status body of one execution.
pub(crate) async fn status_of(svc: &Service, run: &RunRecord) -> Result<Value, ApiError> {
    let read = svc.store().read_journal(run.id.clone(), 0).await?;
    let mut tasks: BTreeMap<String, TaskState> = BTreeMap::new();
    let mut paused = false;
    let mut signals = Vec::new();
    let mut error: Option<Value> = None;
    for entry in &read.entries {
        let Ok(event) = JournalEvent::decode(&run.id, entry) else {
            continue;
        };
        match event {
            JournalEvent::AttemptStarted { task, attempt, .. } => {
                let t = tasks.entry(task.to_string()).or_default();
                t.state = "running";
                t.attempts = t.attempts.max(attempt);
                t.started_at.get_or_insert(entry.at);
            }
            JournalEvent::TaskCompleted { task, attempt, .. } => {
                let t = tasks.entry(task.to_string()).or_default();
                t.state = "completed";
                t.attempts = t.attempts.max(attempt);
                t.started_at.get_or_insert(entry.at);
                t.finished_at = Some(entry.at);
            }
            JournalEvent::TaskFailed {
                task,
                attempt,
                error: e,
                retry_at,
            } => {
                let t = tasks.entry(task.to_string()).or_default();
                t.attempts = t.attempts.max(attempt);
                t.error = Some(crate::events::chain(&e));
                if retry_at.is_some() {
                    t.state = "retrying";
                } else {
                    t.state = "failed";
                    t.finished_at = Some(entry.at);
                }
            }
            JournalEvent::SignalReceived { name, .. } => signals.push(name),
            JournalEvent::Paused { .. } => paused = true,
            JournalEvent::Resumed { .. } => paused = false,
            JournalEvent::RunFinished { error: Some(e), .. } => {
                error = Some(json!({"message": crate::events::chain(&e), "class": e.class}));
            }
            _ => {}
        }
    }
    // Attempts running now whose start the journal has not written yet.
    for (task, (attempt, at)) in svc.running(&run.id) {
        let t = tasks.entry(task).or_default();
        if t.state.is_empty() || (t.state == "retrying" && t.attempts < attempt) {
            t.state = "running";
            t.attempts = t.attempts.max(attempt);
            t.started_at.get_or_insert(at);
        }
    }
    let status = shown_status(svc, run).await;
    let phase = match status {
        RunStatus::Running if paused => "paused",
        RunStatus::Running | RunStatus::Pending if tasks.is_empty() => "planning",
        RunStatus::Running | RunStatus::Pending => "executing",
        other => other.as_str(),
    };
    let mut shapes = task_shapes(run);
    let task_list: Vec<Value> = run_tasks(run)
        .into_iter()
        .map(|id| {
            let shape = shapes.remove(&id).unwrap_or_else(|| json!({}));
            let t = tasks.remove(&id).unwrap_or_default();
            let duration = match (t.started_at, t.finished_at) {
                (Some(s), Some(f)) => Some(f.as_millis().saturating_sub(s.as_millis())),
                _ => None,
            };
            json!({
                "id": id,
                "state": if t.state.is_empty() { "pending" } else { t.state },
                "attempts": t.attempts,
                "started_at": t.started_at.map(|x| x.to_string()),
                "finished_at": t.finished_at.map(|x| x.to_string()),
                "duration_ms": duration,
                "error": t.error,
                "agent": shape["agent"],
                "depends_on": shape["depends_on"],
                "parallel": shape["parallel"],
                "wait": shape["wait"],
                "compensate": shape["compensate"],
                "input": shape["input"],
            })
        })
        .collect();
    let done = task_list
        .iter()
        .filter(|t| t["state"] == "completed")
        .count();
    let elapsed = run
        .finished_at
        .unwrap_or_else(Timestamp::now)
        .as_millis()
        .saturating_sub(run.created_at.as_millis());
    let mut body = json!({
        "execution_id": run.id.to_string(),
        "workflow": run.workflow,
        "status": status.as_str(),
        "current_phase": phase,
        "tenant": run.tenant,
        "created_at": run.created_at.to_string(),
        "updated_at": run.updated_at.to_string(),
        "finished_at": run.finished_at.map(|x| x.to_string()),
        "tasks": task_list,
        "agents": [],
        "signals_received": signals,
        "performance_metrics": {
            "elapsed_ms": elapsed,
            "tasks_total": run_tasks(run).len(),
            "tasks_completed": done,
            "journal_entries": run.last_seq,
        },
    });
    if let Some(e) = error {
        body["error_details"] = e;
    }
    if let Some(p) = pattern_of(run) {
        body["pattern"] = p;
    }
    Ok(body)
}

/// The task ids of a run's stored definition, in definition order.
fn run_tasks(run: &RunRecord) -> Vec<String> {
    troupe_runtime::workflow::parse_workflow(&run.definition, "stored definition")
        .map(|s| s.tasks.iter().map(|t| t.id.to_string()).collect())
        .unwrap_or_default()
}

/// The shape of each task of a run's stored definition (what the UI draws the DAG from): its
/// agent pool, dependencies, whether it fans out, what it waits for, whether it compensates.
fn task_shapes(run: &RunRecord) -> std::collections::HashMap<String, Value> {
    use troupe_runtime::workflow::spec::TaskWait;
    let Ok(spec) = troupe_runtime::workflow::parse_workflow(&run.definition, "stored definition")
    else {
        return Default::default();
    };
    spec.tasks
        .iter()
        .map(|t| {
            let wait = match &t.wait {
                Some(TaskWait::Signal(name)) => json!({"signal": name}),
                Some(TaskWait::Sleep(d)) => json!({"sleep_ms": d.as_millis() as u64}),
                None => Value::Null,
            };
            let shape = json!({
                "agent": t.agent,
                "depends_on": t.depends_on.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
                "parallel": t.parallel,
                "wait": wait,
                "compensate": t.compensate.is_some(),
                "input": t.input,
            });
            (t.id.to_string(), shape)
        })
        .collect()
}

/// The orchestration pattern of a run's stored definition, unless it is a plain DAG: its
/// `name`, `config` (the file's `pattern:` block) and `members` (the pools named by
/// `config.members`, else every pool but the pattern's own; each `{pool, kind, count}`), what
/// the UI draws the pattern's topology from.
fn pattern_of(run: &RunRecord) -> Option<Value> {
    use troupe_runtime::workflow::spec::PATTERN_POOL;
    let spec =
        troupe_runtime::workflow::parse_workflow(&run.definition, "stored definition").ok()?;
    let name = spec.pattern.clone().filter(|p| p != "dag")?;
    let named: Option<Vec<String>> = spec
        .pattern_config
        .as_ref()
        .and_then(|c| c["members"].as_array())
        .map(|m| {
            m.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        });
    let members: Vec<Value> = spec
        .agents
        .iter()
        .filter(|(pool, _)| pool.as_str() != PATTERN_POOL)
        .filter(|(pool, _)| named.as_ref().is_none_or(|n| n.contains(pool)))
        .map(|(pool, p)| json!({"pool": pool, "kind": p.kind, "count": p.count}))
        .collect();
    Some(json!({"name": name, "config": spec.pattern_config, "members": members}))
}

/// The query of `GET /api/v1/executions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    status: Option<String>,
    workflow: Option<String>,
    /// The `next` of the previous page.
    after: Option<u64>,
    limit: Option<usize>,
    access_token: Option<String>,
}

/// `GET /api/v1/executions?status=&workflow=&after=&limit=`.
pub(crate) async fn list(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Read)?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest(format!("query: {}", e.body_text())))?;
    let _ = q.access_token;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(RunStatus::parse(s).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "query `status`: unknown status {s:?} (known: pending, running, paused, \
                 interrupted, completed, failed, cancelled)"
            ))
        })?),
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let filter = RunFilter {
        status: status.filter(|s| !matches!(s, RunStatus::Running | RunStatus::Interrupted)),
        workflow: q.workflow.clone(),
        tenant: caller.tenant.clone(),
        after: q.after,
        limit,
    };
    let page = svc.store().list_runs(filter).await?;
    let mut items = Vec::new();
    for run in &page.runs {
        if !caller.sees(run.tenant.as_deref()) {
            continue;
        }
        let shown = shown_status(&svc, run).await;
        if status.is_some_and(|s| s != shown) {
            continue;
        }
        items.push(json!({
            "execution_id": run.id.to_string(),
            "workflow": run.workflow,
            "status": shown.as_str(),
            "tenant": run.tenant,
            "created_at": run.created_at.to_string(),
            "finished_at": run.finished_at.map(|x| x.to_string()),
            "url": format!("/api/v1/executions/{}", run.id),
        }));
    }
    Ok(Json(json!({"executions": items, "next": page.next})))
}

/// `GET /api/v1/executions/{id}`.
pub(crate) async fn get(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Read)?;
    let run = svc.run(&caller, &id).await?;
    Ok(Json(status_of(&svc, &run).await?))
}

fn refused(e: DurableError, verb: &str) -> ApiError {
    match e {
        DurableError::Finished { run, status } => ApiError::Conflict(format!(
            "execution {run} is already {status}: cannot {verb} it"
        )),
        DurableError::NotFound { run, .. } => ApiError::NotFound(format!("no execution {run}")),
        e @ DurableError::UnknownSignal { .. } => ApiError::Conflict(e.to_string()),
        other => ApiError::Internal(other.to_string()),
    }
}

/// Sends `kind` to a run: straight to it when this process drives it (answered once it is
/// applied), else to its inbox in the store (applied by its driver, or when it is resumed).
async fn control(
    svc: &Service,
    caller: &Caller,
    run: &RunId,
    kind: RequestKind,
    verb: &str,
) -> Result<&'static str, ApiError> {
    if let Some(ctl) = svc.control(run) {
        let done = match &kind {
            RequestKind::Pause => ctl.pause().await,
            RequestKind::Resume => ctl.resume().await,
            RequestKind::Cancel => ctl.cancel().await,
            RequestKind::Signal { .. } => Ok(()),
        };
        if !matches!(kind, RequestKind::Signal { .. }) {
            return done.map(|()| "applied").map_err(|_| {
                ApiError::Conflict(format!("execution {run} is over: cannot {verb} it"))
            });
        }
    } else if matches!(kind, RequestKind::Cancel) && !svc.is_driven(run).await {
        cancel_undriven(run, &svc.durability)
            .await
            .map_err(|e| refused(e, verb))?;
        return Ok("applied");
    }
    let by = Some(caller.who.clone());
    post_request(svc.store().as_ref(), run, kind, by)
        .await
        .map_err(|e| refused(e, verb))?;
    Ok("posted")
}

/// Pauses a run (`POST …/pause` of an execution or a workflow).
pub(crate) async fn pause_run(
    svc: &Service,
    caller: &Caller,
    run: &RunId,
) -> Result<Value, ApiError> {
    let record = svc.run(caller, run.as_str()).await?;
    if record.status.is_finished() {
        return Err(ApiError::Conflict(format!(
            "execution {run} is already {}: it cannot pause",
            record.status
        )));
    }
    let how = control(svc, caller, run, RequestKind::Pause, "pause").await?;
    Ok(json!({
        "execution_id": run.to_string(),
        "status": if how == "applied" { "paused" } else { "pausing" },
        "checkpoint_id": format!("{run}@{}", svc.store().get_run(run.clone()).await?.map_or(0, |r| r.last_seq)),
        "resume_url": format!("/api/v1/executions/{run}/resume"),
    }))
}

/// `POST /api/v1/executions/{id}/pause`.
pub(crate) async fn pause(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Operate)?;
    Ok(Json(pause_run(&svc, &caller, &RunId::new(id)).await?))
}

async fn simple(
    svc: &Service,
    caller: &Caller,
    id: String,
    kind: RequestKind,
    verb: &str,
    done: &str,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Operate)?;
    let run = svc.run(caller, &id).await?.id;
    let how = control(svc, caller, &run, kind, verb).await?;
    Ok(Json(json!({
        "execution_id": run.to_string(),
        // `requested`: in the run's inbox, applied by its driver (or when it is resumed).
        "status": if how == "applied" { done } else { "requested" },
        "request": how,
    })))
}

/// `POST /api/v1/executions/{id}/resume`.
pub(crate) async fn resume(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    simple(&svc, &caller, id, RequestKind::Resume, "resume", "running").await
}

/// `POST /api/v1/executions/{id}/cancel`.
pub(crate) async fn cancel(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    simple(
        &svc,
        &caller,
        id,
        RequestKind::Cancel,
        "cancel",
        "cancelled",
    )
    .await
}

/// The body of `POST …/signals/{name}`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignalBody {
    #[serde(default)]
    value: Value,
}

/// `POST /api/v1/executions/{id}/signals/{name}` with `{"value": …}`.
pub(crate) async fn signal(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    Path((id, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<SignalBody>,
) -> Result<Json<Value>, ApiError> {
    let kind = RequestKind::Signal {
        name: name.clone(),
        value: body.value,
    };
    let verb = format!("signal {name:?} to");
    simple(&svc, &caller, id, kind, &verb, "signalled").await
}
