//! The runner: sets a scenario up, measures its variants in interleaved rounds, tears it down,
//! and turns a failure (an error, a panic, a timeout) into a reported [`Outcome::Failed`] —
//! never a skipped scenario, never an aborted run.
//!
//! **Interleaving.** Round `r` runs every variant once, in an order rotated by `r` (with two
//! variants: baseline then subject, then subject then baseline, ...), so that drift of the
//! machine (other processes, thermal, frequency) hits subject and baselines alike. Each variant
//! runs its round as one task on the tokio runtime's workers, the way agents calling agents run.
//!
//! **How long.** With [`Stop::Iterations`] every variant measures exactly that many operations,
//! in about five rounds (at most [`Plan::batch`] per round). With [`Stop::Duration`] rounds are
//! sized from the warm-up so that about ten fit in the duration, and they go on until the
//! duration has passed and at least [`Plan::min_rounds`] rounds were measured.

use std::time::{Duration, Instant};

use super::report::{Measured, Outcome, ScenarioReport, VariantReport};
use super::scenario::{Plan, Prepared, Reason, Role, Scenario, Variant};
use super::stats::{ratio, Recorder};

/// When a scenario has been measured enough.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// Rounds until this much wall time has passed (per scenario, all variants together).
    Duration(Duration),
    /// Exactly this many measured operations per variant.
    Iterations(u64),
}

/// How the runner runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// When to stop measuring a scenario.
    pub stop: Stop,
    /// A setup, a variant's round or a teardown that takes longer fails the scenario.
    pub timeout: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            stop: Stop::Duration(Duration::from_secs(3)),
            timeout: Duration::from_secs(600),
        }
    }
}

/// Follows a run (the binary draws a progress bar with it).
pub trait Observer: Send + Sync {
    /// Scenario `index` of `total` starts.
    fn scenario_started(&self, index: usize, total: usize, scenario: &Scenario) {
        let _ = (index, total, scenario);
    }
    /// What is running now, e.g. `round 3: ractor call`.
    fn activity(&self, text: &str) {
        let _ = text;
    }
    /// Scenario `index` is done (measured or failed).
    fn scenario_finished(&self, index: usize, report: &ScenarioReport) {
        let _ = (index, report);
    }
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl Observer for Quiet {}

/// Runs every scenario in turn; one report each, in order.
pub async fn run(
    scenarios: Vec<Scenario>,
    options: &RunOptions,
    observer: &dyn Observer,
) -> Vec<ScenarioReport> {
    let total = scenarios.len();
    let mut reports = Vec::with_capacity(total);
    for (index, scenario) in scenarios.into_iter().enumerate() {
        observer.scenario_started(index, total, &scenario);
        let report = run_one(scenario, options, observer).await;
        observer.scenario_finished(index, &report);
        reports.push(report);
    }
    reports
}

async fn run_one(
    scenario: Scenario,
    options: &RunOptions,
    observer: &dyn Observer,
) -> ScenarioReport {
    let Scenario {
        suite,
        name,
        description,
        unit,
        plan,
        scale,
        budget,
        setup,
    } = scenario;
    let mut report = ScenarioReport {
        suite,
        name,
        description,
        unit,
        scale,
        notes: Vec::new(),
        budget: None,
        outcome: Outcome::Failed {
            reason: String::new(),
        },
    };
    observer.activity("setting up");
    let prepared = match guarded("setup", options.timeout, setup()).await {
        Ok(p) => p,
        Err(reason) => {
            report.outcome = Outcome::Failed { reason };
            return report;
        }
    };
    let Prepared {
        variants,
        teardown,
        notes,
    } = prepared;
    report.notes = notes;
    let outcome = match check_roles(&variants) {
        Ok(()) => measure(&variants, plan, unit.elements(), options, observer).await,
        Err(reason) => Outcome::Failed { reason },
    };
    report.budget = budget.zip(outcome.measured()).map(|(b, m)| b.check(m));
    report.outcome = outcome;
    if let Some(teardown) = teardown {
        observer.activity("tearing down");
        let done = guarded("teardown", options.timeout, async {
            teardown.await;
            Ok(())
        })
        .await;
        if let (Err(reason), Outcome::Measured(_)) = (done, &report.outcome) {
            report.outcome = Outcome::Failed { reason };
        }
    }
    report
}

fn check_roles(variants: &[Variant]) -> Result<(), Reason> {
    let subjects = variants.iter().filter(|v| v.role == Role::Subject).count();
    let baselines = variants.len() - subjects;
    if subjects != 1 || baselines == 0 {
        return Err(format!(
            "a scenario needs one subject and at least one baseline, not {subjects} and {baselines}"
        ));
    }
    Ok(())
}

/// Runs `fut` as its own task: an error, a panic or a timeout becomes a reason.
async fn guarded<T: Send + 'static>(
    what: &str,
    timeout: Duration,
    fut: impl std::future::Future<Output = Result<T, Reason>> + Send + 'static,
) -> Result<T, Reason> {
    let mut task = tokio::spawn(fut);
    match tokio::time::timeout(timeout, &mut task).await {
        Err(_) => {
            task.abort();
            Err(format!("{what} timed out after {}", human(timeout)))
        }
        Ok(Err(join)) if join.is_panic() => Err(format!(
            "{what} panicked: {}",
            panic_message(join.into_panic())
        )),
        Ok(Err(join)) => Err(format!("{what} was cancelled: {join}")),
        Ok(Ok(Err(reason))) => Err(format!("{what}: {reason}")),
        Ok(Ok(Ok(value))) => Ok(value),
    }
}

fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// The message of a panic payload.
pub fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".into()
    }
}

/// Runs `ops` operations of `variant`; its samples and the wall time of the round.
async fn round(
    variant: &Variant,
    ops: u64,
    timeout: Duration,
) -> Result<(Vec<u64>, Duration), Reason> {
    let start = Instant::now();
    let samples = guarded(&variant.name, timeout, (variant.run)(ops)).await?;
    let wall = start.elapsed();
    if samples.len() as u64 != ops {
        return Err(format!(
            "{}: {} samples for {ops} operations",
            variant.name,
            samples.len()
        ));
    }
    Ok((samples, wall))
}

async fn measure(
    variants: &[Variant],
    plan: Plan,
    elements: Option<u64>,
    options: &RunOptions,
    observer: &dyn Observer,
) -> Outcome {
    match measure_rounds(variants, plan, options, observer).await {
        Ok((recorders, rounds)) => {
            Outcome::Measured(Box::new(summarise(variants, &recorders, rounds, elements)))
        }
        Err(reason) => Outcome::Failed { reason },
    }
}

async fn measure_rounds(
    variants: &[Variant],
    plan: Plan,
    options: &RunOptions,
    observer: &dyn Observer,
) -> Result<(Vec<Recorder>, u32), Reason> {
    let n = variants.len();
    // Wall time per operation of each variant, from the warm-up and then from each round.
    let mut per_op: Vec<Option<f64>> = vec![None; n];
    if plan.warmup > 0 {
        for (i, v) in variants.iter().enumerate() {
            observer.activity(&format!("warm-up: {}", v.name));
            let (_, wall) = round(v, plan.warmup, options.timeout).await?;
            per_op[i] = Some(wall.as_secs_f64() / plan.warmup as f64);
        }
    }
    let mut recorders: Vec<Recorder> = (0..n).map(|_| Recorder::default()).collect();
    let mut done = 0u64;
    let mut rounds = 0u32;
    let start = Instant::now();
    loop {
        let ops = match options.stop {
            Stop::Iterations(total) => {
                if done >= total {
                    break;
                }
                let per_round = total.div_ceil(5).clamp(1, plan.batch);
                per_round.min(total - done)
            }
            Stop::Duration(budget) => {
                if rounds >= plan.min_rounds && start.elapsed() >= budget {
                    break;
                }
                round_size(&per_op, plan.batch, budget)
            }
        };
        for k in 0..n {
            let i = (k + rounds as usize) % n;
            let v = &variants[i];
            observer.activity(&format!("round {}: {} ({ops} ops)", rounds + 1, v.name));
            let (samples, wall) = round(v, ops, options.timeout).await?;
            recorders[i].extend(samples);
            per_op[i] = Some(wall.as_secs_f64() / ops as f64);
        }
        done += ops;
        rounds += 1;
    }
    Ok((recorders, rounds))
}

/// Operations per round so that about ten rounds fit in `budget`.
fn round_size(per_op: &[Option<f64>], batch: u64, budget: Duration) -> u64 {
    if per_op.iter().any(Option::is_none) {
        return 1;
    }
    let round_secs: f64 = per_op.iter().flatten().sum();
    if round_secs <= 0.0 {
        return batch;
    }
    let target = budget.as_secs_f64() / 10.0;
    ((target / round_secs) as u64).clamp(1, batch)
}

fn summarise(
    variants: &[Variant],
    recorders: &[Recorder],
    rounds: u32,
    elements: Option<u64>,
) -> Measured {
    let report = |i: usize| VariantReport {
        name: variants[i].name.clone(),
        summary: recorders[i].summary(elements),
        ratio: None,
        ratio_p99: None,
    };
    let s = variants
        .iter()
        .position(|v| v.role == Role::Subject)
        .expect("roles checked");
    let subject = report(s);
    let baselines: Vec<VariantReport> = (0..variants.len())
        .filter(|&i| i != s)
        .map(|i| {
            let mut b = report(i);
            b.ratio = ratio(subject.summary.p50, b.summary.p50);
            b.ratio_p99 = ratio(subject.summary.p99, b.summary.p99);
            b
        })
        .collect();
    Measured {
        rounds,
        ops_per_variant: recorders[s].count(),
        baseline: baselines[0].name.clone(),
        ratio: baselines[0].ratio,
        ratio_p99: baselines[0].ratio_p99,
        subject,
        baselines,
    }
}

#[cfg(test)]
mod tests;
