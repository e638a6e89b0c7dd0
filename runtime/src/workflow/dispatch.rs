//! The seam through which a cluster runs workflow tasks on other nodes.
//!
//! By default a workflow's pools are agents spawned on the local runtime. When a
//! [`TaskDispatcher`] is installed ([`crate::Runtime::set_dispatcher`]), pools spawn nothing:
//! each call becomes a [`DispatchedCall`] — plain data naming the agent kind, its config and
//! the input, with an idempotency key — and the dispatcher decides where it runs.

use std::time::Duration;

use serde_json::Value;

use crate::error::CallError;
use crate::BoxFuture;

/// One pool call handed to a dispatcher.
#[derive(Clone, Debug, PartialEq)]
pub struct DispatchedCall {
    /// Unique per run, task, attempt and item (`run/task/attempt[/item]`): a result is applied
    /// once per key, however often the call was re-dispatched.
    pub key: String,
    /// The pool's name in the workflow.
    pub pool: String,
    /// The agent kind that serves the pool.
    pub kind: String,
    /// That kind's config.
    pub config: Value,
    /// The request.
    pub input: Value,
    /// The deadline of this attempt.
    pub timeout: Option<Duration>,
    /// What one agent of the pool needs (its `resources`; `None`: nothing stated): a
    /// dispatcher runs the call only where that fits.
    pub resources: Option<super::resources::Resources>,
    /// The task's priority, 0–9 (see [`crate::workflow::TaskSpec::priority`]): a queue serves
    /// higher priorities first.
    pub priority: u8,
    /// The run's tenant (`None`: none): a queue lets tenants take turns
    /// ([`crate::workflow::fair::FairQueue`]).
    pub tenant: Option<String>,
}

/// Runs pool calls somewhere (another node, a queue that idle nodes steal from, ...).
pub trait TaskDispatcher: Send + Sync + 'static {
    /// Runs one call and returns its result. The future must finish: with the reply, or with
    /// an error when the call cannot be served (it is then retried per the task's policy).
    fn dispatch(&self, call: DispatchedCall) -> BoxFuture<'static, Result<Value, CallError>>;
}
