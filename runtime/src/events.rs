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
#[non_exhaustive]
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
    /// A workflow run was paused: no new attempt starts.
    WorkflowPaused,
    /// A paused workflow run was resumed.
    WorkflowResumed,
    /// A workflow run received a signal (its value is in the run's journal).
    SignalReceived {
        /// The signal's name.
        name: String,
    },
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
        /// The error's class (`timeout`, `agent_failed`, `task_crashed`, `permanent`, ...):
        /// the `class` label of `troupe_task_failures_total`.
        class: String,
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
    /// An agent (or other supervised child) crashed, or failed to start: the crash report,
    /// one line in `tracing` (target `troupe::crash`).
    AgentFailed {
        /// The supervisor it belongs to.
        supervisor: String,
        /// The crash reason (a panic's message).
        reason: String,
        /// What the supervisor did about it (`restarted`, `restarting in 50ms`, `escalated: ...`).
        action: String,
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
    /// A saga rollback started an attempt of the task's compensation.
    CompensationStarted {
        /// 1-based attempt of the compensation.
        attempt: u32,
    },
    /// The task's compensation succeeded.
    CompensationCompleted {
        /// The attempt that succeeded.
        attempt: u32,
    },
    /// An attempt of the task's compensation failed.
    CompensationFailed {
        /// The attempt that failed.
        attempt: u32,
        /// Why.
        error: String,
        /// Whether no further attempt follows (the rollback goes on without it).
        final_attempt: bool,
    },
    /// Work was given up and kept in the store's dead-letter table (`troupe dlq list`).
    DeadLettered {
        /// The letter's id in the store.
        id: u64,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        error: String,
    },
    /// A task's output (published when the run's `coordination.event_driven` lists
    /// `data_updates`).
    TaskOutput {
        /// The attempt that produced it.
        attempt: u32,
        /// The output.
        output: serde_json::Value,
    },
    /// The agents that serve one pool of a run (published when the run's
    /// `coordination.event_driven` lists `agent_status`).
    AgentsAssigned {
        /// The pool.
        pool: String,
        /// Its agents (their lifecycle events name them).
        agents: Vec<AgentId>,
    },
    /// A language-model agent received one streamed token (a content delta), in order.
    LlmToken {
        /// The agent's call it belongs to (the call's idempotency key, or a per-agent counter).
        call: String,
        /// 0-based position of the delta within the call's reply.
        index: u64,
        /// The text of the delta.
        text: String,
    },
    /// A language-model agent's chat-completions call finished: the tokens it used. A call of
    /// a workflow task (its key `run/task/attempt[/item]`) carries the run and task in the
    /// event, so usage adds up per call, task and run.
    LlmUsage {
        /// The agent's call it belongs to (as in [`EventKind::LlmToken`]).
        call: String,
        /// The endpoint's model name.
        model: String,
        /// Tokens of the prompt.
        prompt_tokens: u64,
        /// Tokens of the completion.
        completion_tokens: u64,
        /// Their sum, as the endpoint reported it.
        total_tokens: u64,
    },
}

impl Event {
    /// The topic the event belongs to (see [`crate::workflow::coordination`]).
    pub fn topic(&self) -> crate::workflow::coordination::Topic {
        self.kind.topic()
    }
}

impl EventKind {
    /// The topic events of this kind belong to.
    pub fn topic(&self) -> crate::workflow::coordination::Topic {
        use crate::workflow::coordination::Topic;
        match self {
            Self::WorkflowStarted { .. }
            | Self::WorkflowCompleted { .. }
            | Self::WorkflowFailed { .. }
            | Self::WorkflowCancelled
            | Self::WorkflowPaused
            | Self::WorkflowResumed => Topic::WorkflowStatus,
            Self::TaskStarted { .. }
            | Self::TaskCompleted { .. }
            | Self::TaskFailed { .. }
            | Self::TaskRetried { .. }
            | Self::TaskSkipped { .. }
            | Self::SignalReceived { .. } => Topic::TaskStatus,
            Self::TaskOutput { .. } => Topic::DataUpdates,
            Self::CompensationStarted { .. }
            | Self::CompensationCompleted { .. }
            | Self::CompensationFailed { .. } => Topic::Compensation,
            Self::DeadLettered { .. } => Topic::DeadLetters,
            Self::AgentStarted
            | Self::AgentRestarted { .. }
            | Self::AgentStopped
            | Self::AgentFailed { .. }
            | Self::SupervisorEscalated { .. }
            | Self::RootFailed { .. }
            | Self::CircuitOpened { .. }
            | Self::CircuitClosed { .. }
            | Self::AgentsAssigned { .. }
            | Self::LlmToken { .. }
            | Self::LlmUsage { .. } => Topic::AgentStatus,
        }
    }
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
        | EventKind::CompensationFailed { .. }
        | EventKind::DeadLettered { .. }
        | EventKind::AgentFailed { .. }
        | EventKind::CircuitOpened { .. } => {
            tracing::warn!(target: "troupe::events", node, workflow, task, agent, seq = e.seq, event = ?e.kind)
        }
        _ => {
            tracing::debug!(target: "troupe::events", node, workflow, task, agent, seq = e.seq, event = ?e.kind)
        }
    }
}
