//! Supervision trees with real actors: each strategy with a failing child, restart backoff,
//! and intensity exhaustion escalating up to the root.

mod common;

use std::time::Duration;

use common::{restarted, wait_for, Counter, CounterReq};
use troupe_runtime::{
    AgentRef, Backoff, EventKind, Restart, Runtime, RuntimeConfig, Strategy, SupervisorConfig,
};

async fn tree(rt: &Runtime, strategy: Strategy) -> Vec<AgentRef<Counter>> {
    let mut specs = Vec::new();
    let mut refs = Vec::new();
    for id in ["a", "b", "c"] {
        let (spec, r) = rt
            .agent_spec(id, Counter { persistent: false }, Restart::Permanent)
            .unwrap();
        specs.push(spec);
        refs.push(r);
    }
    let cfg = SupervisorConfig::new("team")
        .strategy(strategy)
        .backoff(Backoff::NONE);
    rt.start_supervisor(cfg, specs).await.unwrap();
    refs
}

async fn crash_b_and_wait(rt: &Runtime, refs: &[AgentRef<Counter>], expect_restarted: &[&str]) {
    let mut events = rt.subscribe();
    for r in refs {
        r.ask(CounterReq::Add(1)).await.unwrap();
    }
    let _ = refs[1].ask(CounterReq::Crash).await;
    for id in expect_restarted {
        wait_for(&mut events, |e| restarted(e, id)).await;
    }
}

