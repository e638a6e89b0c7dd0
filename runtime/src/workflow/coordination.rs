//! How a run coordinates (the file's `coordination:` block):
//!
//! ```yaml
//! coordination:
//!   type: hybrid                                  # hybrid, graph_based or event_driven
//!   event_driven: [agent_status, data_updates]    # event topics the run publishes
//!   graph_based: [task_flow, dependencies]        # what the DAG schedules
//! ```
//!
//! Every [`Event`](crate::Event) belongs to one [`Topic`] ([`Event::topic`](crate::Event::topic)),
//! so a subscriber can follow only the topics it wants. `event_driven` names the topics the run
//! publishes; what each name does:
//!
//! - `workflow_status`, `task_status`, `compensation`, `dead_letters`: always published (the
//!   run's own lifecycle; reports and progress need them). Listing them changes nothing.
//! - `agent_status`: when its pools start, the run publishes
//!   [`EventKind::AgentsAssigned`](crate::EventKind::AgentsAssigned) per pool, naming the agents
//!   that serve it, so a subscriber can follow their lifecycle events (started, restarted,
//!   failed, stopped, circuit breaker), which the runtime always publishes.
//! - `data_updates`: each completed task's output is published as
//!   [`EventKind::TaskOutput`](crate::EventKind::TaskOutput). Off unless listed (outputs can be
//!   large).
//!
//! `graph_based` names what the DAG schedules: `task_flow` (a task starts once its
//! dependencies are done) and `dependencies` (their outputs are its input). Troupe's DAG
//! always does both; a list that leaves one out gets a warning saying so.

use std::fmt;

/// How the run is coordinated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordination {
    /// The coordination style.
    pub style: CoordinationType,
    /// The event topics the run publishes (see the module docs).
    pub event_driven: Vec<Topic>,
    /// The parts the DAG schedules.
    pub graph_based: Vec<GraphPart>,
}

impl Coordination {
    /// Whether the run publishes `topic`'s opt-in events.
    pub fn publishes(&self, topic: Topic) -> bool {
        self.event_driven.contains(&topic)
    }
}

/// The `coordination.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordinationType {
    /// Tasks scheduled by the DAG, events published on the listed topics.
    Hybrid,
    /// Tasks scheduled by the DAG only (no opt-in topics).
    GraphBased,
    /// Events on the listed topics (tasks are still scheduled by the DAG).
    EventDriven,
}

impl CoordinationType {
    /// The names accepted in a file.
    pub const NAMES: &'static [&'static str] = &["hybrid", "graph_based", "event_driven"];

    /// The type named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "hybrid" => Some(Self::Hybrid),
            "graph_based" => Some(Self::GraphBased),
            "event_driven" => Some(Self::EventDriven),
            _ => None,
        }
    }
}

/// A family of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Topic {
    /// A run started, completed, failed or was cancelled.
    WorkflowStatus,
    /// A task started, completed, failed, was retried or skipped.
    TaskStatus,
    /// Agents started, restarted, failed or stopped; supervisors and circuit breakers; which
    /// agents serve a run.
    AgentStatus,
    /// Task outputs.
    DataUpdates,
    /// Saga compensations.
    Compensation,
    /// Work given up and kept in the dead-letter table.
    DeadLetters,
}

impl Topic {
    /// Every topic, in the order of [`Topic::name`]s in messages.
    pub const ALL: &'static [Topic] = &[
        Topic::WorkflowStatus,
        Topic::TaskStatus,
        Topic::AgentStatus,
        Topic::DataUpdates,
        Topic::Compensation,
        Topic::DeadLetters,
    ];

    /// The topic's name in a file.
    pub fn name(self) -> &'static str {
        match self {
            Topic::WorkflowStatus => "workflow_status",
            Topic::TaskStatus => "task_status",
            Topic::AgentStatus => "agent_status",
            Topic::DataUpdates => "data_updates",
            Topic::Compensation => "compensation",
            Topic::DeadLetters => "dead_letters",
        }
    }

    /// The topic named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.name() == name)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A part of the run that the DAG schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphPart {
    /// A task starts once its dependencies are done.
    TaskFlow,
    /// A task's input is its dependencies' outputs.
    Dependencies,
}

impl GraphPart {
    /// Every part.
    pub const ALL: &'static [GraphPart] = &[GraphPart::TaskFlow, GraphPart::Dependencies];

    /// The part's name in a file.
    pub fn name(self) -> &'static str {
        match self {
            GraphPart::TaskFlow => "task_flow",
            GraphPart::Dependencies => "dependencies",
        }
    }

    /// The part named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.name() == name)
    }
}
