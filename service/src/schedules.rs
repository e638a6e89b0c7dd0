//! Schedules: a cron expression on a submitted workflow (the file's `schedule:` or
//! `PUT /api/v1/workflows/{id}/schedule`), each tick an execution.
//!
//! - **Stored**: a schedule is a keyed record of kind [`SCHEDULE`] under its workflow id
//!   (`cron`, `missed_ticks`, `input_data`, `evaluated_through`).
//! - **Exactly once**: every process running [`Service::run_scheduler`] looks at every
//!   schedule; a tick is fired by the one whose insert of the claim record
//!   `{workflow}@{tick ms}` (kind [`TICK`]) wins ([`Store::insert_keyed`]), also across
//!   processes sharing a store. The claim names the execution it started.
//! - **Missed ticks** (the service was down, or a check came late): `skip` fires only the
//!   latest due tick, and only when it is at most [`GRACE`] old; `catch_up` fires every due
//!   tick, oldest first (at most [`CATCH_UP_MAX`] per check).
//! - **Clock**: ticks are compared with the scheduler's clock, the wall clock at its start
//!   advanced by tokio's monotonic clock (so tests on paused time move it).
//!
//! Cron expressions have 5 fields (minute granularity) or 6 (a leading seconds field), and
//! `@hourly`-style aliases; times are UTC.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use troupe_runtime::store::{KeyedFilter, KeyedRecord, Store, Timestamp};

use crate::auth::{Caller, Scope};
use crate::error::{ApiError, JsonBody};
use crate::state::{Authed, Service};
use crate::workflows::{start_execution, ExecuteRequest};

/// The keyed-record kind of a schedule (key: its workflow id).
pub const SCHEDULE: &str = "schedule";
/// The keyed-record kind of a claimed tick (key: `{workflow}@{tick ms:015}`).
pub const TICK: &str = "schedule-tick";
/// How old the latest due tick may be for policy `skip` to still fire it.
pub const GRACE: Duration = Duration::from_secs(60);
/// At most this many missed ticks are fired per check under `catch_up`.
pub const CATCH_UP_MAX: usize = 100;

/// What is done with ticks that passed while nobody checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MissedTicks {
    /// Only the latest due tick fires (when at most [`GRACE`] old).
    Skip,
    /// Every due tick fires, oldest first.
    CatchUp,
}

impl MissedTicks {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "skip" => Some(Self::Skip),
            "catch_up" => Some(Self::CatchUp),
            _ => None,
        }
    }
}

/// Parses a cron expression (5 or 6 fields, or an alias), naming it in the error.
pub fn parse_cron(expr: &str) -> Result<Cron, String> {
    if expr.trim().is_empty() {
        return Err("cron: the expression is empty".into());
    }
    CronParser::builder()
        .seconds(Seconds::Optional)
        .build()
        .parse(expr)
        .or_else(|_| Cron::from_str(expr))
        .map_err(|e| format!("cron {expr:?}: {e}"))
}

fn at(ms: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms as i64).unwrap_or_default()
}

/// The ticks of `cron` after `after` up to and including `until`, oldest first (at most
/// `max`), as milliseconds.
pub fn ticks_between(cron: &Cron, after: u64, until: u64, max: usize) -> Vec<u64> {
    let mut out = Vec::new();
    let mut from = at(after);
    while out.len() < max {
        let Ok(next) = cron.find_next_occurrence(&from, false) else {
            break;
        };
        let ms = next.timestamp_millis().max(0) as u64;
        if ms > until {
            break;
        }
        out.push(ms);
        from = next;
    }
    out
}

/// The next `n` ticks after `now`, as ISO 8601 times.
fn next_fire_times(cron: &Cron, now: u64, n: usize) -> Vec<String> {
    ticks_between(cron, now, u64::MAX / 4, n)
        .into_iter()
        .map(|ms| Timestamp::from_millis(ms).to_string())
        .collect()
}

/// A schedule as given in a file (`schedule: "*/5 * * * *"` or `schedule: {cron, missed_ticks,
/// input_data}`) or an API body.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScheduleBody {
    cron: String,
    #[serde(default)]
    missed_ticks: Option<String>,
    #[serde(default)]
    input_data: Option<Map<String, Value>>,
}

