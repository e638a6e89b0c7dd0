//! Submitting workflows to a runtime, and the handle to a running one.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;
use ractor::{Actor, ActorRef};
use tokio::sync::oneshot;

use super::actor::{ControlMsg, WorkflowActor, WorkflowArgs, WorkflowMsg};
use super::plan::{plan, Plan, PlanErrors};
use super::report::WorkflowReport;
use super::spec::WorkflowSpec;
use crate::ids::RunId;
use crate::runtime::Runtime;
use crate::store::RequestKind;
use crate::supervision::{ChildSpec, Restart};
use serde_json::Value;

/// Why a workflow could not run to a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkflowError {
    /// The definition is invalid; every problem is listed.
    #[error("invalid workflow:\n{0}")]
    Invalid(PlanErrors),
    /// An agent of one of the run's pools could not be started.
    #[error("workflow {run} failed to start: pool {pool:?}: {error}")]
    PoolStart {
        /// The run.
        run: RunId,
        /// The pool.
        pool: String,
        /// Why its agent did not start.
        error: crate::error::SpawnError,
    },
    /// The run could not start for another reason than a pool (its supervisor did not start).
    #[error("workflow {run} failed to start: {error}")]
    StartFailed {
        /// The run.
        run: RunId,
        /// Why.
        error: crate::supervision::SupervisionError,
    },
    /// The workflow actor died without a report (a bug; its crash is in the event stream).
    #[error("workflow {0} ended without a report")]
    Lost(RunId),
    /// The runtime is shutting down.
    #[error("runtime is shutting down")]
    ShuttingDown,
    /// The run's pools need more than the runtime's capacity (see
    /// [`crate::workflow::resources`]).
    #[error(
        "insufficient resources: pool {pool:?} needs {needs} ({count} agent(s)); with the pools \
         before it the run needs {total}, more than the runtime's capacity of {capacity}"
    )]
    InsufficientResources {
        /// The pool at which the run's needs first exceed the capacity.
        pool: String,
        /// Its agents' count.
        count: usize,
        /// What the pool needs (all its agents).
        needs: super::resources::Resources,
        /// What the run needs up to and including this pool.
        total: super::resources::Resources,
        /// The runtime's capacity.
        capacity: super::resources::Capacity,
    },
}

/// A running workflow.
#[derive(Debug)]
pub struct WorkflowHandle {
    run: RunId,
    actor: ActorRef<WorkflowMsg>,
    done: oneshot::Receiver<WorkflowReport>,
}

impl WorkflowHandle {
    /// The run's id.
    pub fn run_id(&self) -> &RunId {
        &self.run
    }

    /// Cancels the run: running tasks are stopped, pending ones skipped; the report says
    /// `Cancelled`. Does nothing once the run is over.
    pub fn cancel(&self) {
        self.canceller().cancel();
    }

    /// A cloneable handle that can cancel the run while another task awaits [`Self::wait`].
    pub fn canceller(&self) -> Canceller {
        Canceller {
            actor: self.actor.clone(),
        }
    }

    /// A cloneable handle that pauses, resumes, cancels or signals the run while another task
    /// awaits [`Self::wait`].
    pub fn control(&self) -> RunControl {
        RunControl {
            actor: self.actor.clone(),
        }
    }

    /// Pauses the run (see [`RunControl::pause`]).
    pub async fn pause(&self) -> Result<(), RunGone> {
        self.control().pause().await
    }

    /// Resumes the paused run (see [`RunControl::resume`]).
    pub async fn resume(&self) -> Result<(), RunGone> {
        self.control().resume().await
    }

    /// Delivers the signal `name` (see [`RunControl::signal`]).
    pub async fn signal(&self, name: impl Into<String>, value: Value) -> Result<(), RunGone> {
        self.control().signal(name, value).await
    }

    /// Waits for the run's report.
    pub async fn wait(self) -> Result<WorkflowReport, WorkflowError> {
        self.done.await.map_err(|_| WorkflowError::Lost(self.run))
    }
}

/// Cancels a run (see [`WorkflowHandle::cancel`]).
#[derive(Debug, Clone)]
pub struct Canceller {
    actor: ActorRef<WorkflowMsg>,
}

impl Canceller {
    /// Cancels the run; does nothing once it is over.
    pub fn cancel(&self) {
        let _ = self.actor.send_message(WorkflowMsg::Cancel);
    }
}

/// The run is over (or its actor is gone): the request was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the run is over")]
pub struct RunGone;

/// Pauses, resumes, cancels or signals a run in this process. Each call returns once the run
/// applied the request — for a durable run, once its journal holds it. From another process,
/// post to the run's inbox in the store instead
/// ([`durable::post_request`](crate::workflow::durable::post_request)).
#[derive(Debug, Clone)]
pub struct RunControl {
    actor: ActorRef<WorkflowMsg>,
}

