//! The runner against scenarios made up for the purpose: figures of a known shape, and
//! scenarios that fail in every way a scenario can.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::scenario::{Plan, Prepared, Scenario, Unit, Variant};

fn constant(
    value: u64,
) -> impl Fn(u64) -> std::future::Ready<Result<Vec<u64>, Reason>> + Send + Sync {
    move |ops| std::future::ready(Ok(vec![value; ops as usize]))
}

/// A scenario whose subject's samples are all `subject` and baseline's all `baseline`.
fn fixed(name: &str, subject: u64, baseline: u64) -> Scenario {
    Scenario::new(
        "test",
        name,
        Unit::per_op("op"),
        Plan::batch(10),
        move || async move {
            Ok(Prepared::new(vec![
                Variant::subject("subject", constant(subject)),
                Variant::baseline("baseline", constant(baseline)),
            ]))
        },
    )
}

fn iterations(n: u64) -> RunOptions {
    RunOptions {
        stop: Stop::Iterations(n),
        timeout: Duration::from_secs(30),
    }
}

fn reason_of(report: &ScenarioReport) -> &str {
    match &report.outcome {
        Outcome::Failed { reason } => reason,
        Outcome::Measured(_) => panic!("{} was measured, not failed", report.id()),
    }
}

#[tokio::test]
async fn figures_and_ratios_come_from_the_samples() {
    let reports = run(vec![fixed("x", 300, 100)], &iterations(50), &Quiet).await;
    let m = reports[0].outcome.measured().expect("measured");
    assert_eq!(m.ops_per_variant, 50);
    assert_eq!(m.subject.summary.p50, 300);
    assert_eq!(m.baselines[0].summary.p99, 100);
    assert_eq!(m.ratio, Some(3.0));
    assert_eq!(m.baselines[0].ratio, Some(3.0));
    assert_eq!(m.baseline, "baseline");
    // 1 element per op of 300 ns: 3.33 M/s.
    let t = m.subject.summary.throughput.unwrap();
    assert!((t - 1e9 / 300.0).abs() < 1.0, "{t}");
}

#[tokio::test]
async fn every_baseline_gets_its_own_ratio() {
    let s = Scenario::new(
        "test",
        "three",
        Unit::per_op("op"),
        Plan::batch(5),
        || async {
            Ok(Prepared::new(vec![
                Variant::baseline("slow", constant(400)),
                Variant::subject("troupe", constant(200)),
                Variant::baseline("fast", constant(50)),
            ]))
        },
    );
    let reports = run(vec![s], &iterations(10), &Quiet).await;
    let m = reports[0].outcome.measured().unwrap();
    assert_eq!(m.subject.name, "troupe");
    let ratios: Vec<_> = m
        .baselines
        .iter()
        .map(|b| (b.name.as_str(), b.ratio))
        .collect();
    assert_eq!(ratios, [("slow", Some(0.5)), ("fast", Some(4.0))]);
    assert_eq!((m.baseline.as_str(), m.ratio), ("slow", Some(0.5)));
}

#[tokio::test]
async fn rounds_interleave_subject_and_baseline() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (a, b) = (log.clone(), log.clone());
    let s = Scenario::new(
        "test",
        "order",
        Unit::per_op("op"),
        Plan::batch(2).warmup(0),
        move || async move {
            Ok(Prepared::new(vec![
                Variant::subject("s", move |ops| {
                    a.lock().unwrap().push('s');
                    std::future::ready(Ok(vec![1; ops as usize]))
                }),
                Variant::baseline("b", move |ops| {
                    b.lock().unwrap().push('b');
                    std::future::ready(Ok(vec![1; ops as usize]))
                }),
            ]))
        },
    );
    let reports = run(vec![s], &iterations(8), &Quiet).await;
    assert_eq!(reports[0].outcome.measured().unwrap().rounds, 4);
    let order: String = log.lock().unwrap().iter().collect();
    assert_eq!(
        order, "sbbssbbs",
        "each round starts with the other variant"
    );
}

#[tokio::test]
async fn a_duration_budget_runs_at_least_the_minimum_rounds() {
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    let s = Scenario::new(
        "test",
        "budget",
        Unit::per_op("op"),
        Plan::heavy(3),
        move || async move {
            Ok(Prepared::new(vec![
                Variant::subject("s", move |ops| {
                    c.fetch_add(1, Ordering::Relaxed);
                    std::future::ready(Ok(vec![1; ops as usize]))
                }),
                Variant::baseline("b", constant(1)),
            ]))
        },
    );
    let options = RunOptions {
        stop: Stop::Duration(Duration::ZERO),
        timeout: Duration::from_secs(30),
    };
    let reports = run(vec![s], &options, &Quiet).await;
    assert_eq!(reports[0].outcome.measured().unwrap().rounds, 3);
    assert_eq!(
        calls.load(Ordering::Relaxed),
        3,
        "no warm-up for heavy plans"
    );
}

