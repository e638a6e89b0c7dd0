//! Validation and planning of a [`WorkflowSpec`]: IO-free, linear in tasks plus dependencies.
//!
//! [`plan`] checks a definition against the agent kinds a runtime knows, reports every problem
//! it finds at once ([`PlanErrors`]), and on success resolves the task graph into index form
//! ([`Plan`]) for the engine: dependencies and dependents per task, a topological order, and
//! the pool each task runs on. [`critical_path`] finds the longest-weight chain of a plan, for
//! example over measured task durations.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

use petgraph::graph::{DiGraph, NodeIndex};

use super::spec::{PoolSpec, SourcePos, TaskSpec, WorkflowSpec, PATTERN_POOL};
use crate::agent::{KindLookup, PATTERN_PREFIX};
use crate::config::ConfigError;
use crate::ids::TaskId;

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;

/// The runtime's own orchestration: tasks as a DAG, no pattern pool.
pub const DAG: &str = "dag";

/// Cycles longer than this are shortened in messages (the full path stays in the error).
const CYCLE_DISPLAY_MAX: usize = 32;

/// One problem found in a workflow definition.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// Two tasks share an id.
    DuplicateTask {
        /// The id.
        id: TaskId,
        /// Where the first task of that id is defined.
        first: SourcePos,
        /// Where it is defined again.
        again: SourcePos,
    },
    /// A task depends on an id no task has.
    UnknownDependency {
        /// The depending task.
        task: TaskId,
        /// The missing id.
        dep: TaskId,
        /// Where the task is defined.
        pos: SourcePos,
    },
    /// A task names itself in `depends_on`.
    SelfDependency {
        /// The task.
        task: TaskId,
        /// Where it is defined.
        pos: SourcePos,
    },
    /// Tasks depend on each other in a circle. `path` lists the cycle once, each task depending
    /// on the next and the last on the first; it is displayed as `a -> b -> c -> a`.
    Cycle {
        /// The tasks of the cycle, starting at the one defined first.
        path: Vec<TaskId>,
    },
    /// A task's `agent` is neither a pool of the workflow nor a registered kind.
    UnknownAgent {
        /// The task.
        task: TaskId,
        /// The name it gives.
        agent: String,
        /// Where the task is defined.
        pos: SourcePos,
    },
    /// A pool names an agent kind the runtime does not know.
    UnknownKind {
        /// The pool.
        pool: String,
        /// The unknown kind.
        kind: String,
        /// Where the pool is defined.
        pos: SourcePos,
        /// The kinds that are registered.
        known: Vec<String>,
    },
    /// A pool of zero agents.
    EmptyPool {
        /// The pool.
        pool: String,
        /// Where it is defined.
        pos: SourcePos,
    },
    /// A task has both a static `input` and dependencies (whose outputs are its input).
    InputWithDependencies {
        /// The task.
        task: TaskId,
        /// Where it is defined.
        pos: SourcePos,
    },
    /// A pool's config is refused by its kind's decoder (checked without starting agents).
    BadConfig {
        /// The pool ([`PATTERN_POOL`] for the orchestration pattern's own config).
        pool: String,
        /// What the kind says: where in the config, and why.
        error: ConfigError,
        /// Where the pool (or the pattern) is defined.
        pos: SourcePos,
    },
    /// A pool uses the name reserved for the orchestration pattern's pool.
    ReservedPool {
        /// Where it was defined.
        pos: SourcePos,
    },
    /// The orchestration pattern is neither `dag` nor a registered pattern kind
    /// (`pattern.<name>`).
    UnknownPattern {
        /// The name given.
        pattern: String,
        /// The patterns that are registered (and `dag`).
        known: Vec<String>,
        /// Where the pattern is named.
        pos: SourcePos,
    },
    /// A task's retry policy does not validate.
    BadRetry {
        /// The task.
        task: TaskId,
        /// What [`crate::policy::RetryPolicy::validate`] says.
        reason: String,
        /// Where the task is defined.
        pos: SourcePos,
    },
    /// The workflow has no tasks.
    NoTasks,
    /// A waiting task (`await_signal`, `sleep`) that also names an agent, is parallel, or
    /// waits zero time.
    BadWait {
        /// The task.
        task: TaskId,
        /// What is wrong.
        reason: String,
        /// Where the task is defined.
        pos: SourcePos,
    },
    /// A task's `compensate.agent` is neither a pool of the workflow nor a registered kind.
    UnknownCompensationAgent {
        /// The task.
        task: TaskId,
        /// The name it gives.
        agent: String,
        /// Where the compensation is defined.
        pos: SourcePos,
    },
}

