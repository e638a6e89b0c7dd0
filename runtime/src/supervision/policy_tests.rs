use super::*;

fn core(strategy: Strategy, max: u32) -> SupervisorCore {
    let cfg = SupervisorConfig::new("sup")
        .strategy(strategy)
        .intensity(max, Duration::from_secs(10))
        .backoff(Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(350),
            multiplier: 2.0,
        });
    let mut c = SupervisorCore::new(cfg);
    for id in ["a", "b", "c"] {
        c.add(id, Restart::Permanent);
        c.started(id);
    }
    c
}

fn failed() -> Exit {
    Exit::Failed("boom".into())
}

fn start(ids: &[&str], ms: u64) -> Directive {
    Directive::Start {
        ids: ids.iter().map(|s| s.to_string()).collect(),
        after: Duration::from_millis(ms),
    }
}

fn stop(ids: &[&str]) -> Directive {
    Directive::Stop(ids.iter().map(|s| s.to_string()).collect())
}

#[test]
fn one_for_one_restarts_only_the_failed_child() {
    let mut c = core(Strategy::OneForOne, 5);
    let now = Instant::now();
    assert_eq!(c.on_exit("b", failed(), now), vec![start(&["b"], 100)]);
}

#[test]
fn one_for_all_stops_siblings_in_reverse_and_restarts_all_in_order() {
    let mut c = core(Strategy::OneForAll, 5);
    let now = Instant::now();
    assert_eq!(
        c.on_exit("b", failed(), now),
        vec![stop(&["c", "a"]), start(&["a", "b", "c"], 100)]
    );
}

#[test]
fn rest_for_one_restarts_the_child_and_those_after_it() {
    let mut c = core(Strategy::RestForOne, 5);
    let now = Instant::now();
    assert_eq!(
        c.on_exit("b", failed(), now),
        vec![stop(&["c"]), start(&["b", "c"], 100)]
    );
}

#[test]
fn backoff_grows_with_restarts_in_the_window_and_caps() {
    let mut c = core(Strategy::OneForOne, 10);
    let t = Instant::now();
    let mut waits = Vec::new();
    for i in 0..4 {
        let out = c.on_exit("a", failed(), t + Duration::from_millis(i));
        let Directive::Start { after, .. } = &out[0] else {
            panic!("{out:?}")
        };
        waits.push(after.as_millis());
        c.started("a");
    }
    assert_eq!(waits, vec![100, 200, 350, 350]);
}

#[test]
fn intensity_exhausted_stops_everything_and_escalates() {
    let mut c = core(Strategy::OneForOne, 2);
    let t = Instant::now();
    for i in 0..2 {
        assert!(matches!(
            c.on_exit("a", failed(), t + Duration::from_secs(i))[0],
            Directive::Start { .. }
        ));
        c.started("a");
    }
    let out = c.on_exit("a", failed(), t + Duration::from_secs(2));
    assert_eq!(out[0], stop(&["c", "b"]));
    let Directive::Escalate(reason) = &out[1] else {
        panic!("{out:?}")
    };
    assert!(
        reason.contains("child a failed (boom)") && reason.contains("more than 2 restarts"),
        "{reason}"
    );
    assert!(c.gave_up());
    assert!(
        c.on_exit("b", failed(), t).is_empty(),
        "nothing after giving up"
    );
}

#[test]
fn restarts_outside_the_window_do_not_count() {
    let mut c = core(Strategy::OneForOne, 2);
    let t = Instant::now();
    for i in 0..6 {
        let out = c.on_exit("a", failed(), t + Duration::from_secs(11 * i));
        assert!(
            matches!(out[0], Directive::Start { .. }),
            "restart {i}: {out:?}"
        );
        c.started("a");
    }
}

#[test]
fn restart_types_decide_after_normal_and_failed_exits() {
    let cfg = SupervisorConfig::new("s");
    let mut c = SupervisorCore::new(cfg);
    for (id, r) in [
        ("p", Restart::Permanent),
        ("t", Restart::Transient),
        ("tmp", Restart::Temporary),
    ] {
        c.add(id, r);
        c.started(id);
    }
    let now = Instant::now();
    assert!(matches!(
        c.on_exit("p", Exit::Normal, now)[0],
        Directive::Start { .. }
    ));
    assert_eq!(
        c.on_exit("t", Exit::Normal, now),
        vec![Directive::Remove("t".into())]
    );
    assert_eq!(
        c.on_exit("tmp", failed(), now),
        vec![Directive::Remove("tmp".into())]
    );
    assert_eq!(c.children().collect::<Vec<_>>(), vec!["p"]);
}

#[test]
fn transient_child_restarts_after_a_failure() {
    let mut c = SupervisorCore::new(SupervisorConfig::new("s").backoff(Backoff::NONE));
    c.add("t", Restart::Transient);
    c.started("t");
    assert_eq!(
        c.on_exit("t", failed(), Instant::now()),
        vec![start(&["t"], 0)]
    );
}

#[test]
fn temporary_sibling_is_removed_not_restarted_by_one_for_all() {
    let mut c = SupervisorCore::new(
        SupervisorConfig::new("s")
            .strategy(Strategy::OneForAll)
            .backoff(Backoff::NONE),
    );
    c.add("a", Restart::Permanent);
    c.add("tmp", Restart::Temporary);
    c.started("a");
    c.started("tmp");
    assert_eq!(
        c.on_exit("a", failed(), Instant::now()),
        vec![
            stop(&["tmp"]),
            Directive::Remove("tmp".into()),
            start(&["a"], 0)
        ]
    );
}

#[test]
fn exits_that_were_asked_for_are_ignored() {
    let mut c = core(Strategy::OneForOne, 5);
    c.stopping("a");
    assert!(c.on_exit("a", failed(), Instant::now()).is_empty());
    assert!(c.on_exit("nobody", failed(), Instant::now()).is_empty());
}
