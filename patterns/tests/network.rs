//! The network pattern on a real runtime: routes across several members, cycles stopped by the
//! hop budget, fan-out and the message budget, member crashes, unknown targets, protocol
//! errors, composition and bad configs. Members are plain function members registered per test.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::task::JoinSet;
use troupe_patterns::network::{self, NetworkClient, NetworkConfig, PeerInput, Step};
use troupe_runtime::{AgentError, CallError, EventKind, Runtime, RuntimeConfig};

async fn runtime() -> Runtime {
    let rt = Runtime::start(RuntimeConfig::named("network-test"))
        .await
        .unwrap();
    troupe_patterns::register_all(rt.kinds());
    troupe_agents::register_all(rt.kinds());
    rt
}

/// Every input each member received, in order.
type Seen = Arc<Mutex<Vec<(String, PeerInput)>>>;

fn member<F>(rt: &Runtime, seen: &Seen, name: &str, f: F)
where
    F: Fn(&PeerInput) -> Result<Step, AgentError> + Send + Sync + 'static,
{
    let (seen, who) = (seen.clone(), name.to_string());
    network::register_member(rt.kinds(), name, "test member", move |input| {
        seen.lock().push((who.clone(), input.clone()));
        f(&input)
    });
}

fn net(members: &[&str], entry: &str) -> NetworkConfig {
    members.iter().fold(NetworkConfig::new(entry), |c, m| {
        c.member(*m, m, Value::Null)
    })
}

