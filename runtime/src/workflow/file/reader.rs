//! Step 2 of reading a workflow file: the node tree -> a [`WorkflowSpec`], with every error
//! naming the file, the line, the column and the element it is about.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde_json::Value;

use super::tree::{to_json, Key, Kind, Node};
use super::{parse_duration, FileError};
use crate::ids::TaskId;
use crate::policy::{CircuitBreakerConfig, RetryOn, RetryPolicy};
use crate::workflow::spec::{
    FaultTolerance, PoolSpec, SourcePos, TaskSpec, TaskWait, WorkflowSpec, DEFAULT_PRIORITY,
    MAX_PRIORITY, PATTERN_POOL,
};

const WORKFLOW_FIELDS: &[&str] = &[
    "name",
    "version",
    "description",
    "orchestration_pattern",
    "pattern",
    "agents",
    "tasks",
    "fault_tolerance",
    "coordination",
    // Read by `troupe serve` (a cron schedule); ignored by the runtime.
    "schedule",
];
const POOL_FIELDS: &[&str] = &[
    "type",
    "count",
    "capabilities",
    "config",
    "resources",
    "mailbox",
];
const TASK_FIELDS: &[&str] = &[
    "id",
    "agent",
    "depends_on",
    "timeout",
    "retry_policy",
    "parallel",
    "optional",
    "input",
    "await_signal",
    "sleep",
    "compensate",
    "priority",
];
const RETRY_FIELDS: &[&str] = &[
    "max_attempts",
    "initial_backoff",
    "max_backoff",
    "multiplier",
    "jitter",
    "retry_on",
];

type Res<T> = Result<T, FileError>;

#[path = "extras.rs"]
mod extras;

/// Reads the tree rooted at `root`, parsed from `text`; `origin` names the file in messages.
pub(super) fn read(root: &Node, text: &str, origin: &str) -> Res<WorkflowSpec> {
    let reader = Reader {
        origin,
        text,
        warnings: RefCell::new(Vec::new()),
    };
    reader.document(root)
}

/// Walks the node tree, collecting warnings.
struct Reader<'a> {
    origin: &'a str,
    text: &'a str,
    warnings: RefCell<Vec<String>>,
}

/// The entries of a mapping whose keys were checked; `what` names it in messages (`task "a"`).
struct Fields<'r, 'n> {
    r: &'r Reader<'r>,
    what: &'r str,
    pos: SourcePos,
    entries: &'n [(Key, Node)],
}

/// One field's value, with what messages about it need.
#[derive(Clone, Copy)]
struct Field<'r, 'n> {
    r: &'r Reader<'r>,
    what: &'r str,
    name: &'n str,
    key_pos: SourcePos,
    node: &'n Node,
}

impl<'r, 'n> Fields<'r, 'n> {
    /// The field `name`; an explicit `null` counts as absent.
    fn get(&self, name: &str) -> Option<Field<'r, 'n>> {
        let (key, node) = self
            .entries
            .iter()
            .find(|(k, v)| k.name == name && !matches!(v.kind, Kind::Null))?;
        Some(Field {
            r: self.r,
            what: self.what,
            name: &key.name,
            key_pos: key.pos,
            node,
        })
    }

    fn req(&self, name: &str) -> Res<Field<'r, 'n>> {
        let missing = || format!("{}: missing field {name:?}", self.what);
        self.get(name)
            .ok_or_else(|| self.r.error(self.pos, missing()))
    }

    fn opt<T>(&self, name: &str, read: impl FnOnce(Field<'r, 'n>) -> Res<T>) -> Res<Option<T>> {
        self.get(name).map(read).transpose()
    }
}

impl Field<'_, '_> {
    fn fail(&self, message: impl fmt::Display) -> FileError {
        let (what, name) = (self.what, self.name);
        self.r
            .error(self.node.pos, format!("{what}: field {name:?}: {message}"))
    }

    fn expected(&self, expected: &str) -> FileError {
        self.fail(format!(
            "expected {expected}, found {}",
            self.node.kind.describe()
        ))
    }

