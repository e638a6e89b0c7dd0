//! The service's state: the runtime and store it drives runs with, the submitted workflows,
//! the runs it drives itself, its auth keys and audit log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use troupe_runtime::store::{DeadLetter, RunRecord, Store, Timestamp};
use troupe_runtime::workflow::durable::Durability;
use troupe_runtime::workflow::Plan;
use troupe_runtime::workflow::RunControl;
use troupe_runtime::{RunId, Runtime, WorkflowHandle};

use crate::audit::AuditLog;
use crate::auth::{Auth, Caller};
use crate::error::ApiError;

/// What a [`Service`] is made of.
pub struct ServiceConfig {
    /// The embedded runtime, with the agent kinds workflows may use registered.
    pub runtime: Runtime,
    /// How runs are journaled and leased (its store is the service's store; its `tenant` is
    /// replaced by the caller's for every execution).
    pub durability: Durability,
    /// The keys bearer tokens are verified with.
    pub auth: Auth,
    /// Where mutating calls are recorded.
    pub audit: AuditLog,
    /// How `POST /api/v1/dead-letters/{id}/replay` runs a letter again (`None`: 501).
    pub replay: Option<Replayer>,
}

/// Runs a dead letter again: `Ok` with a summary when it succeeded (the letter is then
/// dropped), `Err` with why not.
pub type Replayer = Arc<
    dyn Fn(
            DeadLetter,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<serde_json::Value, String>> + Send>,
        > + Send
        + Sync,
>;

/// A submitted workflow: validated, ready to execute.
pub(crate) struct Submitted {
    pub id: String,
    pub tenant: Option<String>,
    pub text: String,
    pub plan: Arc<Plan>,
    /// Its executions, oldest first.
    pub executions: Vec<RunId>,
}

/// The HTTP service: shared by every request (`Arc<Service>`).
pub struct Service {
    pub(crate) runtime: Runtime,
    pub(crate) durability: Durability,
    pub(crate) auth: Auth,
    pub(crate) audit: AuditLog,
    pub(crate) replay: Option<Replayer>,
    pub(crate) workflows: Mutex<HashMap<String, Arc<Mutex<Submitted>>>>,
    /// The runs this process drives, by run id.
    pub(crate) driven: Mutex<HashMap<RunId, RunControl>>,
    /// The cluster endpoints' view of the node this runs on (`troupe node --api`).
    pub(crate) cluster: std::sync::OnceLock<Arc<dyn crate::cluster::ClusterApi>>,
    /// The attempts running now of the runs this process drives ([`crate::live`]).
    pub(crate) live: Mutex<HashMap<RunId, crate::live::Running>>,
    /// Webhook deliveries (see [`crate::webhooks`]).
    pub(crate) webhooks: crate::webhooks::Webhooks,
    /// The scheduler's clock: the wall clock at the start and tokio's instant then.
    pub(crate) clock: (Timestamp, tokio::time::Instant),
    /// Limits on new executions (see [`crate::admission`]).
    pub(crate) admission: crate::admission::Admission,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("store", &self.store().location())
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// A service over `config`.
    pub fn new(config: ServiceConfig) -> Arc<Self> {
        let svc = Arc::new(Self {
            runtime: config.runtime,
            durability: config.durability,
            auth: config.auth,
            audit: config.audit,
            replay: config.replay,
            workflows: Mutex::new(HashMap::new()),
            driven: Mutex::new(HashMap::new()),
            cluster: std::sync::OnceLock::new(),
            live: Mutex::new(HashMap::new()),
            webhooks: Default::default(),
            clock: (Timestamp::now(), tokio::time::Instant::now()),
            admission: Default::default(),
        });
        crate::live::follow(&svc);
        svc
    }

    /// Limits the executions this service admits (429 per tenant, 503 for the node, with
    /// `Retry-After`); by default nothing is limited.
    pub fn set_admission(&self, limits: crate::admission::AdmissionLimits) {
        self.admission.set_limits(limits);
    }

    /// Executions admitted under the limits and not finished yet, and their tasks.
    pub fn admitted(&self) -> (usize, usize) {
        self.admission.load()
    }

    /// The store runs are journaled in.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.durability.store
    }

    /// The runtime runs are driven by.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Takes over a run this process drives (submitted here, or resumed at start): its
    /// pause, resume and cancel go straight to it until it ends.
    pub fn adopt(self: &Arc<Self>, handle: WorkflowHandle) {
        self.adopt_admitted(handle, None);
    }

    /// [`Self::adopt`] for a run admitted with `ticket`, given back when the run ends.
    pub(crate) fn adopt_admitted(
        self: &Arc<Self>,
        handle: WorkflowHandle,
        ticket: Option<crate::admission::Ticket>,
    ) {
        let run = handle.run_id().clone();
        lock(&self.driven).insert(run.clone(), handle.control());
        self.feed_webhooks(run.clone());
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let result = handle.wait().await;
            if let Err(e) = &result {
                tracing::warn!(%run, error = %e, "run ended with an error");
            }
            if let Some(me) = me.upgrade() {
                lock(&me.driven).remove(&run);
            }
            drop(ticket);
        });
    }

    /// The control of a run this process drives.
    pub(crate) fn control(&self, run: &RunId) -> Option<RunControl> {
        lock(&self.driven).get(run).cloned()
    }

    /// A submitted workflow the caller may see.
    pub(crate) fn workflow(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Arc<Mutex<Submitted>>, ApiError> {
        let found = lock(&self.workflows).get(id).cloned();
        match found {
            Some(w) if caller.sees(lock(&w).tenant.as_deref()) => Ok(w),
            _ => Err(ApiError::NotFound(format!("no workflow {id:?}"))),
        }
    }

    /// The id of the submitted workflow `run` is an execution of (else the run's workflow name).
    pub(crate) fn workflow_of(&self, run: &RunRecord) -> String {
        let all: Vec<_> = lock(&self.workflows).values().cloned().collect();
        all.iter()
            .find_map(|w| {
                let w = lock(w);
                w.executions.contains(&run.id).then(|| w.id.clone())
            })
            .unwrap_or_else(|| run.workflow.clone())
    }

    /// A run the caller may see.
    pub(crate) async fn run(&self, caller: &Caller, id: &str) -> Result<RunRecord, ApiError> {
        match self.store().get_run(RunId::new(id)).await? {
            Some(r) if caller.sees(r.tenant.as_deref()) => Ok(r),
            _ => Err(ApiError::NotFound(format!("no execution {id:?}"))),
        }
    }

    /// Whether a live process (this one or another) drives `run` now.
    pub(crate) async fn is_driven(&self, run: &RunId) -> bool {
        if self.control(run).is_some() {
            return true;
        }
        match self.store().get_lease(run.clone()).await {
            Ok(Some(lease)) => {
                lease.until > Timestamp::now() && !(self.durability.holder_is_gone)(&lease.owner)
            }
            _ => false,
        }
    }
}

/// Locks a mutex, also one a panicking holder poisoned (the maps stay consistent: every
/// critical section is one insert, remove or read).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The verified caller of a request (401 without a token that verifies).
pub(crate) struct Authed(pub Caller);

impl axum::extract::FromRequestParts<Arc<Service>> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        svc: &Arc<Service>,
    ) -> Result<Self, ApiError> {
        svc.auth
            .caller(&parts.headers, parts.uri.query())
            .map(Authed)
    }
}
