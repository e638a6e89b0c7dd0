//! A workflow definition as plain data: built in Rust with [`WorkflowSpec::builder`] or parsed
//! from a YAML file ([`crate::workflow::file`]). Validation and planning happen in
//! [`crate::workflow::plan`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::ids::TaskId;
use crate::policy::{CircuitBreakerConfig, RetryPolicy};

pub use super::coordination::{Coordination, GraphPart, Topic};
pub use super::resources::{Capacity, Resources};
pub use super::saga::{Compensation, SagaPattern};

/// Where a definition element came from in its file (1-based line and column), for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SourcePos {
    /// 1-based line; 0 when the element was not read from a file.
    pub line: u64,
    /// 1-based column; 0 when the element was not read from a file.
    pub column: u64,
}

impl SourcePos {
    /// Whether a real position is known.
    pub fn is_known(&self) -> bool {
        self.line > 0
    }
}

impl std::fmt::Display for SourcePos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_known() {
            write!(f, "line {}, column {}", self.line, self.column)
        } else {
            f.write_str("(built in code)")
        }
    }
}

/// A complete workflow definition.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowSpec {
    /// The workflow's name.
    pub name: String,
    /// Its version string (informational).
    pub version: String,
    /// The orchestration pattern: `dag` (the runtime's own), or a registered pattern kind
    /// `pattern.<name>` named by `<name>` (`supervisor`, `swarm`, ... once the patterns are
    /// registered). Anything but `dag` adds an implicit pool named [`PATTERN_POOL`] of kind
    /// `pattern.<name>` that tasks without an `agent` run on (see [`crate::workflow`]).
    pub pattern: Option<String>,
    /// Where the pattern was named (its `pattern:` block when there is one), for messages.
    pub pattern_pos: SourcePos,
    /// The pattern's configuration (the file's `pattern:` block). Its `members` default to the
    /// workflow's `agents`.
    pub pattern_config: Option<Value>,
    /// Agent pools by name.
    pub agents: BTreeMap<String, PoolSpec>,
    /// The tasks, in definition order.
    pub tasks: Vec<TaskSpec>,
    /// Fault tolerance settings.
    pub fault_tolerance: FaultTolerance,
    /// How the run coordinates: which event topics it publishes, which parts the DAG
    /// schedules (the file's `coordination:` block); `None` when not given.
    pub coordination: Option<Coordination>,
    /// Non-fatal remarks found while reading the definition (fields parsed but not acted on).
    pub warnings: Vec<String>,
    /// The parsed file it was read from, journaled with a durable run's submission so that a
    /// resume need not parse the YAML again.
    pub(crate) tree: super::file::SourceTree,
}

/// A pool of agents of one kind that tasks are routed to.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSpec {
    /// The agent kind (as registered on the runtime).
    pub kind: String,
    /// How many agents the pool runs (at least 1).
    pub count: usize,
    /// Capabilities the agents advertise (used by patterns for routing).
    pub capabilities: Vec<String>,
    /// The kind's configuration, handed to its factory.
    pub config: Value,
    /// What each agent of the pool needs (checked against the runtime's [`Capacity`]).
    pub resources: Option<Resources>,
    /// Where the pool was defined.
    pub pos: SourcePos,
    /// The mailbox capacity of each of its agents (the file's `mailbox`; `None`: the kind's,
    /// else the runtime's default).
    pub mailbox: Option<usize>,
}

/// One task of a workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    /// Unique id within the workflow.
    pub id: TaskId,
    /// The pool the task runs on: a name from [`WorkflowSpec::agents`], or a registered kind name
    /// (an implicit pool of one agent).
    pub agent: String,
    /// Tasks whose outputs this task takes as input.
    pub depends_on: Vec<TaskId>,
    /// Deadline for one attempt (for a parallel task: for each unit).
    pub timeout: Option<Duration>,
    /// How failed attempts are retried.
    pub retry: RetryPolicy,
    /// Fan the input array out over the pool, one call per item, results gathered in order.
    pub parallel: bool,
    /// When it finally fails, the workflow goes on and dependents receive `null` for its output.
    pub optional: bool,
    /// Input of a task with no dependencies.
    pub input: Option<Value>,
    /// What undoes the task's effect when a saga rolls back (see [`crate::workflow::saga`]).
    pub compensate: Option<Compensation>,
    /// Where the task was defined.
    pub pos: SourcePos,
    /// Instead of calling an agent, the task waits: for a signal, or for a durable timer
    /// (`agent` is then empty).
    pub wait: Option<TaskWait>,
    /// Its priority, 0 (lowest) to [`MAX_PRIORITY`] (the workflow file's `priority`; default
    /// [`DEFAULT_PRIORITY`]): where its calls wait for an agent or a node's task slot, higher
    /// priorities go first, and idle nodes steal them first.
    pub priority: u8,
}

/// The highest task priority.
pub const MAX_PRIORITY: u8 = 9;

/// The priority of a task that names none: the middle, so a task can be put before or after.
pub const DEFAULT_PRIORITY: u8 = 5;

/// What a task without an agent waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskWait {
    /// The named signal (`await_signal: NAME`): its value is the task's output. The task's
    /// `timeout` bounds the wait; a timeout fails the attempt (class `timeout`, retryable).
    Signal(String),
    /// A durable timer (`sleep: 10m`): the task completes once it fires, with its input as
    /// its output. The due time is journaled, so a resumed run waits only for what is left.
    Sleep(Duration),
}