/// ` at line L, column C` when the position is known, nothing otherwise.
struct At<'a>(&'a SourcePos);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_known() {
            write!(f, " at {}", self.0)
        } else {
            Ok(())
        }
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::DuplicateTask { id, first, again } => {
                write!(f, "duplicate task id {id:?}{}", At(again))?;
                if first.is_known() {
                    write!(f, " (first defined at {first})")?;
                }
                Ok(())
            }
            PlanError::UnknownDependency { task, dep, pos } => {
                write!(f, "task {task:?}{}: depends on unknown task {dep:?}", At(pos))
            }
            PlanError::SelfDependency { task, pos } => {
                write!(f, "task {task:?}{}: depends on itself", At(pos))
            }
            PlanError::Cycle { path } => {
                f.write_str("dependency cycle: ")?;
                let shown = path.len().min(CYCLE_DISPLAY_MAX);
                for id in &path[..shown] {
                    write!(f, "{id} -> ")?;
                }
                if path.len() > shown {
                    write!(f, "... ({} more) -> ", path.len() - shown)?;
                }
                match path.first() {
                    Some(first) => write!(f, "{first} (\"x -> y\": x depends on y)"),
                    None => Ok(()),
                }
            }
            PlanError::UnknownAgent { task, agent, pos } => write!(
                f,
                "task {task:?}{}: agent {agent:?} is neither a pool under `agents` nor a registered agent kind",
                At(pos)
            ),
            PlanError::UnknownKind {
                pool,
                kind,
                pos,
                known,
            } => {
                write!(f, "pool {pool:?}{}: unknown agent kind {kind:?}; ", At(pos))?;
                if known.is_empty() {
                    f.write_str("no agent kinds are registered")
                } else {
                    write!(f, "known kinds: {}", known.join(", "))
                }
            }
            PlanError::EmptyPool { pool, pos } => {
                write!(f, "pool {pool:?}{}: count must be at least 1", At(pos))
            }
            PlanError::InputWithDependencies { task, pos } => write!(
                f,
                "task {task:?}{}: has both `input` and `depends_on`; a static input is only allowed on tasks without dependencies",
                At(pos)
            ),
            PlanError::BadConfig { pool, error, pos } => {
                write!(f, "pool {pool:?}{}: {error}", At(pos))
            }
            PlanError::ReservedPool { pos } => write!(
                f,
                "pool {PATTERN_POOL:?}{}: the name is reserved for the orchestration pattern",
                At(pos)
            ),
            PlanError::UnknownPattern {
                pattern,
                known,
                pos,
            } => write!(
                f,
                "unknown orchestration pattern {pattern:?}{}; registered patterns: {} \
                 (a pattern is an agent kind named \"pattern.<name>\"; troupe_patterns::register_all \
                 registers the built-in ones)",
                At(pos),
                known.join(", ")
            ),
            PlanError::BadRetry { task, reason, pos } => {
                write!(f, "task {task:?}{}: bad retry policy: {reason}", At(pos))
            }
            PlanError::NoTasks => f.write_str("the workflow has no tasks"),
            PlanError::BadWait { task, reason, pos } => {
                write!(f, "task {task:?}{}: {reason}", At(pos))
            }
            PlanError::UnknownCompensationAgent { task, agent, pos } => write!(
                f,
                "task {task:?}: compensate{}: agent {agent:?} is neither a pool under `agents` nor a registered agent kind",
                At(pos)
            ),
        }
    }
}