/// The stored value of a schedule on workflow `id`, validated.
fn schedule_value(
    id: &str,
    tenant: Option<&str>,
    body: ScheduleBody,
    now: u64,
) -> Result<Value, String> {
    parse_cron(&body.cron)?;
    let missed = body.missed_ticks.unwrap_or_else(|| "skip".into());
    if MissedTicks::parse(&missed).is_none() {
        return Err(format!("missed_ticks: {missed:?} is not skip or catch_up"));
    }
    Ok(json!({
        "workflow_id": id, "cron": body.cron, "missed_ticks": missed, "tenant": tenant,
        "input_data": body.input_data, "created_at": now, "evaluated_through": now,
    }))
}

/// The `schedule:` of a workflow definition, if it has one.
pub(crate) fn schedule_in_file(text: &str) -> Result<Option<ScheduleBody>, String> {
    let doc: Value = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
    let root = doc.get("workflow").unwrap_or(&doc);
    match root.get("schedule") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(cron)) => Ok(Some(ScheduleBody {
            cron: cron.clone(),
            missed_ticks: None,
            input_data: None,
        })),
        Some(other) => serde_json::from_value(other.clone())
            .map(Some)
            .map_err(|e| format!("schedule: {e}")),
    }
    .and_then(|s| match s {
        Some(s) => schedule_value("-", None, s.clone(), 0).map(|_| Some(s)),
        None => Ok(None),
    })
}

impl Service {
    /// The scheduler's clock: milliseconds since the epoch.
    pub fn schedule_now(&self) -> u64 {
        self.clock.0.as_millis() + self.clock.1.elapsed().as_millis() as u64
    }

    /// Stores a schedule on workflow `id` (replacing its previous one).
    pub(crate) async fn set_schedule(
        &self,
        id: &str,
        tenant: Option<&str>,
        body: ScheduleBody,
    ) -> Result<Value, ApiError> {
        let now = self.schedule_now();
        let value = schedule_value(id, tenant, body, now).map_err(ApiError::BadRequest)?;
        let record = KeyedRecord::new(SCHEDULE, id, value.clone(), Timestamp::from_millis(now));
        self.store().put_keyed(record).await?;
        Ok(shown(&value, now))
    }

    /// Checks every schedule every `every` and fires the ticks this process claims, until
    /// the service is dropped. `owner` names this process in the claims.
    pub async fn run_scheduler(self: Arc<Self>, owner: String, every: Duration) {
        let me = Arc::downgrade(&self);
        drop(self);
        loop {
            let Some(svc) = me.upgrade() else { return };
            if let Err(e) = svc.check_schedules(&owner).await {
                tracing::warn!(error = %e, "checking schedules");
            }
            drop(svc);
            tokio::time::sleep(every).await;
        }
    }

    /// One look at every schedule: fires the due ticks this process claims. The number fired.
    pub async fn check_schedules(self: &Arc<Self>, owner: &str) -> Result<usize, ApiError> {
        let now = self.schedule_now();
        let mut fired = 0;
        for mut s in self.store().list_keyed(KeyedFilter::kind(SCHEDULE)).await? {
            let Ok(cron) = parse_cron(s.value["cron"].as_str().unwrap_or_default()) else {
                continue;
            };
            let policy = MissedTicks::parse(s.value["missed_ticks"].as_str().unwrap_or("skip"))
                .unwrap_or(MissedTicks::Skip);
            let since = s.value["evaluated_through"].as_u64().unwrap_or(now);
            let Some(latest) = cron
                .find_previous_occurrence(&at(now), true)
                .ok()
                .map(|t| t.timestamp_millis().max(0) as u64)
                .filter(|&t| t > since)
            else {
                continue;
            };
            let (fire, through) = match policy {
                MissedTicks::CatchUp => {
                    let due = ticks_between(&cron, since, now, CATCH_UP_MAX);
                    let through = due.last().copied().unwrap_or(latest);
                    (due, through)
                }
                MissedTicks::Skip if now - latest <= GRACE.as_millis() as u64 => {
                    (vec![latest], latest)
                }
                MissedTicks::Skip => (Vec::new(), latest),
            };
            for tick in fire {
                if self.fire(&s, tick, owner).await? {
                    fired += 1;
                }
            }
            // Another process may have moved it already; both values are due ticks' times, and
            // claims keep a tick from firing twice.
            if s.value["evaluated_through"].as_u64() < Some(through) {
                s.value["evaluated_through"] = json!(through);
                s.at = Timestamp::from_millis(now);
                self.store().put_keyed(s).await?;
            }
        }
        Ok(fired)
    }

