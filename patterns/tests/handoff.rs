//! The handoff pattern on a real runtime: replies, handoffs with context, hand back, forks
//! joined by every merge rule, the active member across turns, the loop limit, member crashes,
//! composition and bad configs. Members are plain function members registered per test.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{json, Value};
use troupe_patterns::handoff::{
    self, Action, HandoffClient, HandoffConfig, HandoffPattern, Join, Merge, Origin, Turn,
    TurnInput,
};
use troupe_runtime::{AgentError, CallError, EventKind, Runtime, RuntimeConfig, SpawnOptions};

async fn runtime() -> Runtime {
    let rt = Runtime::start(RuntimeConfig::named("handoff-test"))
        .await
        .unwrap();
    troupe_patterns::register_all(rt.kinds());
    troupe_agents::register_all(rt.kinds());
    rt
}

/// Every input each member received, in order.
type Seen = Arc<Mutex<Vec<(String, TurnInput)>>>;

fn member<F>(rt: &Runtime, seen: &Seen, name: &str, f: F)
where
    F: Fn(&TurnInput) -> Result<Turn, AgentError> + Send + Sync + 'static,
{
    let (seen, who) = (seen.clone(), name.to_string());
    handoff::register_member(rt.kinds(), name, "test member", move |input| {
        seen.lock().push((who.clone(), input.clone()));
        f(&input)
    });
}

