//! What a run produced, and its renderings: the terminal [`table`], [`json`] for machines,
//! [`markdown`] for a README, and [`svg`] plots.
//!
//! Every ratio is **subject ÷ baseline** of the same percentile, measured in the same run:
//! below 1 the subject (Troupe) is faster or smaller, above 1 slower or larger.

pub(crate) mod env;
pub mod format;
pub mod json;
pub mod markdown;
pub mod svg;
pub mod table;

use serde::Serialize;

pub use env::Environment;

use super::scenario::{Scale, Unit};
use super::stats::Summary;

/// A whole run: where and how it ran, and every scenario's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The machine and build.
    pub environment: Environment,
    /// The options the run used.
    pub settings: Settings,
    /// One entry per scenario, in the order they ran.
    pub scenarios: Vec<ScenarioReport>,
    /// Wall time of the whole run, in seconds.
    pub wall_seconds: f64,
}

impl Report {
    /// The scenarios that failed.
    pub fn failed(&self) -> impl Iterator<Item = &ScenarioReport> {
        self.scenarios.iter().filter(|s| s.outcome.is_failed())
    }
}

/// The options a run used, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// `quick` or `full` problem sizes.
    pub size: String,
    /// The suites that ran.
    pub suites: Vec<String>,
    /// Seconds per scenario, when the run was bounded by time.
    pub duration_seconds: Option<f64>,
    /// Operations per variant, when the run was bounded by count.
    pub iterations: Option<u64>,
    /// The cluster seed, if one was given.
    pub cluster: Option<String>,
}

/// One scenario's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    /// Its suite.
    pub suite: String,
    /// Its name.
    pub name: String,
    /// What one operation is.
    pub description: String,
    /// What the samples measure (nanoseconds per operation, or bytes).
    pub unit: Unit,
    /// Its place on a scaling curve.
    pub scale: Option<Scale>,
    /// Facts from its setup.
    pub notes: Vec<String>,
    /// Its budget checked against its figures (none without a budget or figures).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<crate::budget::BudgetCheck>,
    /// Measured, or failed with a reason.
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl ScenarioReport {
    /// `suite/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.suite, self.name)
    }
}

/// Measured, or failed.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Every variant was measured.
    #[serde(rename = "ok")]
    Measured(Box<Measured>),
    /// The scenario errored, panicked or timed out; no figures.
    Failed {
        /// What went wrong.
        reason: String,
    },
}

impl Outcome {
    /// Whether the scenario failed.
    pub fn is_failed(&self) -> bool {
        matches!(self, Outcome::Failed { .. })
    }

    /// The figures, when measured.
    pub fn measured(&self) -> Option<&Measured> {
        match self {
            Outcome::Measured(m) => Some(m),
            Outcome::Failed { .. } => None,
        }
    }
}

/// The figures of a measured scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    /// Interleaved rounds measured.
    pub rounds: u32,
    /// Measured operations per variant.
    pub ops_per_variant: u64,
    /// The subject's figures.
    pub subject: VariantReport,
    /// The baselines' figures; each with subject ÷ it.
    pub baselines: Vec<VariantReport>,
    /// The name of the baseline [`Measured::ratio`] refers to (the first).
    pub baseline: String,
    /// Subject p50 ÷ baseline p50.
    pub ratio: Option<f64>,
    /// Subject p99 ÷ baseline p99.
    pub ratio_p99: Option<f64>,
}

impl Measured {
    /// The subject, then the baselines.
    pub fn variants(&self) -> impl Iterator<Item = &VariantReport> {
        std::iter::once(&self.subject).chain(&self.baselines)
    }
}

/// One variant's figures.
#[derive(Debug, Clone, Serialize)]
pub struct VariantReport {
    /// Its label.
    pub name: String,
    /// Its samples' summary.
    pub summary: Summary,
    /// For a baseline: subject p50 ÷ this p50.
    pub ratio: Option<f64>,
    /// For a baseline: subject p99 ÷ this p99.
    pub ratio_p99: Option<f64>,
}
