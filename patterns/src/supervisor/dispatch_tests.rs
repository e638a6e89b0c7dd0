use serde_json::json;

use super::*;

fn workers(groups: &[(&str, &[&str])]) -> Vec<WorkerMeta> {
    groups
        .iter()
        .enumerate()
        .map(|(i, (group, caps))| WorkerMeta {
            id: AgentId::new(format!("p/{group}/{i}")),
            group: group.to_string(),
            capabilities: caps.iter().map(|c| c.to_string()).collect(),
        })
        .collect()
}

const LIMITS: Limits = Limits {
    max_in_flight: 8,
    max_reroutes: 1,
};

fn units(n: usize) -> Vec<Unit> {
    (0..n).map(|i| Unit::new(json!(i))).collect()
}

/// Drives `next` until it stops sending; returns the (unit, worker) pairs.
fn drain(
    d: &mut Dispatch,
    ws: &[WorkerMeta],
    up: &[bool],
    r: &Routing,
    c: &mut usize,
) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    while let Step::Send { unit, worker } = d.next(ws, &|w| up[w], &[], r, c).unwrap() {
        out.push((unit, worker));
    }
    out
}

#[test]
fn round_robin_takes_workers_in_turn_and_respects_the_in_flight_bound() {
    let ws = workers(&[("a", &[]), ("a", &[]), ("b", &[])]);
    let limits = Limits {
        max_in_flight: 4,
        ..LIMITS
    };
    let mut d = Dispatch::new(units(5), &ws, limits, &Routing::RoundRobin).unwrap();
    let mut cursor = 0;
    let sent = drain(&mut d, &ws, &[true; 3], &Routing::RoundRobin, &mut cursor);
    assert_eq!(sent, vec![(0, 0), (1, 1), (2, 2), (3, 0)]);
    d.succeeded(1, 1, json!("one"));
    let sent = drain(&mut d, &ws, &[true; 3], &Routing::RoundRobin, &mut cursor);
    assert_eq!(sent, vec![(4, 1)]);
}

#[test]
fn least_loaded_prefers_idle_workers() {
    let ws = workers(&[("a", &[]), ("a", &[])]);
    let mut d = Dispatch::new(units(3), &ws, LIMITS, &Routing::LeastLoaded).unwrap();
    let mut cursor = 0;
    let r = Routing::LeastLoaded;
    assert_eq!(
        drain(&mut d, &ws, &[true; 2], &r, &mut cursor),
        vec![(0, 0), (1, 1), (2, 0)]
    );
    // Worker 1 finishes; worker 0 still holds two units: the retry goes to worker 1.
    d.succeeded(1, 1, json!(1));
    d.failed(2, 0, &ws, &Failure::Retry("busy".into())).unwrap();
    assert_eq!(
        drain(&mut d, &ws, &[true; 2], &r, &mut cursor),
        vec![(2, 1)]
    );
}

#[test]
fn capabilities_filter_candidates_under_every_policy() {
    let ws = workers(&[
        ("search", &["search"]),
        ("write", &["write"]),
        ("both", &["search", "write"]),
    ]);
    let us = vec![
        Unit::new(json!(0)).capability("write"),
        Unit::new(json!(1)).capability("search"),
        Unit::new(json!(2)).capability("write"),
    ];
    let r = Routing::RoundRobin;
    let mut d = Dispatch::new(us, &ws, LIMITS, &r).unwrap();
    let sent = drain(&mut d, &ws, &[true; 3], &r, &mut 0);
    for (unit, worker) in sent {
        let need = ["write", "search", "write"][unit];
        assert!(
            ws[worker].capabilities.iter().any(|c| c == need),
            "unit {unit} -> {worker}"
        );
    }
}

#[test]
fn unroutable_units_fail_before_anything_runs() {
    let ws = workers(&[("a", &["x"])]);
    let err = Dispatch::new(
        vec![Unit::new(json!(1)).capability("y")],
        &ws,
        LIMITS,
        &Routing::RoundRobin,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unit 0: no worker has capability \"y\" (workers have: x)"
    );
    let err = Dispatch::new(units(1), &ws, LIMITS, &Routing::ByCapability).unwrap_err();
    assert_eq!(err, SupervisorError::NoCapability { unit: 0 });
}

#[test]
fn a_failed_unit_is_rerouted_elsewhere_then_fails_when_its_budget_is_spent() {
    let ws = workers(&[("a", &[]), ("a", &[])]);
    let r = Routing::RoundRobin;
    let mut d = Dispatch::new(units(1), &ws, LIMITS, &r).unwrap();
    let mut cursor = 0;
    assert_eq!(
        drain(&mut d, &ws, &[true; 2], &r, &mut cursor),
        vec![(0, 0)]
    );
    d.failed(0, 0, &ws, &Failure::Crashed("crashed".into()))
        .unwrap();
    // Worker 0 is back already, but the re-route avoids it while another worker runs.
    cursor = 0;
    assert_eq!(
        drain(&mut d, &ws, &[true; 2], &r, &mut cursor),
        vec![(0, 1)]
    );
    let err = d
        .failed(0, 1, &ws, &Failure::Crashed("again".into()))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unit 0 failed after 2 attempts (max_reroutes 1); last: again"
    );
    assert_eq!(d.last_failure(), Some("unit 0 on worker p/a/1: again"));
}

#[test]
fn units_wait_while_no_eligible_worker_runs_and_go_to_the_restarted_one() {
    let ws = workers(&[("a", &[])]);
    let r = Routing::RoundRobin;
    let mut d = Dispatch::new(units(1), &ws, LIMITS, &r).unwrap();
    assert_eq!(drain(&mut d, &ws, &[true], &r, &mut 0), vec![(0, 0)]);
    d.failed(0, 0, &ws, &Failure::Crashed("crashed".into()))
        .unwrap();
    assert_eq!(
        d.next(&ws, &|_| false, &[], &r, &mut 0).unwrap(),
        Step::Wait
    );
    assert_eq!(drain(&mut d, &ws, &[true], &r, &mut 0), vec![(0, 0)]);
    d.succeeded(0, 0, json!("ok"));
    assert!(d.is_finished());
    let (results, report) = d.finish(&ws, true);
    assert_eq!(results, vec![json!("ok")]);
    assert_eq!(report[0].attempts, 2);
}

#[test]
fn permanent_failures_are_not_rerouted() {
    let ws = workers(&[("a", &[])]);
    let r = Routing::RoundRobin;
    let mut d = Dispatch::new(units(1), &ws, LIMITS, &r).unwrap();
    drain(&mut d, &ws, &[true], &r, &mut 0);
    let err = d
        .failed(0, 0, &ws, &Failure::Fatal("no".into()))
        .unwrap_err();
    assert!(matches!(err, SupervisorError::UnitRejected { unit: 0, .. }));
}

#[test]
fn a_custom_router_is_obeyed_and_checked() {
    let ws = workers(&[("a", &[]), ("a", &[]), ("a", &[])]);
    let last = Routing::custom(|_, c| c.len() - 1);
    let mut d = Dispatch::new(units(2), &ws, LIMITS, &last).unwrap();
    assert_eq!(
        drain(&mut d, &ws, &[true; 3], &last, &mut 0),
        vec![(0, 2), (1, 2)]
    );
    let bad = Routing::custom(|_, c| c.len());
    let mut d = Dispatch::new(units(1), &ws, LIMITS, &bad).unwrap();
    let err = d.next(&ws, &|_| true, &[], &bad, &mut 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unit 0: the router chose worker 3 of 3 candidates"
    );
}