/// Every problem found in a definition, in the order found; displayed one per line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct PlanErrors(pub Vec<PlanError>);

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// A validated workflow in index form. Index `i` everywhere means `spec.tasks[i]`.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The definition.
    pub spec: WorkflowSpec,
    /// Task id to index.
    pub index: HashMap<TaskId, usize>,
    /// Per task: its dependencies, in `depends_on` order, without repeats.
    pub deps: Vec<Vec<usize>>,
    /// Per task: the tasks that depend on it, in index order.
    pub dependents: Vec<Vec<usize>>,
    /// A topological order (dependencies before dependents; ties in definition order).
    pub topo: Vec<usize>,
    /// Per task: the name of the pool it runs on (a key of `pools`).
    pub task_pool: Vec<String>,
    /// The pools: the workflow's own, plus an implicit pool of one agent for each registered
    /// kind that a task names directly as its `agent` (named after the kind).
    pub pools: BTreeMap<String, PoolSpec>,
}

impl Plan {
    /// The number of tasks.
    pub fn len(&self) -> usize {
        self.spec.tasks.len()
    }

    /// Whether there are no tasks (never true for a plan made by [`plan`]).
    pub fn is_empty(&self) -> bool {
        self.spec.tasks.is_empty()
    }

    /// The tasks without dependencies, in index order.
    pub fn roots(&self) -> impl Iterator<Item = usize> + '_ {
        self.deps
            .iter()
            .enumerate()
            .filter(|(_, d)| d.is_empty())
            .map(|(i, _)| i)
    }

    /// Task `i`. Panics if `i >= self.len()`.
    pub fn task(&self, i: usize) -> &TaskSpec {
        &self.spec.tasks[i]
    }

    /// The task graph as a petgraph graph: node `i` is task `i` (weighted by its id), an edge
    /// runs from each dependency to its dependent.
    pub fn graph(&self) -> DiGraph<TaskId, ()> {
        let edges = self.deps.iter().map(Vec::len).sum();
        let mut g = DiGraph::with_capacity(self.len(), edges);
        for t in &self.spec.tasks {
            g.add_node(t.id.clone());
        }
        for (i, ds) in self.deps.iter().enumerate() {
            for &d in ds {
                g.add_edge(NodeIndex::new(d), NodeIndex::new(i), ());
            }
        }
        g
    }
}

/// What is wrong with a waiting task, if anything: it calls no agent, fans nothing out, and a
/// sleep waits some time.
fn wait_problem(t: &TaskSpec, wait: &super::spec::TaskWait) -> Option<String> {
    let what = match wait {
        super::spec::TaskWait::Signal(name) if name.trim().is_empty() => {
            return Some("await_signal needs a signal name".into())
        }
        super::spec::TaskWait::Signal(_) => "await_signal",
        super::spec::TaskWait::Sleep(d) if d.is_zero() => {
            return Some("sleep must wait longer than zero".into())
        }
        super::spec::TaskWait::Sleep(_) => "sleep",
    };
    if !t.agent.is_empty() {
        return Some(format!(
            "a task with {what} waits instead of calling an agent; remove `agent: {}`",
            t.agent
        ));
    }
    if t.parallel {
        return Some(format!("a task with {what} cannot be parallel"));
    }
    if what == "sleep" && t.timeout.is_some() {
        return Some("a sleep has no timeout (it waits for its own duration)".into());
    }
    None
}

