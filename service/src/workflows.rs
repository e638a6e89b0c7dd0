//! `/api/v1/workflows`: submit (validate) a definition, execute it, its status, pause it.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use troupe_runtime::workflow::durable::Definition;
use troupe_runtime::workflow::plan::plan as make_plan;
use troupe_runtime::workflow::{parse_workflow, Plan, WorkflowError};
use troupe_runtime::RunId;

use crate::auth::Scope;
use crate::error::{ApiError, JsonBody};
use crate::executions::{self, status_of};
use crate::problems;
use crate::state::{lock, Authed, Service, Submitted};

/// `POST /api/v1/workflows`: the body is the definition (YAML, or JSON, which is YAML too).
pub(crate) async fn submit(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    body: String,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Scope::Submit)?;
    if body.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "the body is empty: send a workflow definition (YAML or JSON)".into(),
        ));
    }
    let spec = parse_workflow(&body, "request body").map_err(|e| problems::file_error(&e))?;
    let plan = make_plan(spec, svc.runtime.kinds()).map_err(|e| problems::plan_errors(&e))?;
    svc.runtime
        .check_capacity(&plan)
        .map_err(|e| ApiError::InsufficientResources(e.to_string()))?;
    let id = uuid_v4();
    let response = json!({
        "workflow_id": id,
        "name": plan.spec.name,
        "status": "validated",
        "validation_report": validation_report(&plan),
        "estimated_resources": estimated_resources(&plan),
    });
    let submitted = Submitted {
        id: id.clone(),
        tenant: caller.tenant.clone(),
        text: body,
        plan: Arc::new(plan),
        executions: Vec::new(),
    };
    lock(&svc.workflows).insert(id, Arc::new(Mutex::new(submitted)));
    Ok((StatusCode::CREATED, Json(response)))
}

fn validation_report(plan: &Plan) -> Value {
    json!({
        "valid": true,
        "warnings": plan.spec.warnings,
        "tasks": plan.len(),
        "agent_pools": plan.pools.len(),
        "orchestration_pattern": plan.spec.pattern.as_deref().unwrap_or("dag"),
    })
}

fn estimated_resources(plan: &Plan) -> Value {
    let (mut cpu, mut memory, mut agents) = (0u64, 0u64, 0usize);
    let mut pools = Map::new();
    for (name, pool) in &plan.pools {
        let r = pool.resources.unwrap_or_default();
        cpu += r.cpu_millis * pool.count as u64;
        memory += r.memory_bytes * pool.count as u64;
        agents += pool.count;
        pools.insert(
            name.clone(),
            json!({"kind": pool.kind, "count": pool.count, "cpu_millis": r.cpu_millis, "memory_bytes": r.memory_bytes}),
        );
    }
    json!({"agents": agents, "cpu_millis": cpu, "memory_bytes": memory, "pools": pools})
}

/// A random (version 4) UUID.
pub(crate) fn uuid_v4() -> String {
    let mut b: [u8; 16] = fastrand::u128(..).to_le_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The body of `POST …/execute`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExecuteRequest {
    #[serde(default)]
    input_data: Option<Map<String, Value>>,
    #[serde(default)]
    execution_options: ExecutionOptions,
}

/// `execution_options`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExecutionOptions {
    /// Seconds after which the run is cancelled.
    #[serde(default)]
    timeout: Option<u64>,
    #[serde(default)]
    retry_policy: Option<String>,
    #[serde(default)]
    resource_constraints: Option<Value>,
    /// Run even while another execution of this workflow runs (default: 409 then).
    #[serde(default)]
    allow_concurrent: bool,
}

/// `POST /api/v1/workflows/{id}/execute`.
pub(crate) async fn execute(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ExecuteRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Scope::Submit)?;
    let workflow = svc.workflow(&caller, &id)?;
    let (plan, text, previous) = {
        let w = lock(&workflow);
        (w.plan.clone(), w.text.clone(), w.executions.clone())
    };
    if !req.execution_options.allow_concurrent {
        for run in &previous {
            if svc.control(run).is_some() {
                return Err(ApiError::Conflict(format!(
                    "workflow {id} is already executing (execution {run}); \
                     set execution_options.allow_concurrent to run another"
                )));
            }
        }
    }
    let opts = &req.execution_options;
    for (given, name) in [
        (opts.retry_policy.is_some(), "retry_policy"),
        (opts.resource_constraints.is_some(), "resource_constraints"),
    ] {
        if given {
            return Err(ApiError::BadRequest(format!(
                "execution_options.{name} is not supported yet (the workflow file's applies)"
            )));
        }
    }
    let _ = req.input_data;
    // Refused for load here, before anything is recorded; once admitted, the run holds its
    // ticket until it ends.
    let ticket = svc.admission.admit(caller.tenant.as_deref(), plan.len())?;
    let mut durability = svc.durability.clone();
    durability.tenant = caller.tenant.clone();
    let definition = Definition {
        text,
        source: format!("workflow {id}"),
    };
    let handle = svc
        .runtime
        .submit_durable(plan.clone(), definition, durability)
        .await
        .map_err(|e| match e {
            troupe_runtime::workflow::durable::DurableError::Workflow(
                w @ WorkflowError::InsufficientResources { .. },
            ) => ApiError::InsufficientResources(w.to_string()),
            other => ApiError::Internal(other.to_string()),
        })?;
    let run = handle.run_id().clone();
    if let Some(secs) = req.execution_options.timeout {
        // The run is cancelled once it has run this long (by this process: a run resumed
        // elsewhere after a restart has no deadline).
        let control = handle.control();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
            let _ = control.cancel().await;
        });
    }
    svc.adopt_admitted(handle, Some(ticket));
    lock(&workflow).executions.push(run.clone());
    let agents: Vec<Value> = plan
        .pools
        .iter()
        .map(|(name, p)| json!({"pool": name, "kind": p.kind, "count": p.count}))
        .collect();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "execution_id": run.to_string(),
            "workflow_id": id,
            "status": "planning",
            "allocated_agents": agents,
            "execution_url": format!("/api/v1/executions/{run}"),
        })),
    ))
}

/// The latest execution of a workflow (404 when it has none).
fn latest(workflow: &Mutex<Submitted>) -> Option<RunId> {
    lock(workflow).executions.last().cloned()
}

/// `GET /api/v1/workflows/{id}/status`: the status of its latest execution.
pub(crate) async fn status(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Read)?;
    let workflow = svc.workflow(&caller, &id)?;
    let Some(run) = latest(&workflow) else {
        return Ok(Json(json!({
            "workflow_id": id,
            "execution_id": null,
            "status": "validated",
            "current_phase": "validated",
            "agents": [],
            "performance_metrics": {},
        })));
    };
    let record = svc.run(&caller, run.as_str()).await?;
    let mut status = status_of(&svc, &record).await?;
    status["workflow_id"] = json!(id);
    Ok(Json(status))
}

/// `POST /api/v1/workflows/{id}/pause`: pauses its latest execution.
pub(crate) async fn pause(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Operate)?;
    let workflow = svc.workflow(&caller, &id)?;
    let run = latest(&workflow)
        .ok_or_else(|| ApiError::Conflict(format!("workflow {id} has no execution to pause")))?;
    let mut body = executions::pause_run(&svc, &caller, &run).await?;
    body["workflow_id"] = json!(id);
    Ok(Json(body))
}
