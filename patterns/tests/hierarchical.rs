//! The hierarchical pattern on a real runtime: split and combine down and up a tree, recovery
//! per each level's policy, escalation to the root, function leaves, composition with the
//! supervisor pattern, bad configs, and the skynet shape. No mocks, no sleeps.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use troupe_patterns::hierarchical::{
    self, Combine, FunctionLeaf, HierarchicalPattern, Split, TeamPolicy, TeamSpec,
};
use troupe_runtime::{Agent, AgentContext, AgentError, EventKind, EventStream, Runtime, Snapshot};

/// Panics on the first `crashes` calls made to any agent of the kind (a count shared across
/// restarts, unlike `util.crash`), then echoes.
struct CrashFirst {
    left: Arc<AtomicU64>,
}

impl Agent for CrashFirst {
    type Request = Value;
    type Reply = Value;
    type State = ();

    async fn init(&self, _: &AgentContext, _: Option<Snapshot>) -> Result<(), AgentError> {
        Ok(())
    }

    async fn handle(
        &self,
        _: &AgentContext,
        _: &mut (),
        input: Value,
    ) -> Result<Value, AgentError> {
        if self
            .left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            panic!("test.crash_first: crashing on purpose");
        }
        Ok(input)
    }
}

async fn runtime(crashes: u64) -> Runtime {
    let rt = Runtime::start(Default::default()).await.unwrap();
    troupe_agents::register_all(rt.kinds());
    troupe_patterns::supervisor::register(rt.kinds());
    hierarchical::register(rt.kinds());
    let left = Arc::new(AtomicU64::new(crashes));
    rt.kinds()
        .register("test.crash_first", "crashes first", move |_| {
            Ok(CrashFirst { left: left.clone() })
        });
    rt
}

/// Events published so far, as (agent or supervisor, kind).
fn drain(events: &mut EventStream) -> Vec<(String, EventKind)> {
    let mut out = Vec::new();
    while let Ok(e) = events.try_recv() {
        let who = match &e.kind {
            EventKind::SupervisorEscalated { supervisor, .. } => supervisor.clone(),
            _ => e.agent.map(|a| a.to_string()).unwrap_or_default(),
        };
        out.push((who, e.kind));
    }
    out
}

