//! Controlling a run from anywhere: pause, resume, cancel and signals, through the run's inbox
//! in the store ([`post_request`]), and the driver's side that takes them (a poller feeding
//! the workflow actor).
//!
//! Any process that opens the store may post; the process driving the run polls the inbox
//! every [`Durability::inbox_poll`](super::Durability::inbox_poll) (SQLite has no
//! cross-process notification; 100 ms by default), journals what the request causes
//! (`paused`, `resumed`, `cancelled`, `signal_received`) and then acknowledges it. A request
//! posted while nobody drives the run waits in the inbox and is applied when the run is
//! resumed, before any new attempt starts. In the same process,
//! [`RunControl`](crate::workflow::RunControl) reaches the workflow actor directly.
//!
//! Durable timers (a `sleep` task, a signal wait's timeout) are journaled as `timer_set` with
//! their due time, named `sleep/TASK/ATTEMPT` or `signal_timeout/TASK/ATTEMPT`; a resumed run
//! waits only for the time left.

use std::sync::Arc;
use std::time::Duration;

use ractor::ActorRef;

use super::DurableError;
use crate::ids::{RunId, TaskId};
use crate::store::{NewRunRequest, RequestKind, RunRequest, Store, Timestamp};
use crate::workflow::actor::{ControlMsg, WorkflowMsg};

/// The timer kind of a `sleep` task.
pub(crate) const SLEEP: &str = "sleep";
/// The timer kind of a signal wait's timeout.
pub(crate) const SIGNAL_TIMEOUT: &str = "signal_timeout";

/// The journaled name of a timer: `KIND/TASK/ATTEMPT`.
pub(crate) fn timer_name(kind: &str, task: &TaskId, attempt: u32) -> String {
    format!("{kind}/{task}/{attempt}")
}

/// The kind, task and attempt of a timer named by [`timer_name`].
pub(crate) fn parse_timer(name: &str) -> Option<(&str, TaskId, u32)> {
    let (kind, rest) = name.split_once('/')?;
    let (task, attempt) = rest.rsplit_once('/')?;
    Some((kind, TaskId::new(task), attempt.parse().ok()?))
}

/// Posts `kind` to run `run`'s inbox in `store` on behalf of `by`; returns once the request is
/// durable. The run's driver applies it within its inbox poll interval (or, when nobody drives
/// the run, once it is resumed). [`DurableError::NotFound`] for an unknown run,
/// [`DurableError::Finished`] for a run that is over, [`DurableError::UnknownSignal`] for a
/// signal none of its tasks awaits.
pub async fn post_request(
    store: &dyn Store,
    run: &RunId,
    kind: RequestKind,
    by: Option<String>,
) -> Result<RunRequest, DurableError> {
    let record = store
        .get_run(run.clone())
        .await?
        .ok_or_else(|| DurableError::NotFound {
            run: run.clone(),
            store: store.location().to_string(),
        })?;
    if record.status.is_finished() {
        return Err(DurableError::Finished {
            run: run.clone(),
            status: record.status,
        });
    }
    if let RequestKind::Signal { name, .. } = &kind {
        let awaited = awaited_signals(&record.definition, run);
        if awaited.as_ref().is_some_and(|a| !a.contains(name)) {
            return Err(DurableError::UnknownSignal {
                run: run.clone(),
                name: name.clone(),
                awaited: awaited.unwrap_or_default(),
            });
        }
    }
    let request = NewRunRequest {
        run: run.clone(),
        kind,
        by,
        at: Timestamp::now(),
    };
    Ok(store.post_request(request).await?)
}

/// The signals the tasks of a stored definition await (`None` if it does not parse: then
/// nothing is refused here).
fn awaited_signals(definition: &str, run: &RunId) -> Option<Vec<String>> {
    let spec = crate::workflow::file::parse_workflow(definition, &format!("run {run}")).ok()?;
    let mut names: Vec<String> = spec
        .tasks
        .iter()
        .filter_map(|t| match &t.wait {
            Some(crate::workflow::spec::TaskWait::Signal(name)) => Some(name.clone()),
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    Some(names)
}

/// Sends the signal `name` with `value` to run `run` (see [`post_request`]).
pub async fn signal(
    store: &dyn Store,
    run: &RunId,
    name: impl Into<String>,
    value: serde_json::Value,
) -> Result<RunRequest, DurableError> {
    let kind = RequestKind::Signal {
        name: name.into(),
        value,
    };
    post_request(store, run, kind, None).await
}

/// Feeds the run's inbox to its workflow actor: every `every`, the requests after `seen` not
/// fed yet, in order. Stops when the actor is gone (or the handle is aborted).
pub(crate) fn poll_inbox(
    store: Arc<dyn Store>,
    run: RunId,
    actor: ActorRef<WorkflowMsg>,
    every: Duration,
    mut seen: u64,
) -> tokio::task::AbortHandle {
    let task = async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let pending = match store.pending_requests(run.clone()).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(%run, error = %e, "cannot read the run's inbox");
                    continue;
                }
            };
            for request in pending {
                if request.id <= seen {
                    continue;
                }
                seen = request.id;
                let msg = WorkflowMsg::Control(ControlMsg::Request {
                    kind: request.request.kind,
                    by: request.request.by,
                    ack: Some(request.id),
                    done: None,
                });
                if actor.send_message(msg).is_err() {
                    return;
                }
            }
        }
    };
    tokio::spawn(task).abort_handle()
}

/// Cancels run `run` that no process drives (interrupted, or paused by a driver that is gone):
/// takes its lease as `durability.owner`, journals `cancelled` and `run_finished`, and marks it
/// cancelled. [`StoreError::LeaseHeld`](crate::store::StoreError::LeaseHeld) while a live
/// driver holds it: post a [`RequestKind::Cancel`] instead.
pub async fn cancel_undriven(
    run: &RunId,
    durability: &super::Durability,
) -> Result<(), DurableError> {
    use crate::store::RunStatus;
    use crate::workflow::journal::{append_events, FinalStatus, JournalEvent};
    let store = durability.store.as_ref();
    super::unfinished_run(store, run).await?;
    let lease = super::acquire(run, durability).await?;
    let now = Timestamp::now();
    let events = [
        JournalEvent::Cancelled {
            by: Some(durability.owner.clone()),
            reason: None,
        },
        JournalEvent::RunFinished {
            status: FinalStatus::Cancelled,
            error: None,
        },
    ];
    let result = match append_events(store, run, Some(lease.token), now, &events).await {
        Ok(_) => store
            .set_run_status(run.clone(), RunStatus::Cancelled, now)
            .await
            .map_err(DurableError::from),
        Err(e) => Err(e.into()),
    };
    let _ = store.release_lease(lease).await;
    result
}