    fn string(&self) -> Res<String> {
        match &self.node.kind {
            Kind::Str(s) => Ok(s.clone()),
            _ => Err(self.expected("a string")),
        }
    }

    /// A name or id: a non-empty string (integers are taken as their decimal text).
    fn name(&self) -> Res<String> {
        let name = match &self.node.kind {
            Kind::Str(s) => s.clone(),
            Kind::Int(_) | Kind::UInt(_) => to_json(self.node).to_string(),
            _ => return Err(self.expected("a name")),
        };
        match name.trim().is_empty() {
            true => Err(self.fail("must not be empty")),
            false => Ok(name),
        }
    }

    /// A list of names, or a single name as a list of one.
    fn names(&self) -> Res<Vec<String>> {
        match &self.node.kind {
            Kind::Seq(items) => items
                .iter()
                .map(|node| Field { node, ..*self }.name())
                .collect(),
            Kind::Str(_) | Kind::Int(_) | Kind::UInt(_) => Ok(vec![self.name()?]),
            _ => Err(self.expected("a list of names")),
        }
    }

    fn boolean(&self) -> Res<bool> {
        match self.node.kind {
            Kind::Bool(b) => Ok(b),
            _ => Err(self.expected("true or false")),
        }
    }

    fn whole(&self) -> Res<u64> {
        match self.node.kind {
            Kind::UInt(u) => Ok(u),
            Kind::Int(i) => Err(self.fail(format!("must not be negative, got {i}"))),
            _ => Err(self.expected("a whole number")),
        }
    }

    fn whole_u32(&self) -> Res<u32> {
        let n = self.whole()?;
        u32::try_from(n).map_err(|_| self.fail(format!("is too large: {n}")))
    }

    fn number(&self) -> Res<f64> {
        match self.node.kind {
            Kind::UInt(u) => Ok(u as f64),
            Kind::Int(i) => Ok(i as f64),
            Kind::Float(f, _) => Ok(f),
            _ => Err(self.expected("a number")),
        }
    }

    fn duration(&self) -> Res<Duration> {
        match &self.node.kind {
            Kind::UInt(u) => Ok(Duration::from_secs(*u)),
            Kind::Int(i) => Err(self.fail(format!("a duration must not be negative, got {i}"))),
            Kind::Float(f, _) => Duration::try_from_secs_f64(*f).map_err(|_| {
                self.fail(format!(
                    "a duration must be a number of seconds >= 0, got {f}"
                ))
            }),
            Kind::Str(s) => parse_duration(s).map_err(|m| self.fail(m)),
            _ => Err(self.expected("a number of seconds or a duration like \"30s\"")),
        }
    }

    fn retry_on(&self) -> Res<RetryOn> {
        match &self.node.kind {
            Kind::Str(s) if s == "retryable" => Ok(RetryOn::Retryable),
            Kind::Str(s) if s == "any" => Ok(RetryOn::Any),
            Kind::Seq(items) if !items.is_empty() => Ok(RetryOn::Classes(self.names()?)),
            _ => {
                Err(self.expected("\"retryable\", \"any\" or a non-empty list of failure classes"))
            }
        }
    }
}

