//! Submitted workflows kept in the store (keyed records of kind [`WORKFLOW`]), so a restarted
//! `troupe serve` — or another process sharing the store — still knows them: the definition,
//! its tenant, its schedule and its executions. The in-memory map of [`Service`] is a cache
//! of planned workflows; a miss is looked up in the store and planned again.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use troupe_runtime::store::{KeyedRecord, Timestamp};
use troupe_runtime::workflow::parse_workflow;
use troupe_runtime::workflow::plan::plan as make_plan;
use troupe_runtime::RunId;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::{lock, Service, Submitted};

/// The kind of a submitted workflow's keyed record (its key is the workflow id).
pub(crate) const WORKFLOW: &str = "workflow";

/// The stored form of a submitted workflow.
pub(crate) fn record_of(w: &Submitted) -> KeyedRecord {
    let runs: Vec<&str> = w.executions.iter().map(RunId::as_str).collect();
    KeyedRecord::new(
        WORKFLOW,
        w.id.clone(),
        json!({"id": w.id, "tenant": w.tenant, "text": w.text, "executions": runs}),
        Timestamp::now(),
    )
}

impl Service {
    /// Writes a submitted workflow to the store (durable when this returns).
    pub(crate) async fn save_workflow(&self, w: &Mutex<Submitted>) -> Result<(), ApiError> {
        let record = record_of(&lock(w));
        self.store().put_keyed(record).await?;
        Ok(())
    }

    /// A submitted workflow the caller may see: from memory, else from the store (planned
    /// again with this runtime's kinds).
    pub(crate) async fn find_workflow(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Arc<Mutex<Submitted>>, ApiError> {
        if let Ok(found) = self.workflow(caller, id) {
            return Ok(found);
        }
        let Some(record) = self
            .store()
            .get_keyed(WORKFLOW.into(), id.to_string())
            .await?
        else {
            return Err(ApiError::NotFound(format!("no workflow {id:?}")));
        };
        let submitted = self.replan(&record.value)?;
        let entry = {
            let mut map = lock(&self.workflows);
            map.entry(id.to_string())
                .or_insert_with(|| Arc::new(Mutex::new(submitted)))
                .clone()
        };
        self.workflow(caller, id).map(|_| entry)
    }

    /// A stored workflow record planned again.
    fn replan(&self, value: &Value) -> Result<Submitted, ApiError> {
        let field = |name: &str| value.get(name).and_then(Value::as_str);
        let (Some(id), Some(text)) = (field("id"), field("text")) else {
            return Err(ApiError::Internal(
                "a stored workflow record lacks its id or text".into(),
            ));
        };
        let source = format!("stored workflow {id}");
        let spec = parse_workflow(text, &source)
            .map_err(|e| ApiError::Internal(format!("{source}: {e}")))?;
        let plan = make_plan(spec, self.runtime.kinds())
            .map_err(|e| ApiError::Internal(format!("{source} no longer plans here: {e:?}")))?;
        let executions = value
            .get("executions")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(RunId::new).collect())
            .unwrap_or_default();
        Ok(Submitted {
            id: id.to_string(),
            tenant: field("tenant").map(str::to_string),
            text: text.to_string(),
            plan: Arc::new(plan),
            executions,
        })
    }
}
