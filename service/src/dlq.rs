//! `/api/v1/dead-letters`: work given up (list), run again (replay), or dropped.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use troupe_runtime::store::{DeadLetter, DeadLetterFilter};
use troupe_runtime::RunId;

use crate::auth::{Caller, Scope};
use crate::error::ApiError;
use crate::state::{Authed, Service};

/// The `{id}` of a dead-letter path (a number).
fn letter_id(id: Result<Path<u64>, PathRejection>) -> Result<u64, ApiError> {
    id.map(|Path(id)| id).map_err(|e| {
        ApiError::BadRequest(format!(
            "the dead letter id in the path is not a number: {}",
            e.body_text()
        ))
    })
}

fn letter_json(d: &DeadLetter) -> Value {
    let l = &d.letter;
    json!({
        "id": d.id,
        "execution_id": l.run.as_ref().map(|r| r.to_string()),
        "task": l.task.as_ref().map(|t| t.to_string()),
        "input": l.input,
        "errors": l.errors,
        "attempts": l.attempts,
        "at": l.at.to_string(),
    })
}

/// The query of `GET /api/v1/dead-letters`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    execution: Option<String>,
    after: Option<u64>,
    limit: Option<usize>,
    access_token: Option<String>,
}

/// Whether the caller may see a letter: one of a run of its tenant (letters of no run only
/// for callers without a tenant).
async fn visible(svc: &Service, caller: &Caller, d: &DeadLetter) -> bool {
    match &d.letter.run {
        Some(run) => svc.run(caller, run.as_str()).await.is_ok(),
        None => caller.sees(None),
    }
}

/// `GET /api/v1/dead-letters?execution=&after=&limit=`.
pub(crate) async fn list(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Read)?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest(format!("query: {}", e.body_text())))?;
    let _ = q.access_token;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let filter = DeadLetterFilter {
        run: q.execution.map(RunId::new),
        after: q.after,
        limit,
    };
    let letters = svc.store().list_dead_letters(filter).await?;
    let next = (letters.len() == limit)
        .then(|| letters.last().map(|d| d.id))
        .flatten();
    let mut out = Vec::new();
    for d in &letters {
        if visible(&svc, &caller, d).await {
            out.push(letter_json(d));
        }
    }
    Ok(Json(json!({"dead_letters": out, "next": next})))
}

async fn letter(svc: &Service, caller: &Caller, id: u64) -> Result<DeadLetter, ApiError> {
    match svc.store().get_dead_letter(id).await? {
        Some(d) if visible(svc, caller, &d).await => Ok(d),
        _ => Err(ApiError::NotFound(format!("no dead letter {id}"))),
    }
}

/// `DELETE /api/v1/dead-letters/{id}`.
pub(crate) async fn drop_letter(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    id: Result<Path<u64>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = letter_id(id)?;
    caller.require(Scope::Operate)?;
    letter(&svc, &caller, id).await?;
    let dropped = svc.store().drop_dead_letter(id).await?;
    Ok(Json(json!({"id": id, "dropped": dropped})))
}

/// `POST /api/v1/dead-letters/{id}/replay`: runs it again once; dropped if it succeeds.
pub(crate) async fn replay(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    id: Result<Path<u64>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = letter_id(id)?;
    caller.require(Scope::Operate)?;
    let d = letter(&svc, &caller, id).await?;
    let Some(replay) = svc.replay.clone() else {
        return Err(ApiError::NotImplemented(
            "this service was started without a way to replay dead letters".into(),
        ));
    };
    match replay(d).await {
        Ok(summary) => Ok(Json(json!({"id": id, "replayed": true, "result": summary}))),
        Err(why) => Err(ApiError::Conflict(format!(
            "dead letter {id} replayed but failed again: {why}; the letter is kept"
        ))),
    }
}