fn has(events: &[(String, EventKind)], who: &str, what: fn(&EventKind) -> bool) -> bool {
    events.iter().any(|(w, k)| w == who && what(k))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_split_down_the_tree_and_combined_up() {
    let rt = runtime(0).await;
    let cfg = json!({
        "combine": "sum",
        "members": {
            "leaf": {"type": "util.echo", "count": 2},
            "sub": {"count": 2, "combine": "sum", "members": {
                "leaf": {"type": "util.echo", "count": 3},
                "deeper": {"combine": "sum", "members": {"leaf": {"type": "util.echo", "count": 4}}},
            }},
        }
    });
    let root = rt
        .spawn_kind("pattern.hierarchical", "root", cfg)
        .await
        .unwrap();
    // 2 leaves + 2 sub-teams x (3 leaves + 4 deeper leaves), each answering 5.
    assert_eq!(
        root.ask_value(json!(5), None).await.unwrap(),
        json!(5 * (2 + 2 * (3 + 4)))
    );
    let ids: Vec<String> = rt
        .agents()
        .into_iter()
        .map(|(id, _)| id.to_string())
        .collect();
    for id in [
        "root/leaf/1",
        "root/sub/1",
        "root/sub/1/leaf/2",
        "root/sub/0/deeper/0/leaf/3",
    ] {
        assert!(ids.contains(&id.to_string()), "{id} in {ids:?}");
    }
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splits_and_combines_from_config() {
    let rt = runtime(0).await;
    let cfg = json!({
        "split": "by_group",
        "combine": "object",
        "members": {
            "one": {"type": "util.echo"},
            "many": {"split": "scatter", "combine": "concat", "members": {"e": {"type": "util.echo", "count": 3}}},
            "pair": {"type": "util.echo", "count": 2},
        }
    });
    let root = rt
        .spawn_kind("pattern.hierarchical", "root", cfg)
        .await
        .unwrap();
    let input = json!({"one": "a", "many": [[1, 2], 3, []], "pair": "p"});
    assert_eq!(
        root.ask_value(input, None).await.unwrap(),
        json!({"one": "a", "many": [1, 2, 3], "pair": ["p", "p"]})
    );
    let err = root
        .ask_value(json!({"one": 1, "many": [1], "pair": 2}), None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "agent root: child root/many/0 failed: agent root/many/0: scatter: the input has 1 elements for 3 children"
    );
    assert!(!err.is_retryable());
    let err = root.ask_value(json!([1]), None).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "agent root: by_group: the input must be an object keyed by group, not an array"
    );
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_member_is_restarted_and_the_job_completes() {
    let rt = runtime(2).await;
    let mut events = rt.subscribe();
    let cfg = json!({
        "combine": "concat",
        "members": {"sub": {"team": {"max_restarts": 5}, "members": {"w": {"type": "test.crash_first", "count": 2}}}}
    });
    let root = rt
        .spawn_kind("pattern.hierarchical", "root", cfg)
        .await
        .unwrap();
    assert_eq!(
        root.ask_value(json!("x"), None).await.unwrap(),
        json!(["x", "x"])
    );
    let events = drain(&mut events);
    assert!(has(&events, "root/sub/0/w/0", |k| matches!(
        k,
        EventKind::AgentRestarted { .. }
    )));
    assert!(!events
        .iter()
        .any(|(_, k)| matches!(k, EventKind::SupervisorEscalated { .. })));
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sub_team_that_gives_up_escalates_and_its_parent_restarts_it() {
    // The leaf crashes once: its team allows no restart, so the sub-team gives up and fails;
    // the root's policy restarts the sub-team, and the job completes on the new one.
    let rt = runtime(1).await;
    let mut events = rt.subscribe();
    let cfg = json!({
        "team": {"max_restarts": 3},
        "members": {"sub": {"team": {"max_restarts": 0}, "members": {"leaf": {"type": "test.crash_first"}}}}
    });
    let root = rt
        .spawn_kind("pattern.hierarchical", "root", cfg)
        .await
        .unwrap();
    assert_eq!(root.ask_value(json!(7), None).await.unwrap(), json!([[7]]));
    let events = drain(&mut events);
    assert!(has(&events, "root/sub/0/team", |k| matches!(
        k,
        EventKind::SupervisorEscalated { .. }
    )));
    assert!(has(&events, "root/sub/0", |k| matches!(
        k,
        EventKind::AgentFailed { .. }
    )));
    assert!(has(&events, "root/sub/0", |k| matches!(
        k,
        EventKind::AgentRestarted { .. }
    )));
    assert!(!has(&events, "root/team", |k| matches!(
        k,
        EventKind::SupervisorEscalated { .. }
    )));
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_job_fails_with_the_cause_when_the_root_gives_up() {
    let rt = runtime(0).await;
    let mut events = rt.subscribe();
    let cfg = json!({
        "team": {"max_restarts": 0},
        "members": {"sub": {"team": {"max_restarts": 0}, "members": {"leaf": {"type": "util.crash", "config": {"starts": 1000}}}}}
    });
    let root = rt
        .spawn_kind("pattern.hierarchical", "root", cfg)
        .await
        .unwrap();
    let err = root.ask_value(json!(1), None).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "agent root: its team gave up (more than 0 restarts within 10 s); last failure: \
         agent root/sub/0: its team gave up (more than 0 restarts within 10 s); last failure: \
         agent root/sub/0/leaf/0 failed while handling the request"
    );
    assert!(err.is_retryable());
    let events = drain(&mut events);
    assert!(has(&events, "root/sub/0/team", |k| matches!(
        k,
        EventKind::SupervisorEscalated { .. }
    )));
    assert!(has(&events, "root/team", |k| matches!(
        k,
        EventKind::SupervisorEscalated { .. }
    )));
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_leaves_that_panic_are_restarted_per_policy() {
    let rt = runtime(0).await;
    let mut events = rt.subscribe();
    let panics_left = Arc::new(AtomicU64::new(1));
    let left = panics_left.clone();
    let leaf = FunctionLeaf::sync(move |call| {
        if call.index == 1
            && left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            panic!("leaf 1 panics once");
        }
        Ok(json!(call.input.as_i64().unwrap_or(0) + call.index as i64))
    });
    let spec = TeamSpec::new()
        .combine(Combine::Sum)
        .functions("f", 3, leaf);
    let tree = rt
        .spawn("tree", HierarchicalPattern::new(spec).unwrap())
        .await
        .unwrap();
    assert_eq!(tree.ask(json!(10)).await.unwrap(), json!(33));
    let events = drain(&mut events);
    let failed = events.iter().find_map(|(who, k)| match k {
        EventKind::AgentFailed { reason, .. } if who == "tree/f/1#1" => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(
        failed.as_deref(),
        Some("function leaf tree/f/1 panicked: leaf 1 panics once")
    );

    // A leaf that always panics: the team allows two restarts, then gives up.
    let always = FunctionLeaf::new(|_call| async { panic!("boom") });
    let spec = TeamSpec::new()
        .policy(TeamPolicy {
            max_restarts: 2,
            ..TeamPolicy::default()
        })
        .max_retries(10)
        .functions("f", 1, always);
    let tree = rt
        .spawn("doomed", HierarchicalPattern::new(spec).unwrap())
        .await
        .unwrap();
    let err = tree.ask(json!(0)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "agent doomed: its team gave up (more than 2 restarts within 10 s); last failure: function leaf doomed/f/0 panicked: boom"
    );
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_member_can_be_a_supervisor_pattern() {
    let rt = runtime(1).await;
    let cfg = json!({
        "split": "by_group",
        "combine": "object",
        "members": {
            "crew": {"type": "pattern.supervisor", "config": {
                "members": {"w": {"type": "test.crash_first", "count": 2}},
                "routing": "least_loaded",
            }},
            "solo": {"type": "util.echo"},
        }
    });
    let root = rt
        .spawn_kind("pattern.hierarchical", "root", cfg)
        .await
        .unwrap();
    let reply = root
        .ask_value(json!({"crew": [1, 2, 3, 4], "solo": "s"}), None)
        .await
        .unwrap();
    assert_eq!(reply, json!({"crew": [1, 2, 3, 4], "solo": "s"}));
    let kinds: Vec<(String, String)> = rt
        .agents()
        .into_iter()
        .map(|(id, k)| (id.to_string(), k))
        .collect();
    assert!(kinds.contains(&("root/crew/0".into(), "pattern.supervisor".into())));
    assert!(kinds.contains(&("root/crew/0/w/1".into(), "test.crash_first".into())));
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configs_are_rejected_naming_the_field() {
    let rt = runtime(0).await;
    let cases = [
        (
            json!({"members": {"s": {"members": {"l": {"type": "util.echo", "count": "x"}}}}}),
            "at /members/s/members/l/count: invalid type",
        ),
        (
            json!({"members": {"s": {"members": {"l": {"type": "util.echo"}}, "cnt": 2}}}),
            "at /members/s/cnt: unknown field",
        ),
        (
            json!({"members": {"l": {"type": "util.echo"}}, "split": "random"}),
            "at /split: unknown variant `random`",
        ),
        (
            json!({"members": {"l": {"config": {}}}}),
            "at /members/l: a member group needs `type`",
        ),
        (
            json!({"members": {}}),
            "at /members: a team needs at least one member group",
        ),
        (
            json!({"members": {"s": {"count": 0, "members": {"l": {"type": "util.echo"}}}}}),
            "at /members/s/count: must be at least 1",
        ),
    ];
    for (cfg, expected) in cases {
        let err = rt
            .spawn_kind("pattern.hierarchical", "root", cfg.clone())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("agent kind pattern.hierarchical: bad config"),
            "{err}"
        );
        assert!(err.contains(expected), "{cfg}: {err}");
    }
    let err = rt
        .spawn_kind(
            "pattern.hierarchical",
            "root",
            json!({"members": {"s": {"members": {"l": {"type": "no.such"}}}}}),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown agent kind \"no.such\""), "{err}");
    rt.shutdown().await;
}

/// The skynet tree: leaves answer their index, teams of 10 sum.
fn skynet(leaves: u64) -> TeamSpec {
    let split = Split::custom(|input, children| {
        let (start, size) = (
            input[0].as_u64().unwrap_or(0),
            input[1].as_u64().unwrap_or(0),
        );
        let part = size / children.len() as u64;
        Ok((0..children.len() as u64)
            .map(|k| json!([start + k * part, part]))
            .collect())
    });
    let mut spec = TeamSpec::new()
        .split(split.clone())
        .combine(Combine::Sum)
        .functions(
            "l",
            10,
            FunctionLeaf::sync(|call| Ok(call.input[0].clone())),
        );
    let mut size = 10;
    while size < leaves {
        spec = TeamSpec::new()
            .split(split.clone())
            .combine(Combine::Sum)
            .teams("t", 10, spec);
        size *= 10;
    }
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skynet_sums_exactly() {
    let rt = runtime(0).await;
    let n: u64 = 10_000;
    let tree = rt
        .spawn("skynet", HierarchicalPattern::new(skynet(n)).unwrap())
        .await
        .unwrap();
    assert_eq!(
        tree.ask(json!([0, n])).await.unwrap(),
        json!(n * (n - 1) / 2)
    );
    assert_eq!(rt.agents().len(), 1 + 10 + 100 + 1000);
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_sub_team_is_rebuilt_after_it_gives_up() {
    // The sub-team has 50 sub-teams of 4 agents each; its one crashing member makes it give up,
    // and the root restarts it: the new incarnation rebuilds the same ids while the old subtree
    // goes away.
    let rt = runtime(1).await;
    let mut events = rt.subscribe();
    let cfg = json!({
        "team": {"max_restarts": 3},
        "combine": "concat",
        "members": {"big": {
            "team": {"max_restarts": 0},
            "combine": "concat",
            "members": {
                "crash": {"type": "test.crash_first"},
                "many": {"count": 50, "combine": "concat", "members": {"e": {"type": "util.echo", "count": 4}}},
            },
        }}
    });
    let root = rt
        .spawn_kind("pattern.hierarchical", "root", cfg)
        .await
        .unwrap();
    let reply = root.ask_value(json!(1), None).await.unwrap();
    assert_eq!(reply.as_array().unwrap().len(), 1 + 50 * 4);
    let events = drain(&mut events);
    assert!(has(&events, "root/big/0/team", |k| matches!(
        k,
        EventKind::SupervisorEscalated { .. }
    )));
    assert!(has(&events, "root/big/0", |k| matches!(
        k,
        EventKind::AgentRestarted { .. }
    )));
    assert_eq!(rt.agents().len(), 1 + 1 + 1 + 50 + 200);
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_fails_when_a_child_is_stopped_for_good() {
    let rt = runtime(0).await;
    let cfg = json!({
        "team": {"max_restarts": 1000000},
        "max_retries": 1000000,
        "members": {"w": {"type": "util.crash", "config": {"starts": 1000000}}}
    });
    let root = rt
        .spawn_kind("pattern.hierarchical", "root", cfg)
        .await
        .unwrap();
    let job = tokio::spawn(async move { root.ask_value(json!(1), None).await });
    assert!(rt.stop_agent("root/w/0").await);
    let err = job.await.unwrap().unwrap_err();
    assert_eq!(
        err.to_string(),
        "agent root: child root/w/0 failed: it left the team for good (stopped on request)"
    );
    rt.shutdown().await;
}