/// Validates `spec` against the agent kinds of `kinds` and resolves it into a [`Plan`], or
/// reports every problem found. `kinds` may be a [`crate::KindRegistry`], a `&dyn KindLookup`,
/// or a plain list of names (`&["text.split", "text.count"][..]`).
pub fn plan<K>(spec: WorkflowSpec, kinds: &K) -> Result<Plan, PlanErrors>
where
    K: KindLookup + ?Sized,
{
    let mut errors = Vec::new();
    let tasks = &spec.tasks;
    let n = tasks.len();
    if n == 0 {
        errors.push(PlanError::NoTasks);
    }
    let pattern = spec.pattern.as_deref().filter(|p| *p != DAG);
    let pattern = match pattern {
        Some(p) if !kinds.has_kind(&format!("{PATTERN_PREFIX}{p}")) => {
            let mut known = kinds.pattern_names();
            known.push(DAG.to_string());
            errors.push(PlanError::UnknownPattern {
                pattern: p.to_string(),
                known,
                pos: spec.pattern_pos,
            });
            None
        }
        other => other,
    };
    let mut known_kinds: Option<Vec<String>> = None;
    for (name, pool) in &spec.agents {
        if pool.count == 0 {
            errors.push(PlanError::EmptyPool {
                pool: name.clone(),
                pos: pool.pos,
            });
        }
        if !kinds.has_kind(&pool.kind) {
            errors.push(PlanError::UnknownKind {
                pool: name.clone(),
                kind: pool.kind.clone(),
                pos: pool.pos,
                known: known_kinds
                    .get_or_insert_with(|| kinds.kind_names())
                    .clone(),
            });
        }
    }

    let mut index: HashMap<TaskId, usize> = HashMap::with_capacity(n);
    for (i, t) in tasks.iter().enumerate() {
        match index.entry(t.id.clone()) {
            Entry::Occupied(e) => errors.push(PlanError::DuplicateTask {
                id: t.id.clone(),
                first: tasks[*e.get()].pos,
                again: t.pos,
            }),
            Entry::Vacant(e) => {
                e.insert(i);
            }
        }
    }

    let mut pools = spec.agents.clone();
    if let Some(p) = pattern {
        if let Some(pool) = pools.get(PATTERN_POOL) {
            errors.push(PlanError::ReservedPool { pos: pool.pos });
        }
        let named: std::collections::BTreeSet<&str> =
            tasks.iter().map(|t| t.agent.as_str()).collect();
        let members: BTreeMap<String, PoolSpec> = spec
            .agents
            .iter()
            .filter(|(name, _)| !named.contains(name.as_str()))
            .map(|(name, pool)| (name.clone(), pool.clone()))
            .collect();
        let block = match &spec.pattern_config {
            Some(serde_json::Value::Object(m)) => m.clone(),
            _ => serde_json::Map::new(),
        };
        let config = kinds.pattern_adapter(p).adapt(block, &members);
        let mut pool = PoolSpec::new(format!("{PATTERN_PREFIX}{p}"), 1).config(config);
        pool.pos = spec.pattern_pos;
        pools.insert(PATTERN_POOL.to_string(), pool);
    }
    let mut task_pool = Vec::with_capacity(n);
    let mut deps = Vec::with_capacity(n);
    // seen[j] == i: task j is already among the dependencies of task i.
    let mut seen = vec![usize::MAX; n];
    for (i, t) in tasks.iter().enumerate() {
        if let Some(wait) = &t.wait {
            if let Some(reason) = wait_problem(t, wait) {
                errors.push(PlanError::BadWait {
                    task: t.id.clone(),
                    reason,
                    pos: t.pos,
                });
            }
        } else if !pools.contains_key(&t.agent) {
            if kinds.has_kind(&t.agent) {
                pools.insert(t.agent.clone(), PoolSpec::new(t.agent.clone(), 1));
            } else if !(t.agent == PATTERN_POOL
                && spec.pattern.as_deref().is_some_and(|p| p != DAG))
            {
                // (Tasks on an unknown pattern are covered by its error.)
                errors.push(PlanError::UnknownAgent {
                    task: t.id.clone(),
                    agent: t.agent.clone(),
                    pos: t.pos,
                });
            }
        }
        task_pool.push(t.agent.clone());
        if let Err(e) = t.retry.validate() {
            errors.push(PlanError::BadRetry {
                task: t.id.clone(),
                reason: e.reason,
                pos: t.pos,
            });
        }
        if t.input.is_some() && !t.depends_on.is_empty() {
            errors.push(PlanError::InputWithDependencies {
                task: t.id.clone(),
                pos: t.pos,
            });
        }
        let mut ds = Vec::with_capacity(t.depends_on.len());
        let mut self_reported = false;
        for d in &t.depends_on {
            if *d == t.id {
                if !self_reported {
                    self_reported = true;
                    errors.push(PlanError::SelfDependency {
                        task: t.id.clone(),
                        pos: t.pos,
                    });
                }
                continue;
            }
            match index.get(d.as_str()) {
                None => errors.push(PlanError::UnknownDependency {
                    task: t.id.clone(),
                    dep: d.clone(),
                    pos: t.pos,
                }),
                Some(&j) if seen[j] != i => {
                    seen[j] = i;
                    ds.push(j);
                }
                Some(_) => {}
            }
        }
        deps.push(ds);
    }
    // Compensations run on pools too (an implicit one for a kind named directly).
    for t in tasks {
        let Some(c) = &t.compensate else { continue };
        if let Err(e) = c.retry.validate() {
            errors.push(PlanError::BadRetry {
                task: t.id.clone(),
                reason: format!("compensate: {}", e.reason),
                pos: c.pos,
            });
        }
        if pools.contains_key(&c.agent) {
            continue;
        }
        if kinds.has_kind(&c.agent) {
            pools.insert(c.agent.clone(), PoolSpec::new(c.agent.clone(), 1));
        } else {
            errors.push(PlanError::UnknownCompensationAgent {
                task: t.id.clone(),
                agent: c.agent.clone(),
                pos: c.pos,
            });
        }
    }
    // Every config is decoded by its kind now, so a bad one is refused before anything starts.
    for (name, pool) in &pools {
        if let Err(error) = kinds.validate_config(&pool.kind, &pool.config) {
            errors.push(PlanError::BadConfig {
                pool: name.clone(),
                error,
                pos: pool.pos,
            });
        }
    }

    // Sized first, so each list is allocated once, exactly.
    let mut fan_out = vec![0usize; n];
    deps.iter().flatten().for_each(|&d| fan_out[d] += 1);
    let mut dependents: Vec<Vec<usize>> = fan_out.into_iter().map(Vec::with_capacity).collect();
    for (i, ds) in deps.iter().enumerate() {
        ds.iter().for_each(|&d| dependents[d].push(i));
    }

    let topo = topological_order(&deps, &dependents);
    if topo.len() < n {
        for path in cycles(&deps, &topo) {
            errors.push(PlanError::Cycle {
                path: path.into_iter().map(|i| tasks[i].id.clone()).collect(),
            });
        }
    }

    if !errors.is_empty() {
        return Err(PlanErrors(errors));
    }
    // Only pools that tasks use are started; with a pattern, the others are its members.
    let compensating = spec.tasks.iter().filter_map(|t| t.compensate.as_ref());
    let mut used: std::collections::BTreeSet<&str> = task_pool
        .iter()
        .map(String::as_str)
        .chain(compensating.map(|c| c.agent.as_str()))
        .collect();
    // A used pool whose config lists `tools:` (an `llm.chat` agent calls other pools as tools:
    // a name, or `{agent: name}`) uses those pools too.
    let mut todo: Vec<&str> = used.iter().copied().collect();
    while let Some(name) = todo.pop() {
        let tools = pools.get(name).and_then(|p| p.config.get("tools"));
        for t in tools.and_then(|t| t.as_array()).into_iter().flatten() {
            let tool = t
                .as_str()
                .or_else(|| t.get("agent").and_then(|a| a.as_str()));
            if let Some((key, _)) = tool.and_then(|n| pools.get_key_value(n)) {
                if used.insert(key.as_str()) {
                    todo.push(key.as_str());
                }
            }
        }
    }
    let unused: Vec<String> = pools
        .keys()
        .filter(|k| !used.contains(k.as_str()))
        .cloned()
        .collect();
    let mut spec = spec;
    for name in unused {
        pools.remove(&name);
        if spec.pattern.as_deref().is_none_or(|p| p == DAG) {
            spec.warnings.push(format!(
                "pool {name:?} is not used by any task: it is not started"
            ));
        }
    }
    Ok(Plan {
        spec,
        index,
        deps,
        dependents,
        topo,
        task_pool,
        pools,
    })
}

