//! Submitting workflows to a runtime, and the handle to a running one.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;
use ractor::{Actor, ActorRef};
use tokio::sync::oneshot;

use super::actor::{WorkflowActor, WorkflowArgs, WorkflowMsg};
use super::plan::{plan, Plan, PlanErrors};
use super::report::WorkflowReport;
use super::spec::WorkflowSpec;
use crate::ids::RunId;
use crate::runtime::Runtime;
use crate::supervision::{ChildSpec, Restart};

/// Why a workflow could not run to a report.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// The definition is invalid; every problem is listed.
    #[error("invalid workflow:\n{0}")]
    Invalid(PlanErrors),
    /// The run could not start (for example an agent pool's kind refused its config).
    #[error("workflow {run} failed to start: {reason}")]
    StartFailed {
        /// The run.
        run: RunId,
        /// Why.
        reason: String,
    },
    /// The workflow actor died without a report (a bug; its crash is in the event stream).
    #[error("workflow {0} ended without a report")]
    Lost(RunId),
    /// The runtime is shutting down.
    #[error("runtime is shutting down")]
    ShuttingDown,
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
        let (tx, rx) = oneshot::channel();
        let seed = self.inner.runs.load(Ordering::Relaxed);
        let args = Arc::new(Mutex::new(Some(WorkflowArgs {
            runtime: self.clone(),
            plan,
            run: run.clone(),
            done: tx,
            seed,
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
                    .map_err(|e| e.to_string())?;
                *slot.lock() = Some(actor.clone());
                Ok(actor.get_cell())
            }
        });
        self.inner
            .workflows
            .start_child(spec)
            .await
            .map_err(|reason| WorkflowError::StartFailed {
                run: run.clone(),
                reason,
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
