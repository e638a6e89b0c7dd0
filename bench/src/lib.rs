//! # troupe-bench
//!
//! The harness behind `troupe bench`: what coordination costs on this machine, each Troupe
//! figure beside the raw layers below it, measured in the same run. It is its own crate so that
//! the `troupe` library does not carry it; the `troupe` binary drives it.
//!
//! | room | what is there |
//! |---|---|
//! | [`stats`] | the [`Recorder`] of raw samples and nearest-rank percentiles, throughput, ratio |
//! | [`scenario`] | a [`Scenario`]: a setup that yields a subject [`Variant`] and its baselines |
//! | [`runner`] | interleaved rounds, failures reported (not skipped), an [`Observer`] for progress |
//! | [`suites`] | the scenarios: `ask`, `patterns`, `savina`, `tree`, `memory`, `net`, `cluster` |
//! | [`peer`] | the peer process of the two-process baselines (ractor_cluster, TCP) |
//! | [`report`] | the [`Report`] and its renderings: terminal table, JSON, Markdown, SVG |
//! | [`skynet`] | the skynet tree three ways (Troupe, raw ractor, tokio), shared with the example and the criterion bench |
//!
//! The harness is a library so that tests (and users) can drive it with their own scenarios:
//!
//! ```
//! use troupe_bench::{runner, Prepared, Plan, Scenario, Stop, Unit, Variant};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let scenario = Scenario::new("demo", "sum", Unit::per_op("op"), Plan::batch(10), || async {
//!     let work = |n: u64| -> Result<Vec<u64>, String> { Ok((0..n).map(|i| 100 + i % 3).collect()) };
//!     Ok(Prepared::new(vec![
//!         Variant::subject("fast", move |n| async move { work(n) }),
//!         Variant::baseline("also fast", move |n| async move { work(n) }),
//!     ]))
//! });
//! let options = runner::RunOptions { stop: Stop::Iterations(20), ..Default::default() };
//! let reports = runner::run(vec![scenario], &options, &runner::Quiet).await;
//! let measured = reports[0].outcome.measured().unwrap();
//! assert_eq!(measured.ops_per_variant, 20);
//! assert_eq!(measured.ratio, Some(1.0));
//! # }
//! ```

#![deny(missing_docs)]

pub mod budget;
pub mod peer;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod skynet;
pub mod stats;
pub mod suites;

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use budget::{Budget, BudgetCheck};
pub use report::{Environment, Report, ScenarioReport};
pub use runner::{Observer, RunOptions, Stop};
pub use scenario::{Plan, Prepared, Reason, Role, Scenario, Unit, Variant};
pub use stats::{Recorder, Summary};
pub use suites::{Size, Suite, SuiteName};

/// What `troupe bench` is asked to run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The suites as named on the command line; empty means `quick`.
    pub suites: Vec<SuiteName>,
    /// How long each scenario runs; `None` takes the size's default (1 s quick, 4 s full).
    pub stop: Option<Stop>,
    /// A running cluster to measure (`--cluster SEED`).
    pub cluster: Option<String>,
    /// The cookie of that cluster (`--cookie` or `TROUPE_COOKIE`).
    pub cookie: Option<String>,
    /// The `troupe` executable started as the peer process and for per-process memory probes;
    /// `None` uses the current executable.
    pub peer_exe: Option<PathBuf>,
    /// A setup, a round or a teardown that takes longer fails its scenario.
    pub timeout: Duration,
    /// Problem sizes, instead of those the suites imply (`--size`).
    pub size: Option<Size>,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            suites: Vec::new(),
            stop: None,
            cluster: None,
            cookie: None,
            peer_exe: None,
            timeout: Duration::from_secs(600),
            size: None,
        }
    }
}

impl BenchConfig {
    /// The sizes given, else quick sizes when `quick` is among the suites (or none is named),
    /// full otherwise.
    pub fn size(&self) -> Size {
        if let Some(size) = self.size {
            return size;
        }
        if self.suites.is_empty() || self.suites.contains(&SuiteName::Quick) {
            Size::Quick
        } else {
            Size::Full
        }
    }

    /// The concrete suites, in their canonical order. `full` stands for every suite; `quick`
    /// for every suite except `cluster` (which starts node processes of its own), unless a
    /// cluster seed is given.
    pub fn resolved_suites(&self) -> Vec<Suite> {
        let named = if self.suites.is_empty() {
            vec![SuiteName::Quick]
        } else {
            self.suites.clone()
        };
        let mut out: Vec<Suite> = Vec::new();
        for name in named {
            match name {
                SuiteName::One(s) => out.push(s),
                SuiteName::Full => out.extend(Suite::ALL),
                SuiteName::Quick => {
                    out.extend(Suite::ALL.iter().copied().filter(|s| *s != Suite::Cluster));
                    if self.cluster.is_some() {
                        out.push(Suite::Cluster);
                    }
                }
            }
        }
        Suite::ALL
            .iter()
            .copied()
            .filter(|s| out.contains(s))
            .collect()
    }

    /// When each scenario stops.
    pub fn stop(&self) -> Stop {
        self.stop.unwrap_or(match self.size() {
            Size::Quick => Stop::Duration(Duration::from_secs(1)),
            Size::Full => Stop::Duration(Duration::from_secs(4)),
        })
    }

    /// The scenarios of the resolved suites.
    pub fn scenarios(&self) -> Vec<Scenario> {
        let ctx = suites::Context {
            size: self.size(),
            peer_exe: self.peer_exe.clone(),
            cluster: self.cluster.clone(),
            cookie: self.cookie.clone(),
        };
        self.resolved_suites()
            .into_iter()
            .flat_map(|s| s.scenarios(&ctx))
            .collect()
    }

    /// The runner's options.
    pub fn run_options(&self) -> RunOptions {
        RunOptions {
            stop: self.stop(),
            timeout: self.timeout,
        }
    }
}

/// Runs what `config` asks for on the current tokio runtime and reports it.
pub async fn run(config: &BenchConfig, observer: &dyn Observer) -> Report {
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    let environment = Environment::collect(workers);
    let start = Instant::now();
    let scenarios = runner::run(config.scenarios(), &config.run_options(), observer).await;
    let stop = config.stop();
    Report {
        environment,
        settings: report::Settings {
            size: config.size().name().to_string(),
            suites: config
                .resolved_suites()
                .iter()
                .map(|s| s.name().to_string())
                .collect(),
            duration_seconds: match stop {
                Stop::Duration(d) => Some(d.as_secs_f64()),
                Stop::Iterations(_) => None,
            },
            iterations: match stop {
                Stop::Iterations(n) => Some(n),
                Stop::Duration(_) => None,
            },
            cluster: config.cluster.clone(),
        },
        scenarios,
        wall_seconds: start.elapsed().as_secs_f64(),
    }
}
