//! A workflow definition as plain data: built in Rust with [`WorkflowSpec::builder`] or parsed
//! from a YAML file ([`crate::workflow::file`]). Validation and planning happen in
//! [`crate::workflow::plan`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::ids::TaskId;
use crate::policy::{CircuitBreakerConfig, RetryPolicy};

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
    /// The orchestration pattern (`dag`, `supervisor`, `hierarchical`, `handoff`, `swarm`,
    /// `network`, `custom`). Anything but `dag` adds an implicit pool named [`PATTERN_POOL`] of
    /// kind `pattern.<name>` that tasks without an `agent` run on (see [`crate::workflow`]).
    pub pattern: Option<String>,
    /// The pattern's configuration (the file's `pattern:` block). Its `members` default to the
    /// workflow's `agents`.
    pub pattern_config: Option<Value>,
    /// Agent pools by name.
    pub agents: BTreeMap<String, PoolSpec>,
    /// The tasks, in definition order.
    pub tasks: Vec<TaskSpec>,
    /// Fault tolerance settings.
    pub fault_tolerance: FaultTolerance,
    /// Non-fatal remarks found while reading the definition (fields parsed but not acted on).
    pub warnings: Vec<String>,
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
    /// Where the pool was defined.
    pub pos: SourcePos,
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
    /// Where the task was defined.
    pub pos: SourcePos,
}

/// Fault tolerance settings of a workflow.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultTolerance {
    /// A circuit breaker per agent pool, when set.
    pub circuit_breaker: Option<CircuitBreakerConfig>,
}

/// The name of the implicit pool that runs the workflow's orchestration pattern.
pub const PATTERN_POOL: &str = "pattern";

/// The orchestration pattern names a definition may use.
pub const KNOWN_PATTERNS: &[&str] = &[
    "supervisor",
    "hierarchical",
    "handoff",
    "swarm",
    "network",
    "custom",
    "dag",
];

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
            pos: SourcePos::default(),
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
}

impl PoolSpec {
    /// A pool of `count` agents of `kind` with a null config.
    pub fn new(kind: impl Into<String>, count: usize) -> Self {
        Self {
            kind: kind.into(),
            count,
            capabilities: Vec::new(),
            config: Value::Null,
            pos: SourcePos::default(),
        }
    }

    /// Sets the kind's configuration.
    pub fn config(mut self, config: Value) -> Self {
        self.config = config;
        self
    }
}

impl WorkflowSpec {
    /// Starts a definition in code.
    pub fn builder(name: impl Into<String>) -> WorkflowBuilder {
        WorkflowBuilder {
            spec: WorkflowSpec {
                name: name.into(),
                version: "1".into(),
                pattern: None,
                pattern_config: None,
                agents: BTreeMap::new(),
                tasks: Vec::new(),
                fault_tolerance: FaultTolerance::default(),
                warnings: Vec::new(),
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

    /// Finishes the definition (validated when submitted).
    pub fn build(self) -> WorkflowSpec {
        self.spec
    }
}