fn message(err: CallError) -> String {
    match err {
        CallError::Rejected { error, .. } => error.to_string(),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn a_message_travels_a_route_across_several_members() {
    let rt = runtime().await;
    let seen = Seen::default();
    member(&rt, &seen, "a", |i| {
        Ok(Step::send("b", json!([i.message.clone(), "a"])))
    });
    member(&rt, &seen, "b", |_| Ok(Step::forward("c")));
    member(&rt, &seen, "c", |i| {
        let mut trail = i.message.as_array().cloned().unwrap_or_default();
        trail.push(json!("c"));
        Ok(Step::send("d", Value::Array(trail)))
    });
    member(&rt, &seen, "d", |i| {
        Ok(Step::reply(json!({"trail": i.message, "from": i.from})))
    });
    let net = NetworkClient::spawn(&rt, "net", net(&["a", "b", "c", "d"], "a"))
        .await
        .unwrap();

    let out = net.ask("q").await.unwrap();
    assert_eq!(out.answer, json!({"trail": ["q", "a", "c"], "from": "c"}));
    assert_eq!(out.path, ["a", "b", "c", "d"]);
    let seen = seen.lock().clone();
    let hops: Vec<(&str, Option<&str>, usize, u32)> = seen
        .iter()
        .map(|(w, i)| (w.as_str(), i.from.as_deref(), i.path.len(), i.hops_left))
        .collect();
    assert_eq!(
        hops,
        [
            ("a", None, 1, 8),
            ("b", Some("a"), 2, 7),
            ("c", Some("b"), 3, 6),
            ("d", Some("c"), 4, 5)
        ]
    );
    assert_eq!(
        seen[2].1.message,
        json!(["q", "a"]),
        "forward passed the message unchanged"
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn a_cycle_is_stopped_by_the_hop_budget() {
    let rt = runtime().await;
    let seen = Seen::default();
    member(&rt, &seen, "ping", |_| Ok(Step::forward("pong")));
    member(&rt, &seen, "pong", |_| Ok(Step::forward("ping")));
    let config = net(&["ping", "pong"], "ping").hop_budget(4);
    let net = NetworkClient::spawn(&rt, "net", config).await.unwrap();

    let err = net.ask("round and round").await.unwrap_err();
    assert!(!err.is_retryable());
    assert_eq!(
        message(err),
        "hop budget of 4 spent: ping -> pong -> ping -> pong -> ping (refused: ping -> pong)"
    );
    assert_eq!(seen.lock().len(), 5, "the entry delivery plus 4 hops");
    assert_eq!(seen.lock().last().unwrap().1.hops_left, 0);
    rt.shutdown().await;
}

#[tokio::test]
async fn a_send_to_an_unknown_member_fails_clearly() {
    let rt = runtime().await;
    let seen = Seen::default();
    member(&rt, &seen, "a", |_| Ok(Step::send("zed", json!("hello?"))));
    member(&rt, &seen, "b", |_| Ok(Step::reply("b")));
    let net = NetworkClient::spawn(&rt, "net", net(&["a", "b"], "a"))
        .await
        .unwrap();
    let err = message(net.ask("x").await.unwrap_err());
    assert_eq!(
        err,
        "member a sent to unknown member \"zed\" (members: a, b)"
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn a_crashed_member_is_restarted_and_its_message_retried() {
    let rt = runtime().await;
    let mut events = rt.subscribe();
    let seen = Seen::default();
    let crashed = Arc::new(AtomicBool::new(false));
    member(&rt, &seen, "a", |_| Ok(Step::forward("b")));
    let once = crashed.clone();
    member(&rt, &seen, "b", move |i| {
        if !once.swap(true, Ordering::SeqCst) {
            panic!("b crashed on purpose");
        }
        Ok(Step::reply(json!({"b got": i.message})))
    });
    let net = NetworkClient::spawn(&rt, "net", net(&["a", "b"], "a"))
        .await
        .unwrap();

    let out = net.ask("payload").await.unwrap();
    assert_eq!(out.answer, json!({"b got": "payload"}));
    let b_calls: Vec<Value> = seen
        .lock()
        .iter()
        .filter(|(w, _)| w == "b")
        .map(|(_, i)| i.message.clone())
        .collect();
    assert_eq!(
        b_calls,
        [json!("payload"), json!("payload")],
        "the held message was retried"
    );
    let mut restarted = false;
    while let Ok(e) = events.try_recv() {
        restarted |= matches!(e.kind, EventKind::AgentRestarted { .. })
            && e.agent.as_ref().is_some_and(|a| a.as_str() == "net/b/0");
    }
    assert!(restarted, "the team restarted b before the retry");
    rt.shutdown().await;
}

#[tokio::test]
async fn a_member_that_keeps_crashing_fails_the_request_and_the_network_recovers() {
    let rt = runtime().await;
    let seen = Seen::default();
    member(&rt, &seen, "a", |i| {
        Ok(match i.message.as_str() {
            Some("crash") => Step::forward("b"),
            _ => Step::reply("a answers"),
        })
    });
    member(&rt, &seen, "b", |_| panic!("b always crashes"));
    let net = NetworkClient::spawn(&rt, "net", net(&["a", "b"], "a"))
        .await
        .unwrap();

    let err = net.ask("crash").await.unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(
        message(err),
        "member b: agent net/b/0 crashed on each of 2 attempt(s) (restarted by the team each time)"
    );
    assert_eq!(net.ask("hello").await.unwrap().answer, json!("a answers"));
    rt.shutdown().await;
}

#[tokio::test]
async fn a_fan_out_is_answered_by_the_branch_that_replies() {
    let rt = runtime().await;
    let seen = Seen::default();
    member(&rt, &seen, "hub", |i| {
        Ok(match i.message.as_str() {
            Some("ask all") => Step::fan_out([("quiet", json!(1)), ("expert", json!(2))]),
            _ => Step::fan_out([("quiet", json!(1)), ("quiet", json!(2))]),
        })
    });
    member(&rt, &seen, "quiet", |_| Ok(Step::end()));
    member(&rt, &seen, "expert", |i| {
        Ok(Step::reply(json!({"expert saw": i.message})))
    });
    let net = NetworkClient::spawn(&rt, "net", net(&["hub", "quiet", "expert"], "hub"))
        .await
        .unwrap();

    let out = net.ask("ask all").await.unwrap();
    assert_eq!(out.answer, json!({"expert saw": 2}));
    assert_eq!(out.path, ["hub", "expert"]);
    let err = message(net.ask("ask the quiet ones").await.unwrap_err());
    assert_eq!(err, "every branch ended without a reply");
    rt.shutdown().await;
}

#[tokio::test]
async fn a_fan_out_cycle_is_stopped_by_the_message_budget() {
    let rt = runtime().await;
    let seen = Seen::default();
    member(&rt, &seen, "a", |_| {
        Ok(Step::fan_out([("a", json!(0)), ("a", json!(1))]))
    });
    let config = net(&["a"], "a").message_budget(10);
    let net = NetworkClient::spawn(&rt, "net", config).await.unwrap();
    let err = message(net.ask("split").await.unwrap_err());
    assert_eq!(
        err,
        "message budget of 10 spent: a -> a -> a (refused: a -> a)"
    );
    assert_eq!(seen.lock().len(), 10, "exactly the budget was delivered");
    rt.shutdown().await;
}

#[tokio::test]
async fn concurrent_requests_each_get_their_own_answer() {
    let rt = runtime().await;
    let seen = Seen::default();
    member(&rt, &seen, "a", |_| Ok(Step::forward("b")));
    member(&rt, &seen, "b", |i| {
        Ok(Step::reply(json!({"echo": i.message})))
    });
    let net = NetworkClient::spawn(&rt, "net", net(&["a", "b"], "a"))
        .await
        .unwrap();
    let mut asks = JoinSet::new();
    for n in 0..20 {
        let net = net.clone();
        asks.spawn(async move { (n, net.ask(json!(n)).await) });
    }
    while let Some(done) = asks.join_next().await {
        let (n, out) = done.unwrap();
        assert_eq!(out.unwrap().answer, json!({"echo": n}));
    }
    rt.shutdown().await;
}

#[tokio::test]
async fn protocol_errors_are_clear_and_other_patterns_compose() {
    let rt = runtime().await;
    // json.pick answers with the message itself, so the answers can be malformed steps.
    let parrot = NetworkConfig::new("p").member("p", "json.pick", json!({"path": "message"}));
    let parrot = NetworkClient::spawn(&rt, "parrot", parrot).await.unwrap();
    let cases = [
        (json!({"send": {"too": "p"}}), "member p broke the network protocol: send: unknown field `too`, expected `to` or `message`"),
        (json!({"send": [{"to": "p"}, 3]}), "member p broke the network protocol: send[1]: invalid type: integer `3`, expected struct Send"),
        (json!({"send": "p"}), "member p broke the network protocol: send: expected {\"to\": ...} or an array of them, got a string"),
    ];
    for (answer, expected) in cases {
        assert_eq!(message(parrot.ask(answer).await.unwrap_err()), expected);
    }
    let plain = json!({"reply": 1, "note": "not a step: a plain reply"});
    assert_eq!(parrot.ask(plain.clone()).await.unwrap().answer, plain);

    // A network as a member of a network: its answer is a plain reply to the outer one.
    let seen = Seen::default();
    member(&rt, &seen, "front", |_| {
        Ok(Step::send("inner", json!({"deep": true})))
    });
    let inner = NetworkConfig::new("p").member("p", "util.echo", Value::Null);
    let outer = NetworkConfig::new("front")
        .member("front", "front", Value::Null)
        .member("inner", "pattern.network", inner.to_value());
    let outer = NetworkClient::spawn(&rt, "outer", outer).await.unwrap();
    let out = outer.ask("q").await.unwrap();
    assert_eq!(out.path, ["front", "inner"]);
    assert_eq!(
        out.answer["path"],
        json!(["p"]),
        "the inner network answered"
    );
    // The inner entry got the outer member input as its message; util.echo echoed its own.
    let inner_input = &out.answer["answer"]["message"];
    assert_eq!(inner_input["message"], json!({"deep": true}));
    assert_eq!(inner_input["from"], json!("front"));
    rt.shutdown().await;
}

#[tokio::test]
async fn bad_configs_are_rejected_naming_the_field() {
    let rt = runtime().await;
    let m = json!({"a": {"type": "util.echo"}});
    let cases = [
        (json!({"members": m}), "missing field `entry`"),
        (
            json!({"members": m, "entry": "b"}),
            "at /entry: \"b\" is not a member (members: a)",
        ),
        (
            json!({"members": m, "entry": "a", "hops": 3}),
            "unknown field `hops`",
        ),
        (
            json!({"members": m, "entry": "a", "hop_budget": 0}),
            "at /hop_budget: must be in 1..=1024, got 0",
        ),
        (
            json!({"members": m, "entry": "a", "message_budget": 0}),
            "at /message_budget: must be at least 1",
        ),
        (
            json!({"members": {"a": {"type": "util.echo", "count": 3}}, "entry": "a"}),
            "at /members/a/count: must be 1",
        ),
        (
            json!({"members": m, "entry": "a", "team": {"within_seconds": 1e300}}),
            "at /team/within_seconds: must be",
        ),
        (
            json!({"members": m, "entry": "a", "crash": {"retries": 1, "wait": 2}}),
            "unknown field `wait`",
        ),
    ];
    for (config, expected) in cases {
        let err = rt
            .spawn_kind("pattern.network", "bad", config.clone())
            .await
            .unwrap_err();
        assert!(err.to_string().contains(expected), "{config}: {err}");
    }
    rt.shutdown().await;
}