impl Reader<'_> {
    fn error(&self, pos: SourcePos, message: impl fmt::Display) -> FileError {
        FileError::Invalid {
            origin: self.origin.to_string(),
            line: pos.line,
            column: pos.column,
            message: message.to_string(),
        }
    }

    fn warn(&self, pos: SourcePos, message: impl fmt::Display) {
        let line = format!("{}:{}:{}: {message}", self.origin, pos.line, pos.column);
        self.warnings.borrow_mut().push(line);
    }

    /// Checks that `node` is a mapping of `allowed` keys only.
    fn fields<'r, 'n>(
        &'r self,
        what: &'r str,
        node: &'n Node,
        allowed: &[&str],
    ) -> Res<Fields<'r, 'n>> {
        let Kind::Map(entries) = &node.kind else {
            let found = node.kind.describe();
            return Err(self.error(
                node.pos,
                format!("{what}: expected a mapping, found {found}"),
            ));
        };
        if let Some((key, _)) = entries
            .iter()
            .find(|(k, _)| !allowed.contains(&k.name.as_str()))
        {
            let expected: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
            let (name, expected) = (&key.name, expected.join(", "));
            let message = format!("{what}: unknown field {name:?}, expected one of {expected}");
            return Err(self.error(key.pos, message));
        }
        Ok(Fields {
            r: self,
            what,
            pos: node.pos,
            entries,
        })
    }

    fn document(&self, root: &Node) -> Res<WorkflowSpec> {
        const HINT: &str = "expected a mapping with a top-level \"workflow\" key";
        match &root.kind {
            Kind::Map(_) => {}
            Kind::Null => return Err(self.error(root.pos, format!("the file is empty: {HINT}"))),
            other => {
                return Err(self.error(root.pos, format!("{HINT}, found {}", other.describe())))
            }
        }
        let workflow = self
            .fields("top level", root, &["workflow"])?
            .req("workflow")?;
        self.workflow(workflow.node)
    }

    fn workflow(&self, node: &Node) -> Res<WorkflowSpec> {
        let f = self.fields("workflow", node, WORKFLOW_FIELDS)?;
        let name = f.req("name")?.name()?;
        let version = f.opt("version", |v| self.version(v))?;
        f.opt("description", |v| v.string())?;
        let pattern = f.opt("orchestration_pattern", |v| Ok((v.name()?, v.node.pos)))?;
        let mut pattern_pos = pattern.as_ref().map(|p| p.1).unwrap_or_default();
        let pattern = pattern.map(|p| p.0);
        let uses_pattern = pattern.as_deref().is_some_and(|p| p != "dag");
        let pattern_config = f.opt("pattern", |v| {
            if !uses_pattern {
                return Err(
                    v.fail("a `pattern` block needs an orchestration_pattern other than dag")
                );
            }
            match &v.node.kind {
                Kind::Map(_) => {
                    pattern_pos = v.node.pos;
                    Ok(to_json(v.node))
                }
                _ => Err(v.expected("a mapping (the pattern's configuration)")),
            }
        })?;
        let mut agents = BTreeMap::new();
        if let Some(v) = f.get("agents") {
            let Kind::Map(entries) = &v.node.kind else {
                return Err(v.expected("a mapping of pool names to pools"));
            };
            for (key, pool) in entries {
                agents.insert(key.name.clone(), self.pool(key, pool, uses_pattern)?);
            }
        }
        let tasks = match f.get("tasks") {
            None => Vec::new(),
            Some(v) => match &v.node.kind {
                Kind::Seq(items) => items
                    .iter()
                    .enumerate()
                    .map(|(i, t)| self.task(i, t, uses_pattern))
                    .collect::<Res<_>>()?,
                _ => return Err(v.expected("a list of tasks")),
            },
        };
        let fault_tolerance = f.opt("fault_tolerance", |v| self.fault_tolerance(v.node))?;
        let coordination = f.opt("coordination", |v| self.coordination(v))?;
        self.check_saga(fault_tolerance.as_ref(), &tasks, f.get("fault_tolerance"));
        Ok(WorkflowSpec {
            name,
            version: version.unwrap_or_else(|| "1".into()),
            pattern,
            pattern_pos,
            pattern_config,
            agents,
            tasks,
            fault_tolerance: fault_tolerance.unwrap_or_default(),
            coordination,
            warnings: self.warnings.take(),
            tree: Default::default(),
        })
    }

    fn version(&self, v: Field<'_, '_>) -> Res<String> {
        match &v.node.kind {
            Kind::Str(s) => Ok(s.clone()),
            Kind::Int(_) | Kind::UInt(_) => Ok(to_json(v.node).to_string()),
            Kind::Float(f, span) => {
                let typed = span.and_then(|(start, len)| self.text.get(start..start + len));
                Ok(typed.map_or_else(|| f.to_string(), |t| t.trim().to_string()))
            }
            _ => Err(v.expected("a string or a number")),
        }
    }

    fn pool(&self, key: &Key, node: &Node, uses_pattern: bool) -> Res<PoolSpec> {
        let what = format!("pool {:?}", key.name);
        let f = self.fields(&what, node, POOL_FIELDS)?;
        let kind = f.req("type")?.name()?;
        let count = f.opt("count", |v| match v.whole()? {
            0 => Err(v.fail("must be at least 1")),
            c => usize::try_from(c).map_err(|_| v.fail(format!("is too large: {c}"))),
        })?;
        let capabilities = f.opt("capabilities", |v| {
            let names = v.names()?;
            if !names.is_empty() && !uses_pattern {
                let message = format!(
                    "{what}: capabilities are only used by orchestration patterns; \
                     a dag ignores them"
                );
                self.warn(v.key_pos, message);
            }
            Ok(names)
        })?;
        Ok(PoolSpec {
            kind,
            count: count.unwrap_or(1),
            capabilities: capabilities.unwrap_or_default(),
            config: f
                .opt("config", |v| Ok(to_json(v.node)))?
                .unwrap_or(Value::Null),
            resources: f.opt("resources", |v| self.resources(&what, v))?,
            pos: key.pos,
            mailbox: f.opt("mailbox", |v| match v.whole()? {
                0 => Err(v.fail("must be at least 1")),
                c => usize::try_from(c).map_err(|_| v.fail(format!("is too large: {c}"))),
            })?,
        })
    }

    fn task(&self, index: usize, node: &Node, uses_pattern: bool) -> Res<TaskSpec> {
        // Name the task by its id in every message, even in those about fields before `id`.
        let id = match &node.kind {
            Kind::Map(entries) => entries.iter().find(|(k, _)| k.name == "id"),
            _ => None,
        };
        let what = match id.map(|(_, v)| (&v.kind, to_json(v))) {
            Some((Kind::Str(s), _)) if !s.trim().is_empty() => format!("task {s:?}"),
            Some((Kind::Int(_) | Kind::UInt(_), n)) => format!("task \"{n}\""),
            _ => format!("task #{}", index + 1),
        };
        let f = self.fields(&what, node, TASK_FIELDS)?;
        let id = TaskId::from(f.req("id")?.name()?);
        let wait = self.wait(&f)?;
        let agent = match f.get("agent") {
            Some(v) if wait.is_some() => {
                let field = if f.get("sleep").is_some() {
                    "sleep"
                } else {
                    "await_signal"
                };
                return Err(self.error(
                    v.key_pos,
                    format!("{what}: a task with {field:?} waits instead of calling an agent; remove \"agent\""),
                ));
            }
            Some(v) => v.name()?,
            None if wait.is_some() => String::new(),
            // With an orchestration pattern, a task without an agent runs on the pattern.
            None if uses_pattern => PATTERN_POOL.to_string(),
            None => f.req("agent")?.name()?,
        };
        let depends_on = f.opt("depends_on", |v| v.names())?.unwrap_or_default();
        let timeout = f.opt("timeout", |v| match v.duration()? {
            t if t.is_zero() => Err(v.fail("must be above zero")),
            t => Ok(t),
        })?;
        let retry = f.opt("retry_policy", |v| self.retry(&what, v.node))?;
        Ok(TaskSpec {
            id,
            agent,
            depends_on: depends_on.into_iter().map(TaskId::from).collect(),
            timeout,
            retry: retry.unwrap_or_else(RetryPolicy::none),
            parallel: f.opt("parallel", |v| v.boolean())?.unwrap_or(false),
            optional: f.opt("optional", |v| v.boolean())?.unwrap_or(false),
            input: f.opt("input", |v| Ok(to_json(v.node)))?,
            compensate: f.opt("compensate", |v| self.compensate(&what, v))?,
            pos: node.pos,
            wait,
            priority: f
                .opt("priority", |v| match v.whole()? {
                    p if p <= u64::from(MAX_PRIORITY) => Ok(p as u8),
                    p => Err(v.fail(format!("must be 0 to {MAX_PRIORITY}, got {p}"))),
                })?
                .unwrap_or(DEFAULT_PRIORITY),
        })
    }

    /// A task's `await_signal: NAME` or `sleep: DURATION` (at most one of them).
    fn wait(&self, f: &Fields<'_, '_>) -> Res<Option<TaskWait>> {
        let what = f.what;
        let signal = f.opt("await_signal", |v| v.name())?;
        let sleep = f.opt("sleep", |v| match v.duration()? {
            d if d.is_zero() => Err(v.fail("must be above zero")),
            d => Ok(d),
        })?;
        let refuse = |field: &str, why: &str| match f.get(field) {
            Some(v) => Err(self.error(v.key_pos, format!("{what}: {why}"))),
            None => Ok(()),
        };
        match (signal, sleep) {
            (Some(_), Some(_)) => {
                refuse("sleep", "a task either awaits a signal or sleeps, not both")?;
                Ok(None)
            }
            (Some(name), None) => {
                refuse(
                    "parallel",
                    "a task with \"await_signal\" cannot be parallel",
                )?;
                Ok(Some(TaskWait::Signal(name)))
            }
            (None, Some(d)) => {
                let why = "a sleep has no timeout (it waits for its own duration)";
                refuse("timeout", why)?;
                refuse("parallel", "a task with \"sleep\" cannot be parallel")?;
                Ok(Some(TaskWait::Sleep(d)))
            }
            (None, None) => Ok(None),
        }
    }

    fn retry(&self, task: &str, node: &Node) -> Res<RetryPolicy> {
        let what = format!("{task}: retry_policy");
        let policy = match &node.kind {
            Kind::Str(s) if s == "none" => RetryPolicy::none(),
            Kind::Str(s) if s == "exponential_backoff" => RetryPolicy::exponential_backoff(),
            Kind::Str(s) => {
                let fields = RETRY_FIELDS.join(", ");
                let message = format!("{what}: unknown policy {s:?}, expected \"none\", \"exponential_backoff\" or a mapping of {fields}");
                return Err(self.error(node.pos, message));
            }
            _ => {
                let f = self.fields(&what, node, RETRY_FIELDS)?;
                let d = RetryPolicy::exponential_backoff();
                RetryPolicy {
                    max_attempts: f
                        .opt("max_attempts", |v| v.whole_u32())?
                        .unwrap_or(d.max_attempts),
                    initial_backoff: f
                        .opt("initial_backoff", |v| v.duration())?
                        .unwrap_or(d.initial_backoff),
                    max_backoff: f
                        .opt("max_backoff", |v| v.duration())?
                        .unwrap_or(d.max_backoff),
                    multiplier: f.opt("multiplier", |v| v.number())?.unwrap_or(d.multiplier),
                    jitter: f.opt("jitter", |v| v.number())?.unwrap_or(d.jitter),
                    retry_on: f.opt("retry_on", |v| v.retry_on())?.unwrap_or(d.retry_on),
                }
            }
        };
        let invalid =
            |e: crate::config::ConfigError| self.error(node.pos, format!("{what}: {}", e.reason));
        policy.validate().map_err(invalid)?;
        Ok(policy)
    }

    fn fault_tolerance(&self, node: &Node) -> Res<FaultTolerance> {
        let f = self.fields(
            "fault_tolerance",
            node,
            &["circuit_breaker", "saga_pattern"],
        )?;
        let circuit_breaker = f.opt("circuit_breaker", |v| {
            let what = "fault_tolerance: circuit_breaker";
            let cb = self.fields(what, v.node, &["failure_threshold", "timeout_seconds"])?;
            let threshold = cb.req("failure_threshold")?;
            Ok(CircuitBreakerConfig {
                failure_threshold: match threshold.whole_u32()? {
                    0 => return Err(threshold.fail("must be at least 1")),
                    n => n,
                },
                open_for: cb.req("timeout_seconds")?.duration()?,
            })
        })?;
        let saga = f.opt("saga_pattern", |v| self.saga_pattern(v))?;
        Ok(FaultTolerance {
            circuit_breaker,
            saga,
        })
    }
}