#[tokio::test]
async fn one_for_one_restarts_only_the_failed_child() {
    let rt = Runtime::start(RuntimeConfig::default()).await.unwrap();
    let refs = tree(&rt, Strategy::OneForOne).await;
    crash_b_and_wait(&rt, &refs, &["b"]).await;
    let starts: Vec<u64> = refs.iter().map(|r| r.starts()).collect();
    assert_eq!(starts, vec![1, 2, 1]);
    assert_eq!(
        refs[0].ask(CounterReq::Add(0)).await.unwrap(),
        1,
        "a kept its state"
    );
    assert_eq!(
        refs[1].ask(CounterReq::Add(0)).await.unwrap(),
        0,
        "b started over"
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn one_for_all_restarts_every_child() {
    let rt = Runtime::start(RuntimeConfig::default()).await.unwrap();
    let refs = tree(&rt, Strategy::OneForAll).await;
    crash_b_and_wait(&rt, &refs, &["a", "b", "c"]).await;
    let starts: Vec<u64> = refs.iter().map(|r| r.starts()).collect();
    assert_eq!(starts, vec![2, 2, 2]);
    for r in &refs {
        assert_eq!(r.ask(CounterReq::Add(0)).await.unwrap(), 0);
    }
    rt.shutdown().await;
}

#[tokio::test]
async fn rest_for_one_restarts_the_child_and_later_siblings() {
    let rt = Runtime::start(RuntimeConfig::default()).await.unwrap();
    let refs = tree(&rt, Strategy::RestForOne).await;
    crash_b_and_wait(&rt, &refs, &["b", "c"]).await;
    let starts: Vec<u64> = refs.iter().map(|r| r.starts()).collect();
    assert_eq!(starts, vec![1, 2, 2]);
    assert_eq!(refs[0].ask(CounterReq::Add(0)).await.unwrap(), 1);
    rt.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn restarts_wait_out_an_exponential_backoff() {
    let rt = Runtime::start(RuntimeConfig::default()).await.unwrap();
    let (spec, a) = rt
        .agent_spec("a", Counter { persistent: false }, Restart::Permanent)
        .unwrap();
    let backoff = Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(8),
        multiplier: 2.0,
    };
    let cfg = SupervisorConfig::new("slow")
        .intensity(10, Duration::from_secs(3600))
        .backoff(backoff);
    rt.start_supervisor(cfg, vec![spec]).await.unwrap();
    let mut events = rt.subscribe();
    let mut waits = Vec::new();
    for _ in 0..3 {
        let _ = a.ask(CounterReq::Crash).await;
        let t0 = tokio::time::Instant::now();
        wait_for(&mut events, |e| restarted(e, "a")).await;
        waits.push(t0.elapsed());
    }
    // Virtual time: each restart waited its backoff (1 s, 2 s, 4 s), not less.
    for (w, expected) in waits.iter().zip([1u64, 2, 4]) {
        assert!(
            *w >= Duration::from_secs(expected),
            "waited {w:?}, expected {expected}s"
        );
        assert!(
            *w < Duration::from_secs(expected * 2),
            "waited {w:?}, expected {expected}s"
        );
    }
    rt.shutdown().await;
}

#[tokio::test]
async fn a_parent_restarts_a_nested_supervisor_that_gave_up() {
    let rt = Runtime::start(RuntimeConfig::default()).await.unwrap();
    let mut events = rt.subscribe();
    let (x_spec, x) = rt
        .agent_spec("x", Counter { persistent: false }, Restart::Permanent)
        .unwrap();
    let inner_cfg = SupervisorConfig::new("inner")
        .intensity(1, Duration::from_secs(60))
        .backoff(Backoff::NONE);
    let (inner, _) = rt.supervisor_spec("inner", inner_cfg, vec![x_spec]);
    let outer_cfg = SupervisorConfig::new("outer")
        .intensity(5, Duration::from_secs(60))
        .backoff(Backoff::NONE);
    rt.start_supervisor(outer_cfg, vec![inner]).await.unwrap();

    let _ = x.ask(CounterReq::Crash).await; // restart 1: allowed
    wait_for(&mut events, |e| restarted(e, "x")).await;
    let _ = x.ask(CounterReq::Crash).await; // restart 2: inner gives up
    let e = wait_for(&mut events, |e| {
        matches!(e.kind, EventKind::SupervisorEscalated { .. })
    })
    .await;
    let EventKind::SupervisorEscalated { supervisor, reason } = e.kind else {
        unreachable!()
    };
    assert_eq!(supervisor, "inner");
    assert!(
        reason.contains("child x failed") && reason.contains("counter crashed on purpose"),
        "{reason}"
    );
    // outer restarts inner, which starts x again.
    wait_for(&mut events, |e| restarted(e, "x")).await;
    assert_eq!(x.starts(), 3);
    assert_eq!(x.ask(CounterReq::Add(2)).await.unwrap(), 2);
    assert!(rt.is_healthy());
    rt.shutdown().await;
}

#[tokio::test]
async fn escalation_reaches_the_root_and_is_reported() {
    let mut config = RuntimeConfig::named("fragile");
    config.root = SupervisorConfig::new("root").intensity(0, Duration::from_secs(60));
    let rt = Runtime::start(config).await.unwrap();
    let mut events = rt.subscribe();
    let (x_spec, x) = rt
        .agent_spec("x", Counter { persistent: false }, Restart::Permanent)
        .unwrap();
    let cfg = SupervisorConfig::new("team").intensity(0, Duration::from_secs(60));
    rt.start_supervisor(cfg, vec![x_spec]).await.unwrap();

    let _ = x.ask(CounterReq::Crash).await;
    let mut escalated = Vec::new();
    loop {
        let e = wait_for(&mut events, |e| {
            matches!(
                e.kind,
                EventKind::SupervisorEscalated { .. } | EventKind::RootFailed { .. }
            )
        })
        .await;
        match e.kind {
            EventKind::SupervisorEscalated { supervisor, .. } => escalated.push(supervisor),
            EventKind::RootFailed { reason } => {
                assert!(reason.contains("root"), "{reason}");
                break;
            }
            _ => unreachable!(),
        }
    }
    assert_eq!(escalated, vec!["team".to_string(), "root".to_string()]);
    assert!(!rt.is_healthy());
    rt.shutdown().await;
}

/// Records the order in which agents stop cleanly.
struct Recorder {
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl troupe_runtime::Agent for Recorder {
    type Request = ();
    type Reply = ();
    type State = ();

    async fn init(
        &self,
        _ctx: &troupe_runtime::AgentContext,
        _s: Option<troupe_runtime::Snapshot>,
    ) -> Result<(), troupe_runtime::AgentError> {
        Ok(())
    }

    async fn handle(
        &self,
        _ctx: &troupe_runtime::AgentContext,
        _st: &mut (),
        _r: (),
    ) -> Result<(), troupe_runtime::AgentError> {
        Ok(())
    }

    async fn stopped(&self, ctx: &troupe_runtime::AgentContext, _st: &mut ()) {
        self.log.lock().unwrap().push(ctx.id().to_string());
    }
}

#[tokio::test]
async fn shutdown_stops_children_cleanly_in_reverse_start_order() {
    let rt = Runtime::start(RuntimeConfig::default()).await.unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut specs = Vec::new();
    for id in ["first", "second", "third"] {
        let (spec, _) = rt
            .agent_spec(id, Recorder { log: log.clone() }, Restart::Permanent)
            .unwrap();
        specs.push(spec);
    }
    rt.start_supervisor(SupervisorConfig::new("ordered"), specs)
        .await
        .unwrap();
    let mut events = rt.subscribe();
    rt.shutdown().await;
    assert_eq!(*log.lock().unwrap(), vec!["third", "second", "first"]);
    let mut stopped = Vec::new();
    while let Ok(e) = events.try_recv() {
        if e.kind == EventKind::AgentStopped {
            stopped.push(e.agent.unwrap().to_string());
        }
    }
    assert_eq!(stopped, vec!["third", "second", "first"]);
}

/// An agent that runs a team of one `Counter` worker and forwards requests to it.
struct Lead;

struct LeadState {
    worker: AgentRef<Counter>,
}

impl troupe_runtime::Agent for Lead {
    type Request = CounterReq;
    type Reply = u64;
    type State = LeadState;

    async fn init(
        &self,
        ctx: &troupe_runtime::AgentContext,
        _s: Option<troupe_runtime::Snapshot>,
    ) -> Result<LeadState, troupe_runtime::AgentError> {
        let rt = ctx.runtime().unwrap();
        let id = "worker";
        let (spec, worker) = rt
            .agent_spec(id, Counter { persistent: false }, Restart::Permanent)
            .unwrap();
        let cfg = SupervisorConfig::new("lead-team")
            .intensity(1, Duration::from_secs(60))
            .backoff(Backoff::NONE);
        ctx.start_team(cfg, vec![spec])
            .await
            .map_err(|e| troupe_runtime::AgentError::permanent(e.to_string()))?;
        Ok(LeadState { worker })
    }

    async fn handle(
        &self,
        _ctx: &troupe_runtime::AgentContext,
        st: &mut LeadState,
        req: CounterReq,
    ) -> Result<u64, troupe_runtime::AgentError> {
        st.worker
            .ask(req)
            .await
            .map_err(|e| troupe_runtime::AgentError::transient(e.to_string()))
    }
}

#[tokio::test]
async fn a_team_that_gives_up_fails_its_agent_which_is_restarted_with_a_new_team() {
    let rt = Runtime::start(RuntimeConfig::default()).await.unwrap();
    let mut events = rt.subscribe();
    let lead = rt.spawn("lead", Lead).await.unwrap();
    assert_eq!(lead.ask(CounterReq::Add(3)).await.unwrap(), 3);
    let _ = lead.ask(CounterReq::Crash).await; // the worker crashes: restart 1 of 1 allowed
    wait_for(&mut events, |e| restarted(e, "worker")).await;
    let _ = lead.ask(CounterReq::Crash).await; // again: the team gives up, the lead fails
    let e = wait_for(&mut events, |e| matches!(&e.kind, EventKind::SupervisorEscalated { supervisor, .. } if supervisor == "lead-team")).await;
    assert!(matches!(e.kind, EventKind::SupervisorEscalated { .. }));
    wait_for(&mut events, |e| restarted(e, "lead")).await;
    assert_eq!(lead.starts(), 2);
    assert_eq!(
        lead.ask(CounterReq::Add(1)).await.unwrap(),
        1,
        "served by the new team's worker"
    );
    // The new team reused the id "worker": the old team's entry was freed with it.
    assert!(rt.agent::<Counter>("worker").unwrap().is_running());
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_tells_of_restarts_removals_and_its_stop_without_polling() {
    let rt = Runtime::start(RuntimeConfig::default()).await.unwrap();
    let mut specs = Vec::new();
    let mut refs = Vec::new();
    for id in ["a", "b"] {
        let (spec, r) = rt
            .agent_spec(id, Counter { persistent: false }, Restart::Permanent)
            .unwrap();
        specs.push(spec);
        refs.push(r);
    }
    let cfg = SupervisorConfig::new("told")
        .intensity(1, Duration::from_secs(60))
        .backoff(Backoff::NONE);
    let team = rt.start_supervisor(cfg, specs).await.unwrap();
    assert!(team.has_child("a") && team.has_child("b") && !team.has_child("z"));

    // A crash: the "started again" notification comes once the new incarnation takes calls.
    let mut started = refs[0].watch_starts();
    let _ = refs[0].ask(CounterReq::Crash).await;
    started.changed().await.unwrap();
    assert_eq!(*started.borrow(), 2);
    assert!(refs[0].is_running());
    assert_eq!(refs[0].ask(CounterReq::Add(1)).await.unwrap(), 1);

    // A removal: the count changes, and the child table no longer has it.
    let mut removals = team.watch_removals();
    assert!(team.terminate_child("b").await);
    removals.changed().await.unwrap();
    assert_eq!(*removals.borrow(), 1);
    assert!(!team.has_child("b"));

    // Giving up (a second crash within the intensity): `stopped` returns once the supervisor
    // has stopped; its escalation was published before that.
    let mut events = rt.subscribe();
    let _ = refs[0].ask(CounterReq::Crash).await;
    team.stopped().await;
    let escalated = std::iter::from_fn(|| events.try_recv().ok()).any(|e| {
        matches!(e.kind, EventKind::SupervisorEscalated { ref supervisor, .. } if supervisor == "told")
    });
    assert!(escalated);
    rt.shutdown().await;
}
