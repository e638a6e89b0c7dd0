//! The workflow actor's control side: requests (pause, resume, cancel, signals) journaled
//! before the engine sees them, the inbox poller of a durable run, and the timers of waiting
//! tasks (a sleep's timer, a signal wait's timeout).

use ractor::ActorRef;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{WorkflowMsg, WorkflowState};
use crate::events::EventKind;
use crate::store::{RequestKind, RunStatus};
use crate::workflow::durable::{poll_inbox, timer_name, SIGNAL_TIMEOUT};
use crate::workflow::engine::{Command, TaskStatus};
use crate::workflow::journal::JournalEvent;

/// A workflow actor's control messages.
pub(crate) enum ControlMsg {
    /// A control request (from the run's inbox, `ack` being its id there, or in-process with
    /// `done` told once it is journaled and applied).
    Request {
        kind: RequestKind,
        by: Option<String>,
        ack: Option<u64>,
        done: Option<oneshot::Sender<()>>,
    },
    /// The timer of a sleep task's attempt fired.
    TimerDue { task: usize, attempt: u32 },
    /// A signal wait's attempt timed out.
    SignalTimeout { task: usize, attempt: u32 },
}

impl WorkflowState {
    /// Handles a control message.
    pub(super) async fn control(&mut self, myself: &ActorRef<WorkflowMsg>, msg: ControlMsg) {
        let commands = match msg {
            ControlMsg::Request {
                kind,
                by,
                ack,
                done,
            } => {
                self.request(myself, kind, by, ack, done).await;
                return;
            }
            ControlMsg::TimerDue { task, attempt } => self.engine.timer_fired(task, attempt),
            ControlMsg::SignalTimeout { task, attempt } => {
                self.signal_timed_out(task, attempt).await
            }
        };
        self.apply(myself, commands).await;
    }

    /// Applies the requests waiting in a durable run's inbox (posted while nobody drove it),
    /// then starts polling it. Called at the end of `post_start`, so no result, and hence no
    /// new attempt, comes before those requests are applied.
    pub(super) async fn start_inbox(&mut self, myself: &ActorRef<WorkflowMsg>) {
        let Some(recorder) = self.recorder.clone() else {
            return;
        };
        let store = recorder.store().clone();
        let run = recorder.run().clone();
        let mut seen = 0;
        match store.pending_requests(run.clone()).await {
            Ok(pending) => {
                for request in pending {
                    seen = request.id;
                    let r = request.request;
                    self.request(myself, r.kind, r.by, Some(request.id), None)
                        .await;
                }
            }
            Err(e) => tracing::warn!(%run, error = %e, "cannot read the run's inbox"),
        }
        if !self.engine.is_finished() {
            self.inbox = Some(poll_inbox(
                store,
                run,
                myself.clone(),
                self.inbox_poll,
                seen,
            ));
        }
    }

    /// Stops reading the inbox (the run is over or stopped).
    pub(super) fn stop_inbox(&mut self) {
        if let Some(inbox) = self.inbox.take() {
            inbox.abort();
        }
    }

    /// Carries out a request: a durable run journals it first (`paused`, `resumed`,
    /// `cancelled`, `signal_received`), then the engine applies it; an inbox request is then
    /// acknowledged, an in-process one told `done`. Requests that change nothing (pausing a
    /// paused run) are not journaled.
    pub(super) async fn request(
        &mut self,
        myself: &ActorRef<WorkflowMsg>,
        kind: RequestKind,
        by: Option<String>,
        ack: Option<u64>,
        done: Option<oneshot::Sender<()>>,
    ) {
        let paused = self.engine.is_paused();
        let changes = !self.engine.is_finished()
            && match &kind {
                RequestKind::Pause => !paused,
                RequestKind::Resume => paused,
                RequestKind::Cancel | RequestKind::Signal { .. } => true,
            };
        if changes {
            let commands = self.journal_and_apply(kind, by).await;
            self.apply(myself, commands).await;
        }
        if let (Some(id), Some(recorder)) = (ack, &self.recorder) {
            if let Err(e) = recorder.store().ack_requests(self.run.clone(), id).await {
                // Applied again after a resume, which every request tolerates.
                tracing::warn!(run = %self.run, error = %e, "cannot acknowledge a run request");
            }
        }
        // A run that was already over tells the caller so (by dropping `done`).
        if let (Some(done), false) = (done, self.engine.is_finished() && !changes) {
            let _ = done.send(());
        }
    }

