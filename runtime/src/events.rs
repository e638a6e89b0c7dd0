//! The typed event stream. Every runtime has its own bus; subscribers get every event published
//! after they subscribed. The same facts go to `tracing` (target `troupe::events`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use crate::ids::{AgentId, RunId, TaskId};

/// One thing that happened on a runtime.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Position in this runtime's stream (gap-free, from 1).
    pub seq: u64,
    /// Time since the runtime started.
    pub at: Duration,
    /// The workflow run it concerns.
    pub workflow: Option<RunId>,
    /// The task it concerns.
    pub task: Option<TaskId>,
    /// The agent it concerns.
    pub agent: Option<AgentId>,
    /// What happened.
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// A workflow run started.
    WorkflowStarted {
        /// The workflow's name.
        name: String,
        /// Number of tasks.
        tasks: usize,
    },
    /// A workflow run succeeded (optional tasks may have failed).
    WorkflowCompleted {
        /// Wall time of the run.
        duration: Duration,
    },
    /// A workflow run failed.
    WorkflowFailed {
        /// The cause, naming the task.
        cause: String,
    },
    /// A workflow run was cancelled.
    WorkflowCancelled,
    /// A task attempt started.
    TaskStarted {
        /// 1-based attempt number.
        attempt: u32,
    },
    /// A task succeeded.
    TaskCompleted {
        /// The attempt that succeeded.
        attempt: u32,
        /// Duration of that attempt.
        duration: Duration,
    },
    /// A task attempt failed.
    TaskFailed {
        /// The attempt that failed.
        attempt: u32,
        /// Why.
        error: String,
        /// Whether no further attempt follows.
        final_attempt: bool,
    },
    /// A failed task will be tried again.
    TaskRetried {
        /// The attempt that comes next.
        next_attempt: u32,
        /// The wait before it.
        delay: Duration,
    },
    /// A task will not run because a task it depends on failed or the run was cancelled.
    TaskSkipped {
        /// Why.
        reason: String,
    },
    /// An agent started for the first time.
    AgentStarted,
    /// An agent started again after a failure.
    AgentRestarted {
        /// Restarts so far.
        restarts: u64,
    },
    /// An agent stopped normally.
    AgentStopped,
    /// An agent (or other supervised child) crashed.
    AgentFailed {
        /// The supervisor it belongs to.
        supervisor: String,
        /// The crash reason.
        reason: String,
    },
    /// A supervisor exceeded its restart intensity and gave up, failing to its parent.
    SupervisorEscalated {
        /// The supervisor's name.
        supervisor: String,
        /// Why.
        reason: String,
    },
    /// The root supervisor itself gave up: the runtime no longer supervises anything.
    RootFailed {
        /// Why.
        reason: String,
    },
    /// A pool's circuit breaker opened.
    CircuitOpened {
        /// The pool.
        pool: String,
    },
    /// A pool's circuit breaker closed again.
    CircuitClosed {
        /// The pool.
        pool: String,
    },
}

/// A subscription to a runtime's events.
pub type EventStream = broadcast::Receiver<Event>;

/// The publishing side of a runtime's event stream.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<BusInner>,
}

struct BusInner {
    tx: broadcast::Sender<Event>,
    seq: AtomicU64,
    started: Instant,
    node: String,
}

impl EventBus {
    /// A bus keeping up to `capacity` undelivered events per subscriber (a slower subscriber
    /// sees `RecvError::Lagged` with the number it missed).
    pub fn new(node: &str, capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(16));
        Self {
            inner: Arc::new(BusInner {
                tx,
                seq: AtomicU64::new(0),
                started: Instant::now(),
                node: node.to_string(),
            }),
        }
    }

    /// A new subscription.
    pub fn subscribe(&self) -> EventStream {
        self.inner.tx.subscribe()
    }

    /// Publishes an event.
    pub fn emit(
        &self,
        workflow: Option<&RunId>,
        task: Option<&TaskId>,
        agent: Option<&AgentId>,
        kind: EventKind,
    ) {
        let event = Event {
            seq: self.inner.seq.fetch_add(1, Ordering::Relaxed) + 1,
            at: self.inner.started.elapsed(),
            workflow: workflow.cloned(),
            task: task.cloned(),
            agent: agent.cloned(),
            kind,
        };
        trace_event(&self.inner.node, &event);
        let _ = self.inner.tx.send(event);
    }

    /// Publishes an event about an agent.
    pub fn agent(&self, agent: &AgentId, kind: EventKind) {
        self.emit(None, None, Some(agent), kind);
    }
}

fn trace_event(node: &str, e: &Event) {
    let workflow = e.workflow.as_ref().map(RunId::as_str);
    let task = e.task.as_ref().map(TaskId::as_str);
    let agent = e.agent.as_ref().map(AgentId::as_str);
    match &e.kind {
        EventKind::WorkflowFailed { .. }
        | EventKind::SupervisorEscalated { .. }
        | EventKind::RootFailed { .. } => {
            tracing::error!(target: "troupe::events", node, workflow, task, agent, seq = e.seq, event = ?e.kind)
        }
        EventKind::TaskFailed { .. }
        | EventKind::AgentFailed { .. }
        | EventKind::CircuitOpened { .. } => {
            tracing::warn!(target: "troupe::events", node, workflow, task, agent, seq = e.seq, event = ?e.kind)
        }
        _ => {
            tracing::debug!(target: "troupe::events", node, workflow, task, agent, seq = e.seq, event = ?e.kind)
        }
    }
}
