//! What the supervisor pattern is asked to do (units of work, iteration decisions), what it
//! answers (results, an optional routing report) and how it fails.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use troupe_runtime::{AgentError, AgentId};

/// One unit of work: an input for a worker and, optionally, the capability the worker needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    /// What the chosen worker is asked.
    pub input: Value,
    /// Only workers whose member group lists this capability may take the unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability: Option<String>,
}

impl Unit {
    /// A unit any worker may take.
    pub fn new(input: Value) -> Self {
        Self {
            input,
            capability: None,
        }
    }

    /// Requires a capability.
    pub fn capability(mut self, capability: impl Into<String>) -> Self {
        self.capability = Some(capability.into());
        self
    }
}

/// A job in its explicit form, `{"units": [...]}` (a plain array of inputs is a job too).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// The units, answered in this order.
    pub units: Vec<Unit>,
}

impl Job {
    /// A job of these units.
    pub fn new(units: Vec<Unit>) -> Self {
        Self { units }
    }

    /// The JSON request for the pattern agent.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl From<Job> for Value {
    fn from(job: Job) -> Value {
        job.to_value()
    }
}

/// Reads a request: `{"units": [...]}` or a plain array of inputs.
pub(crate) fn decode_job(request: Value) -> Result<Vec<Unit>, SupervisorError> {
    match request {
        Value::Array(inputs) => Ok(inputs.into_iter().map(Unit::new).collect()),
        Value::Object(_) => serde_json::from_value::<Job>(request)
            .map(|job| job.units)
            .map_err(|e| SupervisorError::BadJob(e.to_string())),
        other => Err(SupervisorError::BadJob(format!(
            "a job is {{\"units\": [...]}} or an array of inputs, not {}",
            describe(&other)
        ))),
    }
}

use troupe_runtime::config::describe;

/// What a [`Decider`] wants after a round.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The job is done: this is the answer.
    Done(Value),
    /// Run another round with these units.
    Continue(Vec<Unit>),
}

/// Decides after each round (1-based number, that round's results in unit order) whether the
/// job is done. Rust only: configs use `rounds`.
pub type Decider = Arc<dyn Fn(u32, &[Value]) -> Decision + Send + Sync>;

/// How one unit was served, in a report (`report: true`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitReport {
    /// The unit's position in its round.
    pub unit: usize,
    /// The worker that answered it.
    pub worker: AgentId,
    /// Calls it took (1 + re-routes).
    pub attempts: u32,
}

/// Why the supervisor pattern could not be built or could not finish a job.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// The configuration is invalid: the error's `path` names the field (`/members/w/count`).
    #[error("{} config: {}", .0.kind, crate::member::field_message(.0))]
    Config(troupe_runtime::ConfigError),
    /// The request is not a job.
    #[error("bad job: {0}")]
    BadJob(String),
    /// A unit names a capability no worker has.
    #[error("unit {unit}: no worker has capability {capability:?} (workers have: {known})")]
    NoCapableWorker {
        /// The unit.
        unit: usize,
        /// The capability it names.
        capability: String,
        /// Every capability of the team, comma separated.
        known: String,
    },
    /// Routing is `by_capability` but a unit names no capability.
    #[error("unit {unit} names no capability, but routing is by_capability")]
    NoCapability {
        /// The unit.
        unit: usize,
    },
    /// A custom router chose a worker that is not among the candidates.
    #[error("unit {unit}: the router chose worker {chosen} of {candidates} candidates")]
    BadRoute {
        /// The unit.
        unit: usize,
        /// The index returned.
        chosen: usize,
        /// How many candidates it was given.
        candidates: usize,
    },
    /// A worker refused a unit with an error a retry cannot fix.
    #[error("unit {unit} failed on worker {worker}: {reason}")]
    UnitRejected {
        /// The unit.
        unit: usize,
        /// The worker.
        worker: AgentId,
        /// What it said.
        reason: String,
    },
    /// A unit failed on every attempt its re-route budget allowed.
    #[error(
        "unit {unit} failed after {attempts} attempts (max_reroutes {max_reroutes}); last: {last}"
    )]
    UnitFailed {
        /// The unit.
        unit: usize,
        /// Calls made.
        attempts: u32,
        /// The budget.
        max_reroutes: u32,
        /// The last failure.
        last: String,
    },
    /// Every worker that could take a unit was stopped for good.
    #[error("unit {unit}: every worker that could take it has left the team")]
    WorkersGone {
        /// The unit.
        unit: usize,
    },
    /// The worker team exceeded its restart intensity: the pattern agent fails right after
    /// answering (escalation to its own supervisor).
    #[error("{0}")]
    TeamGaveUp(String),
    /// The decider still wanted another round after `max_rounds`.
    #[error("the job was not done after max_rounds = {0} rounds")]
    TooManyRounds(u32),
    /// The coordinator member failed or answered outside its protocol (the message names it
    /// and what it answered).
    #[error("coordinator {0}")]
    Coordinator(String),
}

impl From<SupervisorError> for AgentError {
    fn from(e: SupervisorError) -> AgentError {
        match e {
            SupervisorError::UnitFailed { .. } | SupervisorError::TeamGaveUp(_) => {
                AgentError::transient(e.to_string())
            }
            _ => AgentError::permanent(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jobs_are_arrays_or_unit_lists() {
        let units = decode_job(json!([1, "a"])).unwrap();
        assert_eq!(units, vec![Unit::new(json!(1)), Unit::new(json!("a"))]);
        let units = decode_job(json!({"units": [{"input": 2, "capability": "x"}]})).unwrap();
        assert_eq!(units, vec![Unit::new(json!(2)).capability("x")]);
        let err = decode_job(json!({"units": [{"inp": 2}]})).unwrap_err();
        assert!(err.to_string().contains("unknown field `inp`"), "{err}");
        let err = decode_job(json!(3)).unwrap_err();
        assert!(err.to_string().contains("not a number"), "{err}");
        assert_eq!(
            Job::new(vec![Unit::new(json!(1))]).to_value(),
            json!({"units": [{"input": 1}]})
        );
    }
}