    async fn journal_and_apply(&mut self, kind: RequestKind, by: Option<String>) -> Vec<Command> {
        let event = match &kind {
            RequestKind::Pause => JournalEvent::Paused { by },
            RequestKind::Resume => JournalEvent::Resumed { by },
            RequestKind::Cancel => JournalEvent::Cancelled { by, reason: None },
            RequestKind::Signal { name, value } => JournalEvent::SignalReceived {
                name: name.clone(),
                value: value.clone(),
            },
        };
        let status = match &kind {
            RequestKind::Pause => Some(RunStatus::Paused),
            RequestKind::Resume => Some(RunStatus::Running),
            _ => None,
        };
        if let Some(recorder) = &self.recorder {
            let mut written = recorder.note(&[event]).await;
            if let (Ok(()), Some(status)) = (&written, status) {
                written = recorder.set_status(status).await;
            }
            if let Err(e) = written {
                let cause = format!("the run's journal could not be written: {e}");
                return self.engine.abort(&cause);
            }
        }
        match kind {
            RequestKind::Pause => {
                self.emit(None, EventKind::WorkflowPaused);
                self.engine.pause()
            }
            RequestKind::Resume => {
                self.emit(None, EventKind::WorkflowResumed);
                self.engine.resume()
            }
            RequestKind::Cancel => self.engine.cancel(),
            RequestKind::Signal { name, value } => {
                let commands = self.engine.signal(&name, value);
                self.emit(None, EventKind::SignalReceived { name });
                commands
            }
        }
    }

    /// A signal wait's timeout fired: journaled (when it is still current), then the attempt
    /// fails under the task's retry rules.
    async fn signal_timed_out(&mut self, task: usize, attempt: u32) -> Vec<Command> {
        let current = self.engine.status(task) == TaskStatus::Running
            && self.engine.attempts(task) == attempt;
        if !current {
            return Vec::new();
        }
        if let Some(recorder) = &self.recorder {
            let id = &self.plan.spec.tasks[task].id;
            let timer = timer_name(SIGNAL_TIMEOUT, id, attempt);
            if let Err(e) = recorder.note(&[JournalEvent::TimerFired { timer }]).await {
                let cause = format!("the run's journal could not be written: {e}");
                return self.engine.abort(&cause);
            }
        }
        self.engine.signal_timed_out(task, attempt)
    }

    /// Carries out a waiting task's command: set its timer, or report its completion.
    pub(super) fn apply_wait(&mut self, myself: &ActorRef<WorkflowMsg>, command: Command) {
        match command {
            Command::Sleep {
                task,
                attempt,
                duration,
            } => {
                self.first_start[task].get_or_insert_with(Instant::now);
                self.emit(Some(task), EventKind::TaskStarted { attempt });
                myself.send_after(duration, move || {
                    WorkflowMsg::Control(ControlMsg::TimerDue { task, attempt })
                });
            }
            Command::AwaitSignal {
                task,
                attempt,
                timeout,
                ..
            } => {
                self.first_start[task].get_or_insert_with(Instant::now);
                self.emit(Some(task), EventKind::TaskStarted { attempt });
                if let Some(timeout) = timeout {
                    myself.send_after(timeout, move || {
                        WorkflowMsg::Control(ControlMsg::SignalTimeout { task, attempt })
                    });
                }
            }
            Command::Completed { task, attempt, .. } => {
                let now = Instant::now();
                self.ended[task] = Some(now);
                let duration = self.first_start[task].map_or_else(Default::default, |s| now - s);
                self.emit(Some(task), EventKind::TaskCompleted { attempt, duration });
            }
            _ => {}
        }
    }
}
