//! `/api/v1/workflows`: submit (validate) a definition, execute it, its status, pause it.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use troupe_runtime::workflow::durable::Definition;
use troupe_runtime::workflow::file::{rewrite_definition, RewriteError};
use troupe_runtime::workflow::plan::plan as make_plan;
use troupe_runtime::workflow::{parse_workflow, Plan, WorkflowError};
use troupe_runtime::RunId;

use crate::auth::Scope;
use crate::error::{ApiError, JsonBody, RawBody};
use crate::executions::{self, status_of};
use crate::problems;
use crate::state::{lock, Authed, Service, Submitted};

/// `POST /api/v1/workflows`: the body is the definition (YAML, or JSON, which is YAML too).
pub(crate) async fn submit(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Scope::Submit)?;
    let (body, plan) = crate::decode::workflow_definition(&body, svc.runtime.kinds())?;
    svc.runtime
        .check_capacity(&plan)
        .map_err(|e| ApiError::InsufficientResources(e.to_string()))?;
    let schedule = crate::schedules::schedule_in_file(&body)
        .map_err(|e| ApiError::BadRequest(format!("schedule: {e}")))?;
    let id = uuid_v4();
    let mut response = json!({
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
    let submitted = Arc::new(Mutex::new(submitted));
    // Kept in the store first: a restarted service (or another sharing the store) knows it.
    svc.save_workflow(&submitted).await?;
    lock(&svc.workflows).insert(id.clone(), submitted);
    if let Some(schedule) = schedule {
        response["schedule"] = svc
            .set_schedule(&id, caller.tenant.as_deref(), schedule)
            .await?;
    }
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
    pub(crate) input_data: Option<Map<String, Value>>,
    #[serde(default)]
    pub(crate) execution_options: ExecutionOptions,
}

/// `execution_options`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExecutionOptions {
    /// Seconds after which the run is cancelled.
    #[serde(default)]
    timeout: Option<u64>,
    /// Every task's retry policy for this run, as in the file: `"none"`,
    /// `"exponential_backoff"` or a mapping (`max_attempts`, `initial_backoff`, ...).
    #[serde(default)]
    retry_policy: Option<Value>,
    #[serde(default)]
    resource_constraints: Option<Value>,
    /// Run even while another execution of this workflow runs (default: 409 then).
    #[serde(default)]
    pub(crate) allow_concurrent: bool,
}

/// `POST /api/v1/workflows/{id}/execute`.
pub(crate) async fn execute(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ExecuteRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Scope::Submit)?;
    let body = start_execution(&svc, &caller, &id, req).await?;
    Ok((StatusCode::ACCEPTED, Json(body)))
}

/// Starts an execution of workflow `id` for `caller` (the API's execute, a schedule's tick).
pub(crate) async fn start_execution(
    svc: &Arc<Service>,
    caller: &crate::Caller,
    id: &str,
    req: ExecuteRequest,
) -> Result<Value, ApiError> {
    let id = id.to_string();
    let workflow = svc.find_workflow(caller, &id).await?;
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
    if opts.resource_constraints.is_some() {
        return Err(ApiError::BadRequest(
            "execution_options.resource_constraints is not supported yet (the workflow \
             file's resources apply)"
                .into(),
        ));
    }
    // The input and a retry policy for this run go into the run's stored definition, so a
    // resumed run keeps them too (the input is also journaled with the submission).
    let input = req.input_data.map(Value::Object);
    let (plan, text) = if opts.retry_policy.is_none() && input.is_none() {
        (plan, text)
    } else {
        let text =
            rewrite_definition(&text, opts.retry_policy.as_ref(), input.as_ref()).map_err(|e| {
                match e {
                    RewriteError::NoTasks => {
                        ApiError::BadRequest(format!("execution_options: {e}"))
                    }
                    RewriteError::Parse(_) => {
                        ApiError::Internal(format!("the stored definition: {e}"))
                    }
                }
            })?;
        let spec = parse_workflow(&text, "execution_options.retry_policy")
            .map_err(|e| problems::file_error(&e))?;
        let plan = make_plan(spec, svc.runtime.kinds()).map_err(|e| problems::plan_errors(&e))?;
        (Arc::new(plan), text)
    };
    let input = input.unwrap_or(Value::Null);
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
        .submit_durable_with_input(plan.clone(), definition, input, durability)
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
    svc.save_workflow(&workflow).await?;
    let agents: Vec<Value> = plan
        .pools
        .iter()
        .map(|(name, p)| json!({"pool": name, "kind": p.kind, "count": p.count}))
        .collect();
    Ok(json!({
        "execution_id": run.to_string(),
        "workflow_id": id,
        "status": "planning",
        "allocated_agents": agents,
        "execution_url": format!("/api/v1/executions/{run}"),
    }))
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
    let workflow = svc.find_workflow(&caller, &id).await?;
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
    let workflow = svc.find_workflow(&caller, &id).await?;
    let run = latest(&workflow)
        .ok_or_else(|| ApiError::Conflict(format!("workflow {id} has no execution to pause")))?;
    let mut body = executions::pause_run(&svc, &caller, &run).await?;
    body["workflow_id"] = json!(id);
    Ok(Json(body))
}