fn desk(members: &[&str], start: &str) -> HandoffConfig {
    members.iter().fold(HandoffConfig::new(start), |c, m| {
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
async fn a_member_reply_answers_the_turn_and_patches_the_context() {
    let rt = runtime().await;
    let seen = Seen::default();
    member(&rt, &seen, "greeter", |input| {
        Ok(
            Turn::reply(format!("hello, {}", input.message.as_str().unwrap_or("?")))
                .with_context(json!({"greeted": true})),
        )
    });
    let desk = HandoffClient::spawn(&rt, "desk", desk(&["greeter"], "greeter"))
        .await
        .unwrap();
    let out = desk.turn("c1", "ada").await.unwrap();
    assert_eq!(out.reply, json!("hello, ada"));
    assert_eq!(out.active, "greeter");
    assert_eq!(out.path, ["greeter"]);
    assert_eq!(json!(out.context), json!({"greeted": true}));
    let first = seen.lock()[0].1.clone();
    assert_eq!(first.conversation, "c1");
    assert!(first.context.is_empty() && first.from.is_none() && !first.branch);
    rt.shutdown().await;
}

#[tokio::test]
async fn a_handoff_carries_the_context_intact_to_every_member() {
    let rt = runtime().await;
    let seen = Seen::default();
    member(&rt, &seen, "triage", |_| {
        Ok(Turn::handoff(
            "billing",
            json!({"customer": {"id": 7, "tier": "gold"}, "topic": "refund", "tags": [1, 2]}),
        ))
    });
    member(&rt, &seen, "billing", |_| {
        Ok(Turn::handoff(
            "refunds",
            json!({"customer": {"tier": null, "since": 2020}}),
        )
        .with_message("refund order 42"))
    });
    member(&rt, &seen, "refunds", |input| {
        Ok(Turn::reply(json!(input.context)))
    });
    let config = desk(&["triage", "billing", "refunds"], "triage");
    let desk = HandoffClient::spawn(&rt, "desk", config).await.unwrap();

    let out = desk.turn("c1", "I was charged twice").await.unwrap();
    let expected = json!({"customer": {"id": 7, "since": 2020}, "topic": "refund", "tags": [1, 2]});
    assert_eq!(
        out.reply, expected,
        "the last member saw the merged context"
    );
    assert_eq!(json!(out.context), expected);
    assert_eq!(out.active, "refunds");
    assert_eq!(out.path, ["triage", "billing", "refunds"]);

    let seen = seen.lock().clone();
    let (billing, refunds) = (&seen[1].1, &seen[2].1);
    assert_eq!(
        json!(billing.context),
        json!({"customer": {"id": 7, "tier": "gold"}, "topic": "refund", "tags": [1, 2]}),
        "billing received triage's context exactly"
    );
    assert_eq!(billing.message, json!("I was charged twice"));
    assert_eq!(
        billing.from,
        Some(Origin {
            agent: "triage".into(),
            action: Action::Handoff
        })
    );
    assert_eq!(refunds.message, json!("refund order 42"));
    assert_eq!(json!(refunds.context), expected);
    rt.shutdown().await;
}

#[tokio::test]
async fn hand_back_returns_control_to_the_previous_member() {
    let rt = runtime().await;
    let seen = Seen::default();
    member(&rt, &seen, "triage", |input| {
        Ok(match &input.from {
            Some(o) if o.action == Action::Handback => {
                Turn::reply(format!("triage again after {}", o.agent))
            }
            _ if input.message == json!("refund") => Turn::handoff("billing", json!({"case": 1})),
            _ => Turn::reply("triage here"),
        })
    });
    member(&rt, &seen, "billing", |input| {
        Ok(match input.message.as_str() {
            Some("thanks") => Turn::handback().with_context(json!({"refunded": true})),
            Some("bye") => Turn::handback().with_reply("billing signing off"),
            _ => Turn::reply("billing: how much?"),
        })
    });
    let desk = HandoffClient::spawn(&rt, "desk", desk(&["triage", "billing"], "triage"))
        .await
        .unwrap();

    let out = desk.turn("c1", "refund").await.unwrap();
    assert_eq!(
        (out.reply, out.active.as_str()),
        (json!("billing: how much?"), "billing")
    );
    assert_eq!(desk.query("c1").await.unwrap().stack, ["triage"]);

    // Handback without a reply: the turn continues at triage.
    let out = desk.turn("c1", "thanks").await.unwrap();
    assert_eq!(out.reply, json!("triage again after billing"));
    assert_eq!(out.active, "triage");
    assert_eq!(out.path, ["billing", "triage"]);
    assert_eq!(out.context["refunded"], json!(true));
    assert!(desk.query("c1").await.unwrap().stack.is_empty());

    // Handback with a reply: the reply answers, and triage is active for the next turn.
    desk.turn("c1", "refund").await.unwrap();
    let out = desk.turn("c1", "bye").await.unwrap();
    assert_eq!(
        (out.reply, out.active.as_str()),
        (json!("billing signing off"), "triage")
    );
    assert_eq!(out.path, ["billing"]);
    assert_eq!(
        desk.turn("c1", "hi").await.unwrap().reply,
        json!("triage here")
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn the_active_member_and_history_are_tracked_across_turns() {
    let rt = runtime().await;
    let seen = Seen::default();
    member(&rt, &seen, "triage", |_| {
        Ok(Turn::handoff("billing", json!({"step": 1})))
    });
    member(&rt, &seen, "billing", |input| {
        Ok(Turn::reply(json!({"turn_message": input.message.clone()})))
    });
    let config = desk(&["triage", "billing"], "triage").share_history(true);
    let desk = HandoffClient::spawn(&rt, "desk", config).await.unwrap();

    assert_eq!(desk.turn("c1", "one").await.unwrap().active, "billing");
    assert_eq!(
        desk.turn("c1", "two").await.unwrap().path,
        ["billing"],
        "turn 2 starts at billing"
    );
    assert_eq!(
        desk.turn("c2", "other").await.unwrap().path,
        ["triage", "billing"]
    );

    let view = desk.query("c1").await.unwrap();
    assert_eq!((view.active.as_str(), view.turns), ("billing", 2));
    let steps: Vec<(u64, &str, Action)> = view
        .history
        .iter()
        .map(|h| (h.turn, h.agent.as_str(), h.action))
        .collect();
    assert_eq!(
        steps,
        [
            (1, "triage", Action::Handoff),
            (1, "billing", Action::Reply),
            (2, "billing", Action::Reply)
        ]
    );
    let c1 = seen
        .lock()
        .iter()
        .rfind(|(_, i)| i.conversation == "c1")
        .unwrap()
        .1
        .clone();
    assert_eq!(
        c1.history.map(|h| h.len()),
        Some(2),
        "turn 1's steps shared with turn 2"
    );

    assert_eq!(desk.end("c1").await.unwrap().turns, 2);
    let err = message(desk.query("c1").await.unwrap_err());
    assert_eq!(err, "no conversation \"c1\"");
    rt.shutdown().await;
}

/// A lead that forks to the members named in its message and replies with what joined back.
fn lead(input: &TurnInput) -> Result<Turn, AgentError> {
    if let Some(joined) = &input.joined {
        return Ok(Turn::reply(
            json!({"joined": joined.result, "failed": joined.failed}),
        ));
    }
    let m = &input.message;
    let to: Vec<String> = serde_json::from_value(m["to"].clone()).unwrap();
    let merge: Merge = serde_json::from_value(m["merge"].clone()).unwrap();
    let join = if m["back"] == json!(true) {
        Join::Back
    } else {
        Join::Reply
    };
    Ok(Turn::fork(to, merge)
        .join(join)
        .with_context(json!({"doc": "v2"})))
}

#[tokio::test]
async fn a_fork_is_joined_by_each_merge_rule() {
    let rt = runtime().await;
    let seen = Seen::default();
    member(&rt, &seen, "lead", lead);
    for (name, verdict) in [
        ("r1", json!("yes")),
        ("r2", json!("yes")),
        ("r3", json!("no")),
    ] {
        member(&rt, &seen, name, move |_| Ok(Turn::reply(verdict.clone())));
    }
    member(&rt, &seen, "a1", |_| Ok(Turn::reply(json!([1]))));
    member(&rt, &seen, "a2", |_| Ok(Turn::reply(json!([2, 3]))));
    member(&rt, &seen, "rf", |_| {
        Err(AgentError::permanent("cannot review"))
    });
    let names = ["lead", "r1", "r2", "r3", "a1", "a2", "rf"];
    let desk = HandoffClient::spawn(&rt, "desk", desk(&names, "lead"))
        .await
        .unwrap();
    let fork = |to: &[&str], merge: &str| json!({"to": to, "merge": merge});

    let cases = [
        (
            fork(&["r1", "r2", "r3"], "all"),
            json!(["yes", "yes", "no"]),
        ),
        (
            fork(&["r1", "r3"], "object"),
            json!({"r1": "yes", "r3": "no"}),
        ),
        (fork(&["a1", "a2"], "concat"), json!([1, 2, 3])),
        (fork(&["rf", "r3"], "first_success"), json!("no")),
        (fork(&["r1", "r3", "r2"], "majority"), json!("yes")),
        (fork(&["r3", "r1", "rf"], "vote"), json!("no")),
        (fork(&["r1", "r3"], "vote"), json!("yes")),
    ];
    for (i, (request, expected)) in cases.into_iter().enumerate() {
        let out = desk.turn(&format!("c{i}"), request.clone()).await.unwrap();
        assert_eq!(out.reply, expected, "{request}");
        assert_eq!(out.active, "lead", "the forking member stays active");
    }

    let failures = [
        (fork(&["r1", "rf"], "all"), "fork from lead to [r1, rf] (merge all) failed: branch rf failed: agent desk/rf/0: cannot review"),
        (fork(&["r1", "a1"], "concat"), "fork from lead to [r1, a1] (merge concat) failed: branch r1 replied with a string, not an array"),
        (fork(&["rf"], "first_success"), "fork from lead to [rf] (merge first_success) failed: every branch failed (rf: agent desk/rf/0: cannot review)"),
        (fork(&["r1", "r3", "rf"], "majority"), "fork from lead to [r1, r3, rf] (merge majority) failed: no reply has a majority of the 3 branches (\"yes\" x1, \"no\" x1, 1 failed)"),
        (fork(&["rf"], "vote"), "fork from lead to [rf] (merge vote) failed: every branch failed (rf: agent desk/rf/0: cannot review)"),
    ];
    for (request, expected) in failures {
        let err = message(desk.turn("f", request).await.unwrap_err());
        assert_eq!(err, expected);
    }

    // Join back: the lead continues with the joined result; branches got the fork's context.
    let request = json!({"to": ["r1", "rf", "r2"], "merge": "first_success", "back": true});
    let out = desk.turn("back", request).await.unwrap();
    assert_eq!(out.reply["joined"], json!("yes"));
    assert_eq!(out.path, ["lead", "lead"]);
    let branch_inputs: Vec<TurnInput> = seen
        .lock()
        .iter()
        .filter(|(who, i)| who == "r1" && i.conversation == "back")
        .map(|(_, i)| i.clone())
        .collect();
    assert!(branch_inputs[0].branch);
    assert_eq!(json!(branch_inputs[0].context), json!({"doc": "v2"}));
    rt.shutdown().await;
}

#[tokio::test]
async fn a_handoff_loop_is_stopped_by_the_limit_and_changes_nothing() {
    let rt = runtime().await;
    let seen = Seen::default();
    member(&rt, &seen, "ping", |input| {
        Ok(match input.message.as_str() {
            Some("loop") => Turn::handoff("pong", json!({"n": 1})),
            _ => Turn::reply("ping"),
        })
    });
    member(&rt, &seen, "pong", |_| {
        Ok(Turn::handoff("ping", Value::Null))
    });
    let config = desk(&["ping", "pong"], "ping").max_handoffs(4);
    let desk = HandoffClient::spawn(&rt, "desk", config).await.unwrap();

    desk.turn("c1", "hi").await.unwrap();
    let before = desk.query("c1").await.unwrap();
    let err = message(desk.turn("c1", "loop").await.unwrap_err());
    assert_eq!(
        err,
        "handoff limit of 4 reached in one turn: ping -> pong -> ping -> pong -> ping -> pong"
    );
    assert_eq!(
        desk.query("c1").await.unwrap(),
        before,
        "a failed turn changes nothing"
    );
    let err = message(desk.turn("new", "loop").await.unwrap_err());
    assert!(err.starts_with("handoff limit of 4"), "{err}");
    assert!(
        desk.query("new").await.is_err(),
        "a failed first turn starts no conversation"
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn a_crashed_member_is_restarted_and_the_turn_retried() {
    let rt = runtime().await;
    let mut events = rt.subscribe();
    let seen = Seen::default();
    let crashed = Arc::new(AtomicBool::new(false));
    member(&rt, &seen, "triage", |_| {
        Ok(Turn::handoff("billing", json!({"case": 9})))
    });
    let once = crashed.clone();
    member(&rt, &seen, "billing", move |input| {
        if !once.swap(true, Ordering::SeqCst) {
            panic!("billing crashed on purpose");
        }
        Ok(Turn::reply(json!({"case": input.context["case"]})))
    });
    let desk = HandoffClient::spawn(&rt, "desk", desk(&["triage", "billing"], "triage"))
        .await
        .unwrap();

    let out = desk.turn("c1", "refund").await.unwrap();
    assert_eq!(
        out.reply,
        json!({"case": 9}),
        "the retried input carried the context"
    );
    assert!(crashed.load(Ordering::SeqCst));
    let billing_calls = seen.lock().iter().filter(|(w, _)| w == "billing").count();
    assert_eq!(billing_calls, 2, "one crash, one retry");
    let mut restarted = false;
    while let Ok(e) = events.try_recv() {
        restarted |= matches!(e.kind, EventKind::AgentRestarted { .. })
            && e.agent
                .as_ref()
                .is_some_and(|a| a.as_str() == "desk/billing/0");
    }
    assert!(restarted, "the team restarted billing before the retry");
    rt.shutdown().await;
}

#[tokio::test]
async fn a_member_that_keeps_crashing_fails_the_turn_clearly() {
    let rt = runtime().await;
    let seen = Seen::default();
    member(&rt, &seen, "triage", |input| {
        Ok(match input.message.as_str() {
            Some("crash") => Turn::handoff("billing", Value::Null),
            _ => Turn::reply("fine"),
        })
    });
    member(&rt, &seen, "billing", |_| panic!("billing always crashes"));
    let desk = HandoffClient::spawn(&rt, "desk", desk(&["triage", "billing"], "triage"))
        .await
        .unwrap();

    desk.turn("c1", "hello").await.unwrap();
    let err = desk.turn("c1", "crash").await.unwrap_err();
    assert!(err.is_retryable(), "a crash is worth retrying later");
    assert_eq!(
        message(err),
        "member billing: agent desk/billing/0 crashed on each of 2 attempt(s) (restarted by the team each time)"
    );
    assert_eq!(desk.query("c1").await.unwrap().active, "triage");
    assert_eq!(desk.turn("c1", "again").await.unwrap().reply, json!("fine"));
    rt.shutdown().await;
}

#[tokio::test]
async fn protocol_errors_are_clear_and_change_nothing() {
    let rt = runtime().await;
    let seen = Seen::default();
    member(&rt, &seen, "m", |input| {
        Ok(match input.message.as_str() {
            Some("nobody") => Turn::handoff("nobody", Value::Null),
            Some("back") => Turn::handback(),
            _ => Turn::reply("ok"),
        })
    });
    let config = desk(&["m"], "m");
    let pattern = rt
        .spawn_kind("pattern.handoff", "desk", config.to_value())
        .await
        .unwrap();
    let desk = HandoffClient::from(pattern.clone());
    let cases = [
        (
            "nobody",
            "member m passed control to unknown member \"nobody\" (members: m)",
        ),
        (
            "back",
            "member m handed back, but the hand-back stack is empty",
        ),
    ];
    for (msg, expected) in cases {
        assert_eq!(message(desk.turn("c1", msg).await.unwrap_err()), expected);
    }
    // A member answering with its message (json.pick), so the answers can be malformed turns.
    let parrot = HandoffConfig::new("p").member("p", "json.pick", json!({"path": "message"}));
    let parrot = HandoffClient::spawn(&rt, "parrot", parrot).await.unwrap();
    let cases = [
        (json!({"handoff": {"too": "p"}}), "member p broke the turn protocol: handoff: unknown field `too`, expected one of `to`, `context`, `message`"),
        (json!({"fork": {"to": [], "merge": "all"}}), "member p broke the turn protocol: fork: field `to` names no member"),
        (json!({"fork": {"to": ["p"], "merge": "most"}}), "member p broke the turn protocol: fork: unknown variant `most`, expected one of `all`, `object`, `concat`, `first_success`, `majority`, `vote`"),
        (json!({"reply": 1, "context": [1]}), "member p broke the turn protocol: field `context`: expected an object, got an array"),
    ];
    for (answer, expected) in cases {
        assert_eq!(
            message(parrot.turn("c1", answer).await.unwrap_err()),
            expected
        );
    }
    let plain = json!({"reply": 1, "note": "not a turn: a plain reply"});
    assert_eq!(parrot.turn("c1", plain.clone()).await.unwrap().reply, plain);
    let bad = pattern
        .ask_value(json!({"conv": "c1"}), None)
        .await
        .unwrap_err();
    assert!(message(bad).starts_with("bad request: unknown field `conv`"));
    rt.shutdown().await;
}

#[tokio::test]
async fn any_kind_can_be_a_member_and_patterns_compose() {
    let rt = runtime().await;
    let seen = Seen::default();
    member(&rt, &seen, "router", |_| {
        Ok(Turn::handoff("echo", json!({"k": "v"})))
    });
    // A nested handoff pattern as a member: its reply (a turn outcome) is a plain reply here.
    let inner = desk(&["router"], "router").member("echo", "util.echo", Value::Null);
    let outer = HandoffConfig::new("inner").member("inner", "pattern.handoff", inner.to_value());
    let desk = HandoffClient::spawn(&rt, "outer", outer).await.unwrap();
    let out = desk
        .turn_with_context("c1", "hi", json!({"user": "ada"}))
        .await
        .unwrap();
    assert_eq!(out.active, "inner");
    assert_eq!(
        out.reply["active"],
        json!("echo"),
        "the inner pattern ran its own turn"
    );
    let echoed = &out.reply["reply"];
    assert_eq!(echoed["message"], json!("hi"));
    assert_eq!(
        echoed["context"],
        json!({"user": "ada", "k": "v"}),
        "the outer context seeded the inner conversation; util.echo saw both"
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn conversations_survive_in_a_snapshot() {
    let rt = runtime().await;
    let seen = Seen::default();
    member(&rt, &seen, "a", |_| {
        Ok(Turn::handoff("b", json!({"kept": [1, 2]})))
    });
    member(&rt, &seen, "b", |_| Ok(Turn::reply("b")));
    let config = desk(&["a", "b"], "a");
    let first = rt
        .spawn("desk", HandoffPattern::new(config.clone()).unwrap())
        .await
        .unwrap();
    HandoffClient::from(first.clone())
        .turn("c1", "x")
        .await
        .unwrap();
    let snapshot = first.snapshot().await.unwrap().unwrap();
    let options = SpawnOptions::default().from_snapshot(snapshot);
    let second = rt
        .spawn_with("desk2", HandoffPattern::new(config).unwrap(), options)
        .await
        .unwrap();
    let view = HandoffClient::from(second).query("c1").await.unwrap();
    assert_eq!((view.active.as_str(), view.turns), ("b", 1));
    assert_eq!(json!(view.context), json!({"kept": [1, 2]}));
    rt.shutdown().await;
}

#[tokio::test]
async fn bad_configs_are_rejected_naming_the_field() {
    let rt = runtime().await;
    let m = json!({"a": {"type": "util.echo"}});
    let cases = [
        (json!({"members": m}), "missing field `start`"),
        (
            json!({"members": m, "start": "zed"}),
            "at /start: \"zed\" is not a member (members: a)",
        ),
        (
            json!({"members": m, "start": "a", "max_handof": 3}),
            "unknown field `max_handof`",
        ),
        (
            json!({"members": {}, "start": "a"}),
            "at /members: at least one member is required",
        ),
        (
            json!({"members": {"a": {"type": "util.echo", "count": 2}}, "start": "a"}),
            "at /members/a/count: must be 1",
        ),
        (
            json!({"members": m, "start": "a", "max_handoffs": 0}),
            "at /max_handoffs: must be at least 1",
        ),
        (
            json!({"members": m, "start": "a", "crash": {"restart_timeout_seconds": -1}}),
            "at /crash/restart_timeout_seconds: must be",
        ),
        (
            json!({"members": m, "start": "a", "member_timeout_seconds": 0}),
            "at /member_timeout_seconds: must be",
        ),
        (
            json!({"members": {"a/b": {"type": "util.echo"}}, "start": "a/b"}),
            "at /members: \"a/b\" is not a usable name",
        ),
    ];
    for (config, expected) in cases {
        let err = rt
            .spawn_kind("pattern.handoff", "bad", config.clone())
            .await
            .unwrap_err();
        assert!(err.to_string().contains(expected), "{config}: {err}");
    }
    let config = json!({"members": {"a": {"type": "no.such.kind"}}, "start": "a"});
    let err = rt
        .spawn_kind("pattern.handoff", "bad", config)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown agent kind \"no.such.kind\""),
        "{err}"
    );
    rt.shutdown().await;
}
