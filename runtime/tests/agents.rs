//! The agent SDK end to end: ask, tell, errors, restarts, snapshots, directory, isolation.

mod common;

use std::time::Duration;

use common::{restarted, wait_for, Counter, CounterReq};
use troupe_runtime::{
    AgentError, CallError, Restart, Runtime, RuntimeConfig, SpawnError, SpawnOptions,
};

async fn runtime(name: &str) -> Runtime {
    Runtime::start(RuntimeConfig::named(name)).await.unwrap()
}

#[tokio::test]
async fn ask_returns_replies_and_state_accumulates() {
    let rt = runtime("n1").await;
    let c = rt.spawn("c", Counter { persistent: false }).await.unwrap();
    assert_eq!(c.ask(CounterReq::Add(2)).await.unwrap(), 2);
    c.tell(CounterReq::Add(3)).unwrap();
    assert_eq!(
        c.ask(CounterReq::Add(0)).await.unwrap(),
        5,
        "tell is processed in order"
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn handler_errors_are_typed_and_the_agent_goes_on() {
    let rt = runtime("n1").await;
    let c = rt.spawn("c", Counter { persistent: false }).await.unwrap();
    let err = c.ask(CounterReq::Reject).await.unwrap_err();
    assert_eq!(
        err,
        CallError::Rejected {
            agent: "c".into(),
            error: AgentError::permanent("rejected on purpose")
        }
    );
    assert!(!err.is_retryable());
    assert_eq!(c.ask(CounterReq::Add(1)).await.unwrap(), 1);
    assert_eq!(c.starts(), 1, "an error is not a crash");
    rt.shutdown().await;
}

#[tokio::test]
async fn a_panicking_agent_is_restarted_and_the_caller_told() {
    let rt = runtime("n1").await;
    let mut events = rt.subscribe();
    let c = rt.spawn("c", Counter { persistent: false }).await.unwrap();
    c.ask(CounterReq::Add(5)).await.unwrap();
    let err = c.ask(CounterReq::Crash).await.unwrap_err();
    assert_eq!(err, CallError::AgentFailed { agent: "c".into() });
    assert!(err.is_retryable());
    wait_for(&mut events, |e| restarted(e, "c")).await;
    assert_eq!(
        c.ask(CounterReq::Add(1)).await.unwrap(),
        1,
        "no persistence: state starts over"
    );
    assert_eq!(c.starts(), 2);
    rt.shutdown().await;
}

#[tokio::test]
async fn persistent_state_survives_a_restart() {
    let rt = runtime("n1").await;
    let mut events = rt.subscribe();
    let c = rt.spawn("c", Counter { persistent: true }).await.unwrap();
    c.ask(CounterReq::Add(40)).await.unwrap();
    c.ask(CounterReq::Add(2)).await.unwrap();
    let _ = c.ask(CounterReq::Crash).await;
    wait_for(&mut events, |e| restarted(e, "c")).await;
    assert_eq!(c.ask(CounterReq::Add(0)).await.unwrap(), 42);
    rt.shutdown().await;
}

#[tokio::test]
async fn an_agent_can_start_from_a_snapshot() {
    let rt = runtime("n1").await;
    let a = rt.spawn("a", Counter { persistent: false }).await.unwrap();
    a.ask(CounterReq::Add(9)).await.unwrap();
    let snap = a
        .snapshot()
        .await
        .unwrap()
        .expect("counter keeps snapshots");
    let b = rt
        .spawn_with(
            "b",
            Counter { persistent: false },
            SpawnOptions::default().from_snapshot(snap),
        )
        .await
        .unwrap();
    assert_eq!(b.ask(CounterReq::Add(1)).await.unwrap(), 10);
    rt.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn ask_timeout_is_a_typed_error() {
    let rt = runtime("n1").await;
    let c = rt.spawn("c", Counter { persistent: false }).await.unwrap();
    let err = c
        .ask_timeout(CounterReq::Sleep(10_000), Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        CallError::Timeout {
            agent: "c".into(),
            after: Duration::from_millis(50)
        }
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn directory_lookups_by_logical_id() {
    let rt = runtime("n1").await;
    rt.spawn("c", Counter { persistent: false }).await.unwrap();
    let again = rt.agent::<Counter>("c").unwrap();
    assert_eq!(again.ask(CounterReq::Add(1)).await.unwrap(), 1);
    assert_eq!(
        rt.agent::<Counter>("nope").unwrap_err(),
        CallError::NoSuchAgent {
            agent: "nope".into()
        }
    );
    let dup = rt
        .spawn("c", Counter { persistent: false })
        .await
        .unwrap_err();
    assert_eq!(dup, SpawnError::AlreadyExists("c".into()));
    assert!(
        matches!(rt.dyn_agent("c"), Err(CallError::WrongKind { .. })),
        "not a registered kind"
    );
    assert!(rt.stop_agent("c").await);
    assert!(matches!(
        rt.agent::<Counter>("c"),
        Err(CallError::NoSuchAgent { .. })
    ));
    assert!(matches!(
        again.ask(CounterReq::Add(1)).await,
        Err(CallError::AgentStopped { .. })
    ));
    rt.shutdown().await;
}

#[tokio::test]
async fn temporary_agents_are_forgotten_when_they_crash() {
    let rt = runtime("n1").await;
    let mut events = rt.subscribe();
    let c = rt
        .spawn_with(
            "t",
            Counter { persistent: false },
            SpawnOptions::default().restart(Restart::Temporary),
        )
        .await
        .unwrap();
    let _ = c.ask(CounterReq::Crash).await;
    wait_for(&mut events, |e| {
        matches!(e.kind, troupe_runtime::EventKind::AgentFailed { .. })
    })
    .await;
    // The supervisor handles the exit before it answers a later request.
    let children = rt.agents_supervisor().children().await;
    assert!(
        children.is_empty(),
        "temporary child forgotten: {children:?}"
    );
    assert!(rt.agents().is_empty(), "and gone from the directory");
    assert!(matches!(
        c.ask(CounterReq::Add(1)).await,
        Err(CallError::AgentStopped { .. })
    ));
    rt.shutdown().await;
}

#[tokio::test]
async fn two_runtimes_in_one_process_do_not_interfere() {
    let a = runtime("a").await;
    let b = runtime("b").await;
    let ca = a
        .spawn("same-id", Counter { persistent: false })
        .await
        .unwrap();
    let cb = b
        .spawn("same-id", Counter { persistent: false })
        .await
        .unwrap();
    let mut events_b = b.subscribe();
    ca.ask(CounterReq::Add(100)).await.unwrap();
    assert_eq!(cb.ask(CounterReq::Add(1)).await.unwrap(), 1);
    let _ = ca.ask(CounterReq::Crash).await;
    a.shutdown().await;
    assert_eq!(
        cb.ask(CounterReq::Add(1)).await.unwrap(),
        2,
        "b unaffected by a's crash and shutdown"
    );
    assert_eq!(b.agents().len(), 1);
    // b saw only its own agent's start, none of a's events.
    b.spawn("other", Counter { persistent: false })
        .await
        .unwrap();
    let e = wait_for(&mut events_b, |_| true).await;
    assert_eq!(e.agent.unwrap().as_str(), "other");
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_spawn_stop_cycles_with_reused_ids_keep_the_tree_healthy() {
    let rt = runtime("n1").await;
    let mut events = rt.subscribe();
    for round in 0..5 {
        for i in 0..300 {
            let c = rt
                .spawn(format!("a-{i}"), Counter { persistent: false })
                .await
                .unwrap();
            if i % 50 == 0 {
                assert_eq!(c.ask(CounterReq::Add(1)).await.unwrap(), 1);
            }
        }
        for i in 0..300 {
            assert!(
                rt.stop_agent(&format!("a-{i}")).await,
                "round {round}: a-{i} was not known"
            );
        }
        assert!(rt.agents().is_empty(), "round {round}");
    }
    assert!(rt.is_healthy());
    while let Ok(e) = events.try_recv() {
        assert!(
            !matches!(
                e.kind,
                troupe_runtime::EventKind::AgentFailed { .. }
                    | troupe_runtime::EventKind::SupervisorEscalated { .. }
            ),
            "{e:?}"
        );
    }
    rt.shutdown().await;
}

#[tokio::test]
async fn a_restarted_agent_notifies_its_watchers_instead_of_being_polled() {
    let rt = runtime("watch").await;
    let boom = troupe_runtime::FnAgent::new(|v: serde_json::Value| {
        if v == serde_json::json!("boom") {
            panic!("boom");
        }
        Ok::<_, AgentError>(v)
    });
    let agent = rt.spawn("w", boom).await.unwrap();
    let mut started = agent.watch_starts();
    // The first start is announced once the actor runs (the deadlines only guard a hang).
    let first = tokio::time::timeout(Duration::from_secs(30), started.wait_for(|&n| n >= 1));
    assert_eq!(*first.await.expect("the start is announced").unwrap(), 1);
    assert!(agent.ask(serde_json::json!("boom")).await.is_err());
    // Told when the supervisor has it running again.
    let again = tokio::time::timeout(Duration::from_secs(30), started.wait_for(|&n| n >= 2));
    assert_eq!(*again.await.expect("the restart is announced").unwrap(), 2);
    assert!(agent.is_running());
    assert_eq!(
        agent.ask(serde_json::json!("back")).await.unwrap(),
        serde_json::json!("back")
    );
    rt.shutdown().await;
}