    /// Claims tick `tick` of schedule `s` and, when the claim is ours, starts its execution.
    async fn fire(
        self: &Arc<Self>,
        s: &KeyedRecord,
        tick: u64,
        owner: &str,
    ) -> Result<bool, ApiError> {
        let key = format!("{}@{tick:015}", s.key);
        let claim = json!({"workflow_id": s.key, "tick": Timestamp::from_millis(tick).to_string(),
            "tick_ms": tick, "by": owner});
        let record = KeyedRecord::new(TICK, key.clone(), claim.clone(), Timestamp::now());
        if !self.store().insert_keyed(record).await? {
            return Ok(false);
        }
        let caller = Caller {
            who: format!("schedule:{}", s.key),
            scope: Scope::Submit,
            tenant: s.value["tenant"].as_str().map(str::to_string),
        };
        // The schedule's input_data as the API's (the claim names the tick's execution).
        // Ticks do not wait for each other: a slow run does not make the next tick miss.
        let mut req = ExecuteRequest {
            input_data: s.value["input_data"].as_object().cloned(),
            ..ExecuteRequest::default()
        };
        req.execution_options.allow_concurrent = true;
        let outcome = start_execution(self, &caller, &s.key, req).await;
        let mut claim = claim;
        match &outcome {
            Ok(body) => claim["execution_id"] = body["execution_id"].clone(),
            Err(e) => claim["error"] = json!(e.to_string()),
        }
        let done = KeyedRecord::new(TICK, key, claim, Timestamp::now());
        self.store().put_keyed(done).await?;
        Ok(outcome.is_ok())
    }
}

fn shown(value: &Value, now: u64) -> Value {
    let mut v = value.clone();
    if let Ok(cron) = parse_cron(v["cron"].as_str().unwrap_or_default()) {
        v["next_fire_times"] = json!(next_fire_times(&cron, now, 5));
    }
    for field in ["created_at", "evaluated_through"] {
        if let Some(ms) = v[field].as_u64() {
            v[field] = json!(Timestamp::from_millis(ms).to_string());
        }
    }
    v
}

/// The last claimed ticks of a workflow's schedule (newest last, at most 20).
async fn recent_ticks(store: &Arc<dyn Store>, id: &str) -> Result<Vec<Value>, ApiError> {
    let filter = KeyedFilter {
        prefix: Some(format!("{id}@")),
        ..KeyedFilter::kind(TICK)
    };
    let all = store.list_keyed(filter).await?;
    let skip = all.len().saturating_sub(20);
    Ok(all.into_iter().skip(skip).map(|r| r.value).collect())
}

/// `PUT /api/v1/workflows/{id}/schedule` with `{cron, missed_ticks, input_data}`.
pub(crate) async fn put(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ScheduleBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Submit)?;
    let w = svc.find_workflow(&caller, &id).await?;
    let tenant = crate::state::lock(&w).tenant.clone();
    Ok(Json(svc.set_schedule(&id, tenant.as_deref(), body).await?))
}

/// `GET /api/v1/workflows/{id}/schedule`: the schedule, its next fire times and last ticks.
pub(crate) async fn get(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Read)?;
    svc.find_workflow(&caller, &id).await?;
    let Some(s) = svc.store().get_keyed(SCHEDULE.into(), id.clone()).await? else {
        return Err(ApiError::NotFound(format!("workflow {id} has no schedule")));
    };
    let mut v = shown(&s.value, svc.schedule_now());
    v["recent_ticks"] = json!(recent_ticks(svc.store(), &id).await?);
    Ok(Json(v))
}

/// `DELETE /api/v1/workflows/{id}/schedule`.
pub(crate) async fn remove(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Submit)?;
    svc.find_workflow(&caller, &id).await?;
    if !svc
        .store()
        .delete_keyed(SCHEDULE.into(), id.clone())
        .await?
    {
        return Err(ApiError::NotFound(format!("workflow {id} has no schedule")));
    }
    Ok(Json(json!({"workflow_id": id, "deleted": true})))
}

/// `GET /api/v1/schedules`: every schedule the caller may see, with next fire times.
pub(crate) async fn list(
    State(svc): State<Arc<Service>>,
    Authed(caller): Authed,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::Read)?;
    let now = svc.schedule_now();
    let all = svc.store().list_keyed(KeyedFilter::kind(SCHEDULE)).await?;
    let items: Vec<Value> = all
        .iter()
        .filter(|s| caller.sees(s.value["tenant"].as_str()))
        .map(|s| shown(&s.value, now))
        .collect();
    Ok(Json(json!({ "schedules": items })))
}