/// Kahn's algorithm; tasks on or behind a cycle are left out.
fn topological_order(deps: &[Vec<usize>], dependents: &[Vec<usize>]) -> Vec<usize> {
    let mut waiting: Vec<u32> = deps.iter().map(|d| d.len() as u32).collect();
    let mut order: Vec<usize> = (0..deps.len()).filter(|&i| waiting[i] == 0).collect();
    order.reserve(deps.len() - order.len());
    let mut next = 0;
    while let Some(&i) = order.get(next) {
        next += 1;
        for &j in &dependents[i] {
            waiting[j] -= 1;
            if waiting[j] == 0 {
                order.push(j);
            }
        }
    }
    order
}

/// One cycle per strongly connected component of the tasks Kahn's algorithm could not order,
/// each starting at its lowest index, sorted by that index.
fn cycles(deps: &[Vec<usize>], ordered: &[usize]) -> Vec<Vec<usize>> {
    let n = deps.len();
    let mut in_order = vec![false; n];
    for &i in ordered {
        in_order[i] = true;
    }
    let mut g: DiGraph<usize, ()> = DiGraph::new();
    let node_of: Vec<Option<NodeIndex>> = (0..n)
        .map(|i| (!in_order[i]).then(|| g.add_node(i)))
        .collect();
    for (i, ds) in deps.iter().enumerate() {
        let Some(a) = node_of[i] else { continue };
        for &d in ds {
            if let Some(b) = node_of[d] {
                g.add_edge(a, b, ());
            }
        }
    }
    // Kosaraju is iterative in petgraph (Tarjan recurses), so long cycles cannot overflow.
    let mut component = vec![usize::MAX; n];
    let mut found = Vec::new();
    for (c, scc) in petgraph::algo::kosaraju_scc(&g).into_iter().enumerate() {
        if scc.len() < 2 {
            continue;
        }
        for &v in &scc {
            component[g[v]] = c;
        }
        let start = scc.iter().map(|&v| g[v]).min().unwrap_or(0);
        found.push(walk_cycle(deps, &component, c, start));
    }
    found.sort_unstable_by_key(|p| p.first().copied());
    found
}