#[tokio::test]
async fn a_failing_scenario_is_reported_and_the_others_still_run() {
    let erring = Scenario::new(
        "test",
        "erring",
        Unit::per_op("op"),
        Plan::batch(10),
        || async {
            Ok(Prepared::new(vec![
                Variant::subject("broken", |_ops| {
                    std::future::ready(Err("the subject broke".to_string()))
                }),
                Variant::baseline("fine", constant(1)),
            ]))
        },
    );
    let panicking = Scenario::new(
        "test",
        "panicking",
        Unit::per_op("op"),
        Plan::batch(10),
        || async {
            Ok(Prepared::new(vec![
                Variant::subject("fine", constant(1)),
                Variant::baseline("panics", |_ops| async {
                    panic!("deliberate panic in a baseline")
                }),
            ]))
        },
    );
    let setup_fails = Scenario::new(
        "test",
        "setup",
        Unit::per_op("op"),
        Plan::batch(10),
        || async { Err::<Prepared, _>("no such thing".to_string()) },
    );
    let setup_panics = Scenario::new(
        "test",
        "setup panic",
        Unit::per_op("op"),
        Plan::batch(10),
        || async {
            if true {
                panic!("deliberate panic in a setup");
            }
            Ok(Prepared::new(vec![]))
        },
    );
    let scenarios = vec![
        fixed("before", 2, 1),
        erring,
        panicking,
        setup_fails,
        setup_panics,
        fixed("after", 1, 2),
    ];
    let reports = run(scenarios, &iterations(10), &Quiet).await;
    assert_eq!(reports.len(), 6, "nothing skipped");
    assert!(reports[0].outcome.measured().is_some());
    assert!(
        reports[5].outcome.measured().is_some(),
        "the run went on after the failures"
    );
    assert_eq!(reason_of(&reports[1]), "broken: the subject broke");
    assert_eq!(
        reason_of(&reports[2]),
        "panics panicked: deliberate panic in a baseline"
    );
    assert_eq!(reason_of(&reports[3]), "setup: no such thing");
    assert_eq!(
        reason_of(&reports[4]),
        "setup panicked: deliberate panic in a setup"
    );
}

#[tokio::test]
async fn a_hung_variant_times_out_and_its_teardown_still_runs() {
    let torn_down = Arc::new(AtomicU64::new(0));
    let t = torn_down.clone();
    let hung = Scenario::new(
        "test",
        "hung",
        Unit::per_op("op"),
        Plan::batch(1).warmup(0),
        move || async move {
            Ok(Prepared::new(vec![
                Variant::subject("hangs", |_ops| std::future::pending()),
                Variant::baseline("fine", constant(1)),
            ])
            .teardown(async move {
                t.fetch_add(1, Ordering::Relaxed);
            }))
        },
    );
    let options = RunOptions {
        stop: Stop::Iterations(1),
        timeout: Duration::from_millis(50),
    };
    let reports = run(vec![hung], &options, &Quiet).await;
    assert_eq!(reason_of(&reports[0]), "hangs timed out after 50 ms");
    assert_eq!(torn_down.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_scenario_needs_one_subject_and_a_baseline() {
    let lonely = Scenario::new(
        "test",
        "lonely",
        Unit::per_op("op"),
        Plan::batch(1),
        || async { Ok(Prepared::new(vec![Variant::subject("alone", constant(1))])) },
    );
    let reports = run(vec![lonely], &iterations(1), &Quiet).await;
    assert!(reason_of(&reports[0]).contains("one subject and at least one baseline"));
}

#[tokio::test]
async fn a_variant_must_return_one_sample_per_operation() {
    let short = Scenario::new(
        "test",
        "short",
        Unit::per_op("op"),
        Plan::batch(4),
        || async {
            Ok(Prepared::new(vec![
                Variant::subject("short", |_ops| std::future::ready(Ok(vec![1]))),
                Variant::baseline("fine", constant(1)),
            ]))
        },
    );
    let reports = run(vec![short], &iterations(4), &Quiet).await;
    assert!(
        reason_of(&reports[0]).starts_with("short: 1 samples for 4 operations"),
        "{}",
        reason_of(&reports[0])
    );
}
