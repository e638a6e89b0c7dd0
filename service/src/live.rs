//! Attempts running now, from the runtime's event bus. The journal writes an attempt's start
//! only with the run's next write (at the latest the attempt's result), so a long attempt would
//! look pending in the journal until it ends; for the runs this process drives, the status
//! shows it running from the bus's `TaskStarted` instead.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use tokio::sync::broadcast::error::RecvError;
use troupe_runtime::store::Timestamp;
use troupe_runtime::{EventKind, RunId};

use crate::state::{lock, Service};

/// The attempts of one run started and not ended: task id → (attempt, when).
pub(crate) type Running = HashMap<String, (u32, Timestamp)>;

/// Follows the runtime's bus for `svc` (when called inside a tokio runtime), until the service
/// is dropped or the runtime's bus closes.
pub(crate) fn follow(svc: &Arc<Service>) {
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    let mut bus = svc.runtime.subscribe();
    let weak: Weak<Service> = Arc::downgrade(svc);
    tokio::spawn(async move {
        loop {
            let event = match bus.recv().await {
                Ok(e) => e,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            };
            let Some(svc) = weak.upgrade() else { return };
            let Some(run) = event.workflow.clone() else {
                continue;
            };
            let mut live = lock(&svc.live);
            match (&event.kind, &event.task) {
                (EventKind::TaskStarted { attempt }, Some(task)) => {
                    live.entry(run)
                        .or_default()
                        .insert(task.to_string(), (*attempt, Timestamp::now()));
                }
                (EventKind::TaskCompleted { .. } | EventKind::TaskFailed { .. }, Some(task)) => {
                    if let Some(r) = live.get_mut(&run) {
                        r.remove(task.as_str());
                    }
                }
                (
                    EventKind::WorkflowCompleted { .. }
                    | EventKind::WorkflowFailed { .. }
                    | EventKind::WorkflowCancelled,
                    _,
                ) => {
                    live.remove(&run);
                }
                _ => {}
            }
        }
    });
}

impl Service {
    /// The attempts of `run` this process has started and not seen end.
    pub(crate) fn running(&self, run: &RunId) -> Running {
        lock(&self.live).get(run).cloned().unwrap_or_default()
    }
}