/// Fault tolerance settings of a workflow.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultTolerance {
    /// A circuit breaker per agent pool, when set.
    pub circuit_breaker: Option<CircuitBreakerConfig>,
    /// Saga rollback: run the compensations of completed tasks when the run fails.
    pub saga: Option<SagaPattern>,
}

/// The name of the implicit pool that runs the workflow's orchestration pattern.
pub const PATTERN_POOL: &str = "pattern";

impl TaskSpec {
    /// A task with defaults: no dependencies, no timeout, no retries, not parallel.
    pub fn new(id: impl Into<TaskId>, agent: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            agent: agent.into(),
            depends_on: Vec::new(),
            timeout: None,
            retry: RetryPolicy::none(),
            parallel: false,
            optional: false,
            input: None,
            compensate: None,
            pos: SourcePos::default(),
            wait: None,
            priority: DEFAULT_PRIORITY,
        }
    }

    /// Sets its priority (capped at [`MAX_PRIORITY`]).
    pub fn priority(mut self, priority: u8) -> Self {
        self.priority = priority.min(MAX_PRIORITY);
        self
    }

    /// A task that waits for the signal `name` (delivered with
    /// [`WorkflowHandle::signal`](crate::workflow::WorkflowHandle::signal) or `troupe signal`);
    /// the signal's value is its output. Bound the wait with [`Self::timeout`].
    pub fn await_signal(id: impl Into<TaskId>, name: impl Into<String>) -> Self {
        Self {
            wait: Some(TaskWait::Signal(name.into())),
            ..Self::new(id, "")
        }
    }

    /// A task that waits `duration` on a durable timer, then passes its input on as its output.
    pub fn sleep(id: impl Into<TaskId>, duration: Duration) -> Self {
        Self {
            wait: Some(TaskWait::Sleep(duration)),
            ..Self::new(id, "")
        }
    }

    /// Adds dependencies.
    pub fn after<I, T>(mut self, deps: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<TaskId>,
    {
        self.depends_on.extend(deps.into_iter().map(Into::into));
        self
    }

    /// Sets the per-attempt timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Marks the task as a parallel fan-out over its input array.
    pub fn parallel(mut self) -> Self {
        self.parallel = true;
        self
    }

    /// Marks the task optional.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// Sets the input of a task without dependencies.
    pub fn input(mut self, input: Value) -> Self {
        self.input = Some(input);
        self
    }

    /// Sets the task's compensation (run when a saga rolls back).
    pub fn compensate(mut self, compensation: Compensation) -> Self {
        self.compensate = Some(compensation);
        self
    }
}

impl PoolSpec {
    /// A pool of `count` agents of `kind` with a null config.
    pub fn new(kind: impl Into<String>, count: usize) -> Self {
        Self {
            kind: kind.into(),
            count,
            capabilities: Vec::new(),
            config: Value::Null,
            resources: None,
            pos: SourcePos::default(),
            mailbox: None,
        }
    }

    /// Bounds each agent's mailbox at `capacity` requests.
    pub fn mailbox(mut self, capacity: usize) -> Self {
        self.mailbox = Some(capacity.max(1));
        self
    }

    /// Sets the kind's configuration.
    pub fn config(mut self, config: Value) -> Self {
        self.config = config;
        self
    }

    /// Sets what each agent of the pool needs.
    pub fn resources(mut self, resources: Resources) -> Self {
        self.resources = Some(resources);
        self
    }
}

impl WorkflowSpec {
    /// The parsed tree of the file this spec was read from, as a durable run's `submitted`
    /// event journals it (`None` for a spec built in code).
    pub fn packed_tree(&self) -> Option<super::file::PackedTree> {
        self.tree.packed()
    }

    /// Starts a definition in code.
    pub fn builder(name: impl Into<String>) -> WorkflowBuilder {
        WorkflowBuilder {
            spec: WorkflowSpec {
                name: name.into(),
                version: "1".into(),
                pattern: None,
                pattern_pos: SourcePos::default(),
                pattern_config: None,
                agents: BTreeMap::new(),
                tasks: Vec::new(),
                fault_tolerance: FaultTolerance::default(),
                coordination: None,
                warnings: Vec::new(),
                tree: Default::default(),
            },
        }
    }
}

/// Builds a [`WorkflowSpec`] in code.
#[derive(Debug, Clone)]
pub struct WorkflowBuilder {
    spec: WorkflowSpec,
}

impl WorkflowBuilder {
    /// Adds an agent pool.
    pub fn pool(mut self, name: impl Into<String>, pool: PoolSpec) -> Self {
        self.spec.agents.insert(name.into(), pool);
        self
    }

    /// Adds a task.
    pub fn task(mut self, task: TaskSpec) -> Self {
        self.spec.tasks.push(task);
        self
    }

    /// Orchestrates the workflow with pattern `name` configured by `config` (its `members`
    /// default to the workflow's pools). Tasks whose agent is [`PATTERN_POOL`] run on it.
    pub fn pattern(mut self, name: impl Into<String>, config: Value) -> Self {
        self.spec.pattern = Some(name.into());
        self.spec.pattern_config = Some(config);
        self
    }

    /// Sets a circuit breaker on every pool.
    pub fn circuit_breaker(mut self, config: CircuitBreakerConfig) -> Self {
        self.spec.fault_tolerance.circuit_breaker = Some(config);
        self
    }

    /// Turns saga rollback on: a run that fails compensates its completed tasks.
    pub fn saga(mut self, saga: SagaPattern) -> Self {
        self.spec.fault_tolerance.saga = Some(saga);
        self
    }

    /// Finishes the definition (validated when submitted).
    pub fn build(self) -> WorkflowSpec {
        self.spec
    }
}