impl RunControl {
    async fn send(&self, kind: RequestKind) -> Result<(), RunGone> {
        let (done, applied) = oneshot::channel();
        let msg = WorkflowMsg::Control(ControlMsg::Request {
            kind,
            by: None,
            ack: None,
            done: Some(done),
        });
        self.actor.send_message(msg).map_err(|_| RunGone)?;
        applied.await.map_err(|_| RunGone)
    }

    /// Pauses the run: no new attempt starts (running ones finish) until [`Self::resume`].
    pub async fn pause(&self) -> Result<(), RunGone> {
        self.send(RequestKind::Pause).await
    }

    /// Resumes a paused run: the attempts held meanwhile start.
    pub async fn resume(&self) -> Result<(), RunGone> {
        self.send(RequestKind::Resume).await
    }

    /// Cancels the run (see [`WorkflowHandle::cancel`]).
    pub async fn cancel(&self) -> Result<(), RunGone> {
        self.send(RequestKind::Cancel).await
    }

    /// Delivers the signal `name` with `value`: the tasks awaiting it (now or later) complete
    /// with `value` as their output.
    pub async fn signal(&self, name: impl Into<String>, value: Value) -> Result<(), RunGone> {
        let name = name.into();
        self.send(RequestKind::Signal { name, value }).await
    }
}

impl Runtime {
    /// Validates `spec` against this runtime's kinds and starts it.
    pub async fn submit(&self, spec: WorkflowSpec) -> Result<WorkflowHandle, WorkflowError> {
        let plan = plan(spec, self.kinds()).map_err(WorkflowError::Invalid)?;
        self.submit_plan(Arc::new(plan)).await
    }

    /// Runs `spec` to its end and returns the report.
    pub async fn run(&self, spec: WorkflowSpec) -> Result<WorkflowReport, WorkflowError> {
        self.submit(spec).await?.wait().await
    }

    /// Starts an already validated plan.
    pub async fn submit_plan(&self, plan: Arc<Plan>) -> Result<WorkflowHandle, WorkflowError> {
        if self.is_shutting_down() {
            return Err(WorkflowError::ShuttingDown);
        }
        let run = self.next_run_id(&plan.spec.name);
        let seed = self.inner.runs.load(Ordering::Relaxed);
        self.spawn_run(plan, run, seed, None).await
    }

    /// Starts run `run` of `plan` (durable when `durable` is given: journaled, or resumed).
    /// Refuses a run whose pools need more than the runtime's capacity (runs spread over a
    /// cluster are placed elsewhere and not checked here).
    pub fn check_capacity(&self, plan: &Plan) -> Result<(), WorkflowError> {
        if self.dispatcher().is_some() {
            return Ok(());
        }
        let capacity = self.inner.capacity;
        match super::resources::first_overflow(&plan.pools, capacity) {
            None => Ok(()),
            Some((pool, needs, total)) => Err(WorkflowError::InsufficientResources {
                count: plan.pools.get(&pool).map_or(0, |p| p.count),
                pool,
                needs,
                total,
                capacity,
            }),
        }
    }

    pub(crate) async fn spawn_run(
        &self,
        plan: Arc<Plan>,
        run: RunId,
        seed: u64,
        durable: Option<super::actor::DurableArgs>,
    ) -> Result<WorkflowHandle, WorkflowError> {
        if self.is_shutting_down() {
            return Err(WorkflowError::ShuttingDown);
        }
        self.check_capacity(&plan)?;
        let (tx, rx) = oneshot::channel();
        let failure: Arc<Mutex<Option<(String, crate::error::SpawnError)>>> = Arc::default();
        let args = Arc::new(Mutex::new(Some(WorkflowArgs {
            runtime: self.clone(),
            plan,
            run: run.clone(),
            done: tx,
            seed,
            failure: failure.clone(),
            durable,
        })));
        let actor_slot: Arc<Mutex<Option<ActorRef<WorkflowMsg>>>> = Arc::default();
        let slot = actor_slot.clone();
        // A temporary child of the `workflows` supervisor: a crashed run is reported, not rerun.
        let spec = ChildSpec::new(run.as_str(), Restart::Temporary, move |sup| {
            let args = args.lock().take();
            let slot = slot.clone();
            async move {
                let args = args.ok_or("a workflow run starts only once")?;
                let (actor, _) = Actor::spawn_linked(None, WorkflowActor, args, sup)
                    .await
                    .map_err(crate::supervision::startup_reason)?;
                *slot.lock() = Some(actor.clone());
                Ok(actor.get_cell())
            }
        });
        self.inner
            .workflows
            .start_child(spec)
            .await
            .map_err(|reason| match failure.lock().take() {
                Some((pool, error)) => WorkflowError::PoolStart {
                    run: run.clone(),
                    pool,
                    error,
                },
                None => WorkflowError::StartFailed {
                    run: run.clone(),
                    error: reason,
                },
            })?;
        let actor = actor_slot
            .lock()
            .take()
            .ok_or_else(|| WorkflowError::Lost(run.clone()))?;
        Ok(WorkflowHandle {
            run,
            actor,
            done: rx,
        })
    }
}
