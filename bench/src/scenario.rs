//! What a benchmark is made of: a [`Scenario`] (one figure to measure) is set up once, then
//! offers [`Variant`]s — the subject (Troupe, or the layer under test) and its baselines — that
//! the runner measures in interleaved rounds.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;

use troupe_runtime::BoxFuture;

/// Why a scenario could not be measured (shown in the table, the JSON and the Markdown).
pub type Reason = String;

/// What a variant's samples measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Unit {
    /// Nanoseconds per operation; one operation handles `elements` elements (messages, agents,
    /// leaves), which gives the throughput.
    Time {
        /// Elements per operation.
        elements: u64,
        /// What an element is ("msg", "agent", "leaf", "op").
        element: &'static str,
    },
    /// Bytes (per agent): no throughput.
    Bytes,
}

impl Unit {
    /// One element per operation, called `element`.
    pub fn per_op(element: &'static str) -> Self {
        Unit::Time {
            elements: 1,
            element,
        }
    }

    /// `elements` elements per operation.
    pub fn batch(elements: u64, element: &'static str) -> Self {
        Unit::Time { elements, element }
    }

    /// Elements per operation, for time units.
    pub fn elements(&self) -> Option<u64> {
        match self {
            Unit::Time { elements, .. } => Some(*elements),
            Unit::Bytes => None,
        }
    }
}

/// Whether a variant is what is measured or what it is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The figure under test (Troupe; in the `net` suite, the transport Troupe builds on).
    Subject,
    /// A raw layer measured beside it; the first baseline is the one the ratio refers to.
    Baseline,
}

/// Measures `ops` operations of one variant and returns one sample per operation.
pub type RunFn = Arc<dyn Fn(u64) -> BoxFuture<'static, Result<Vec<u64>, Reason>> + Send + Sync>;

/// One side of a comparison.
#[derive(Clone)]
pub struct Variant {
    /// Short label, e.g. `troupe ask` or `ractor call`.
    pub name: String,
    /// Subject or baseline.
    pub role: Role,
    pub(crate) run: RunFn,
}

impl Variant {
    /// The subject: `run(ops)` measures `ops` operations, one sample each.
    pub fn subject<F, Fut>(name: impl Into<String>, run: F) -> Self
    where
        F: Fn(u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<u64>, Reason>> + Send + 'static,
    {
        Self::new(name, Role::Subject, run)
    }

    /// A baseline: `run(ops)` measures `ops` operations, one sample each.
    pub fn baseline<F, Fut>(name: impl Into<String>, run: F) -> Self
    where
        F: Fn(u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<u64>, Reason>> + Send + 'static,
    {
        Self::new(name, Role::Baseline, run)
    }

    fn new<F, Fut>(name: impl Into<String>, role: Role, run: F) -> Self
    where
        F: Fn(u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<u64>, Reason>> + Send + 'static,
    {
        Self {
            name: name.into(),
            role,
            run: Arc::new(move |ops| Box::pin(run(ops))),
        }
    }
}

impl std::fmt::Debug for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Variant")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish()
    }
}

/// What a scenario's setup hands the runner: its variants (exactly one subject, at least one
/// baseline) and how to clean up.
pub struct Prepared {
    /// The variants, in the order they are listed in reports (subject first is customary).
    pub variants: Vec<Variant>,
    /// Run after the last round (also after a failure).
    pub teardown: Option<BoxFuture<'static, ()>>,
    /// Facts worth reporting (e.g. the peer process's id).
    pub notes: Vec<String>,
}

impl Prepared {
    /// Variants without teardown or notes.
    pub fn new(variants: Vec<Variant>) -> Self {
        Self {
            variants,
            teardown: None,
            notes: Vec::new(),
        }
    }

    /// Adds a teardown.
    pub fn teardown(mut self, teardown: impl Future<Output = ()> + Send + 'static) -> Self {
        self.teardown = Some(Box::pin(teardown));
        self
    }