/// Follows dependencies inside component `c` from `start` until a task repeats.
fn walk_cycle(deps: &[Vec<usize>], component: &[usize], c: usize, start: usize) -> Vec<usize> {
    let mut at: HashMap<usize, usize> = HashMap::new();
    let mut path = Vec::new();
    let mut cur = start;
    loop {
        if let Some(&k) = at.get(&cur) {
            path.drain(..k);
            break;
        }
        at.insert(cur, path.len());
        path.push(cur);
        // Every task of a non-trivial component has a dependency inside it.
        match deps[cur].iter().find(|&&d| component[d] == c) {
            Some(&d) => cur = d,
            None => break,
        }
    }
    let lowest = path
        .iter()
        .enumerate()
        .min_by_key(|(_, &i)| i)
        .map_or(0, |(k, _)| k);
    path.rotate_left(lowest);
    path
}

/// The longest-weight chain of dependent tasks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CriticalPath {
    /// The tasks of the chain, each a dependency of the next.
    pub tasks: Vec<TaskId>,
    /// The sum of their weights.
    pub total: Duration,
}

/// The path through the plan whose task weights sum highest (`weights[i]` is task `i`'s, for
/// example its measured duration; missing weights count as zero). Ties go to the lower task
/// index, both for the last task and for each predecessor. O(tasks + dependencies).
pub fn critical_path(plan: &Plan, weights: &[Duration]) -> CriticalPath {
    let n = plan.len();
    let weight = |i: usize| weights.get(i).copied().unwrap_or_default();
    let mut best = vec![Duration::ZERO; n];
    let mut prev = vec![usize::MAX; n];
    let mut done = vec![false; n];
    for &i in &plan.topo {
        if i >= n || done[i] {
            continue;
        }
        done[i] = true;
        let mut from = usize::MAX;
        let mut acc = Duration::ZERO;
        for &d in plan.deps.get(i).map_or(&[][..], Vec::as_slice) {
            let Some(&b) = best.get(d) else { continue };
            if from == usize::MAX || b > acc || (b == acc && d < from) {
                from = d;
                acc = b;
            }
        }
        best[i] = acc.saturating_add(weight(i));
        prev[i] = from;
    }
    let Some(end) = (0..n).rev().max_by_key(|&i| best[i]) else {
        return CriticalPath::default();
    };
    let mut chain = vec![end];
    let mut cur = end;
    while prev[cur] != usize::MAX && chain.len() <= n {
        cur = prev[cur];
        chain.push(cur);
    }
    chain.reverse();
    CriticalPath {
        tasks: chain
            .iter()
            .map(|&i| plan.spec.tasks[i].id.clone())
            .collect(),
        total: best[end],
    }
}