    /// Adds a note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
}

/// How much of a scenario to run per round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Most operations per variant per round.
    pub batch: u64,
    /// Operations per variant run before measuring, and discarded.
    pub warmup: u64,
    /// Fewest measured rounds (a duration budget is exceeded rather than run fewer).
    pub min_rounds: u32,
}

impl Plan {
    /// Up to `batch` operations per round, a warm-up of `min(batch, 100)`, at least 3 rounds.
    pub fn batch(batch: u64) -> Self {
        Self {
            batch: batch.max(1),
            warmup: batch.clamp(1, 100),
            min_rounds: 3,
        }
    }

    /// For operations that take seconds: one per round, no warm-up, at least `min_rounds`.
    pub fn heavy(min_rounds: u32) -> Self {
        Self {
            batch: 1,
            warmup: 0,
            min_rounds: min_rounds.max(1),
        }
    }

    /// Sets the warm-up.
    pub fn warmup(mut self, ops: u64) -> Self {
        self.warmup = ops;
        self
    }
}

/// A point on a scaling curve (memory per agent vs agents, tree time vs leaves).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scale {
    /// The curve's name, e.g. `memory per agent`.
    pub series: String,
    /// What x counts, e.g. `agents`.
    pub x_label: String,
    /// The x value of this scenario.
    pub x: u64,
}

/// Builds a scenario's variants: runs once, before the first round.
pub type SetupFn = Box<dyn FnOnce() -> BoxFuture<'static, Result<Prepared, Reason>> + Send>;

/// One figure to measure: a subject beside its baselines.
pub struct Scenario {
    /// The suite it belongs to (`ask`, `savina`, ...).
    pub suite: String,
    /// Its name within the suite.
    pub name: String,
    /// What one operation is.
    pub description: String,
    /// What the samples measure.
    pub unit: Unit,
    /// Round sizes.
    pub plan: Plan,
    /// Its place on a scaling curve, if any.
    pub scale: Option<Scale>,
    /// What the figure should be, checked and reported PASS or FAIL.
    pub budget: Option<crate::budget::Budget>,
    pub(crate) setup: SetupFn,
}

impl Scenario {
    /// A scenario whose `setup` builds the variants.
    pub fn new<F, Fut>(
        suite: &str,
        name: impl Into<String>,
        unit: Unit,
        plan: Plan,
        setup: F,
    ) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Prepared, Reason>> + Send + 'static,
    {
        Self {
            suite: suite.to_string(),
            name: name.into(),
            description: String::new(),
            unit,
            plan,
            scale: None,
            budget: None,
            setup: Box::new(move || Box::pin(setup())),
        }
    }

    /// Says what one operation is.
    pub fn describe(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Gives the figure a budget (checked against the measurement, reported PASS or FAIL).
    pub fn budget(mut self, budget: crate::budget::Budget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Places the scenario on a scaling curve.
    pub fn scale(mut self, series: &str, x_label: &str, x: u64) -> Self {
        self.scale = Some(Scale {
            series: series.into(),
            x_label: x_label.into(),
            x,
        });
        self
    }

    /// `suite/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.suite, self.name)
    }
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scenario")
            .field("suite", &self.suite)
            .field("name", &self.name)
            .field("unit", &self.unit)
            .field("plan", &self.plan)
            .finish()
    }
}

/// Times `$ops` runs of `$body` (an expression that may use `?` and `.await`), one sample in
/// nanoseconds each; evaluates to `Vec<u64>`. `$i` is the operation's index.
macro_rules! time_each {
    ($ops:expr, |$i:ident| $body:expr) => {{
        let ops: u64 = $ops;
        let mut samples: Vec<u64> = Vec::with_capacity(ops as usize);
        for $i in 0..ops {
            let start = std::time::Instant::now();
            $body;
            samples.push(start.elapsed().as_nanos() as u64);
        }
        samples
    }};
}

pub(crate) use time_each;

/// Turns any displayable error into a [`Reason`].
pub fn reason(e: impl std::fmt::Display) -> Reason {
    e.to_string()
}
