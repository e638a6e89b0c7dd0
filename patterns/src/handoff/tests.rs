//! The pure parts of the handoff pattern: the turn machine's steps, the merge rules, the wire
//! forms. No runtime, no actors.

use serde_json::{json, Value};

use super::error::HandoffError;
use super::machine::{branch_reply, Conversation, Limits, Step, TurnMachine};
use super::merge::Joiner;
use super::protocol::*;
use super::request::HandoffRequest;
use super::turn::*;

fn limits(max_handoffs: u32) -> Limits {
    Limits {
        members: vec!["a".into(), "b".into(), "c".into()],
        max_handoffs,
        share_history: false,
        max_history: 3,
    }
}

fn call_of(m: &TurnMachine, step: &Step) -> (String, TurnInput) {
    match step {
        Step::Call { agent } => (agent.clone(), m.input()),
        other => panic!("expected a call, got {other:?}"),
    }
}

fn done(step: Step) -> TurnOutcome {
    match step {
        Step::Done(outcome) => outcome,
        other => panic!("expected done, got {other:?}"),
    }
}

#[test]
fn a_turn_calls_the_active_member_and_a_reply_ends_it() {
    let l = limits(8);
    let (mut m, first) =
        TurnMachine::start(&l, "c".into(), Conversation::new("a"), json!("hi"), None);
    let (agent, input) = call_of(&m, &first);
    assert_eq!(
        (agent.as_str(), &input.message, input.from.is_none()),
        ("a", &json!("hi"), true)
    );
    let out = done(
        m.on_reply(json!({"reply": 1, "context": {"x": 1}}))
            .unwrap(),
    );
    assert_eq!((out.reply, out.active.as_str()), (json!(1), "a"));
    let conv = m.commit();
    assert_eq!((conv.turns, json!(conv.context)), (1, json!({"x": 1})));
}

#[test]
fn handoff_then_handback_moves_control_and_the_stack() {
    let l = limits(8);
    let (mut m, _) = TurnMachine::start(&l, "c".into(), Conversation::new("a"), json!("m"), None);
    let step = m
        .on_reply(
            Turn::handoff("b", json!({"k": {"n": 1}}))
                .with_message("m2")
                .to_value(),
        )
        .unwrap();
    let (agent, input) = call_of(&m, &step);
    assert_eq!((agent.as_str(), &input.message), ("b", &json!("m2")));
    assert_eq!(json!(input.context), json!({"k": {"n": 1}}));
    assert_eq!(
        input.from,
        Some(Origin {
            agent: "a".into(),
            action: Action::Handoff
        })
    );
    let step = m
        .on_reply(
            Turn::handback()
                .with_context(json!({"k": {"m": 2}}))
                .to_value(),
        )
        .unwrap();
    let (agent, input) = call_of(&m, &step);
    assert_eq!(agent, "a");
    assert_eq!(
        json!(input.context),
        json!({"k": {"n": 1, "m": 2}}),
        "merge patch is deep"
    );
    let out = done(m.on_reply(json!("plain")).unwrap());
    assert_eq!(
        (out.reply, out.path),
        (json!("plain"), vec!["a".into(), "b".into(), "a".into()])
    );
    let conv = m.commit();
    assert!(conv.stack.is_empty());
    assert_eq!(
        conv.history.len(),
        3,
        "handoff, handback, reply (max_history 3)"
    );
}

#[test]
fn a_handback_with_a_reply_ends_the_turn_at_the_previous_member() {
    let l = limits(8);
    let conv = Conversation {
        stack: vec!["a".into()],
        ..Conversation::new("b")
    };
    let (mut m, _) = TurnMachine::start(&l, "c".into(), conv, json!("m"), None);
    let out = done(
        m.on_reply(Turn::handback().with_reply("bye").to_value())
            .unwrap(),
    );
    assert_eq!((out.reply, out.active.as_str()), (json!("bye"), "a"));
}

#[test]
fn the_transfer_limit_stops_a_loop_and_rollback_restores_everything() {
    let l = limits(2);
    let mut conv = Conversation::new("a");
    conv.context.insert("keep".into(), json!(true));
    let before = conv.clone();
    let (mut m, _) = TurnMachine::start(&l, "c".into(), conv, json!("m"), Some(json!({"seed": 1})));
    m.on_reply(Turn::handoff("b", json!({"x": 1})).to_value())
        .unwrap();
    m.on_reply(Turn::handoff("a", Value::Null).to_value())
        .unwrap();
    let err = m
        .on_reply(Turn::handoff("b", Value::Null).to_value())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "handoff limit of 2 reached in one turn: a -> b -> a -> b"
    );
    assert_eq!(m.rollback(), before);
}

#[test]
fn bad_transfers_are_typed_errors() {
    let l = limits(8);
    let (mut m, _) = TurnMachine::start(&l, "c".into(), Conversation::new("a"), json!(0), None);
    let err = m
        .on_reply(Turn::handoff("z", Value::Null).to_value())
        .unwrap_err();
    assert!(matches!(err, HandoffError::UnknownMember { ref to, .. } if to == "z"));
    let err = m.on_reply(Turn::handback().to_value()).unwrap_err();
    assert_eq!(err, HandoffError::NothingToHandBack { agent: "a".into() });
    let err = m
        .on_reply(Turn::fork(["a", "q"], Merge::All).to_value())
        .unwrap_err();
    assert!(matches!(err, HandoffError::UnknownMember { ref to, .. } if to == "q"));
}

#[test]
fn a_fork_asks_for_branches_then_joins_back_or_replies() {
    let l = limits(8);
    let (mut m, _) = TurnMachine::start(&l, "c".into(), Conversation::new("a"), json!("doc"), None);
    let fork = Turn::fork(["b", "c"], Merge::Vote).with_context(json!({"round": 1}));
    let step = m.on_reply(fork.to_value()).unwrap();
    let Step::Fork { to, merge } = step else {
        panic!("expected a fork")
    };
    let input = m.input();
    assert_eq!(
        (to, merge, input.branch),
        (vec!["b".into(), "c".into()], Merge::Vote, true)
    );
    assert_eq!(json!(input.context), json!({"round": 1}));
    let joined = Joined {
        merge: Merge::Vote,
        result: json!("yes"),
        failed: Default::default(),
    };
    let step = m.on_joined(Ok(joined.clone())).unwrap();
    let (agent, input) = call_of(&m, &step);
    assert_eq!(
        (agent.as_str(), input.joined.as_ref()),
        ("a", Some(&joined))
    );

    let (mut m, _) = TurnMachine::start(&l, "c".into(), Conversation::new("a"), json!("doc"), None);
    m.on_reply(Turn::fork(["b"], Merge::All).join(Join::Reply).to_value())
        .unwrap();
    let out = done(
        m.on_joined(Ok(Joined {
            result: json!(["r"]),
            ..joined
        }))
        .unwrap(),
    );
    assert_eq!((out.reply, out.active.as_str()), (json!(["r"]), "a"));
    assert_eq!(
        branch_reply(json!({"handoff": {"to": "a"}})),
        Err("a branch must reply, not hand off".into())
    );
}

fn join(
    merge: Merge,
    outcomes: &[(usize, Result<Value, &str>)],
) -> Vec<Option<Result<Value, String>>> {
    let mut j = Joiner::new(merge, vec!["a".into(), "b".into(), "c".into()]);
    outcomes
        .iter()
        .map(|(i, o)| {
            j.branch_done(*i, o.clone().map_err(String::from))
                .map(|r| r.map(|joined| joined.result))
        })
        .collect()
}

#[test]
fn merge_rules_decide_as_early_as_they_can() {
    let ok = |v: Value| Ok(v);
    // all: fails at the first failure; otherwise waits for every branch, `to` order.
    assert_eq!(
        join(Merge::All, &[(1, Err("x"))])[0],
        Some(Err("branch b failed: x".into()))
    );
    let r = join(
        Merge::All,
        &[(2, ok(json!(3))), (0, ok(json!(1))), (1, ok(json!(2)))],
    );
    assert_eq!(r, [None, None, Some(Ok(json!([1, 2, 3])))]);
    // first_success: the first reply to arrive, failures tolerated.
    let r = join(Merge::FirstSuccess, &[(0, Err("x")), (2, ok(json!("c")))]);
    assert_eq!(r, [None, Some(Ok(json!("c")))]);
    // majority: decided at 2 of 3; impossible after two different answers and a failure.
    let r = join(Merge::Majority, &[(0, ok(json!("y"))), (2, ok(json!("y")))]);
    assert_eq!(r[1], Some(Ok(json!("y"))));
    let r = join(Merge::Majority, &[(0, ok(json!("y"))), (1, Err("x"))]);
    assert_eq!(r[1], None, "c could still make a majority");
    let r = join(
        Merge::Majority,
        &[(0, ok(json!("y"))), (1, ok(json!("n"))), (2, Err("x"))],
    );
    assert!(matches!(&r[2], Some(Err(e)) if e.starts_with("no reply has a majority")));
    // vote: a tie goes to the reply first in `to` order, whatever the arrival order.
    let r = join(
        Merge::Vote,
        &[(2, ok(json!("n"))), (1, Err("x")), (0, ok(json!("y")))],
    );
    assert_eq!(r[2], Some(Ok(json!("y"))));
    // object and concat.
    let r = join(
        Merge::Object,
        &[(0, ok(json!(1))), (1, ok(json!(2))), (2, ok(json!(3)))],
    );
    assert_eq!(r[2], Some(Ok(json!({"a": 1, "b": 2, "c": 3}))));
    let r = join(
        Merge::Concat,
        &[
            (0, ok(json!([1]))),
            (1, ok(json!([]))),
            (2, ok(json!([2, 3]))),
        ],
    );
    assert_eq!(r[2], Some(Ok(json!([1, 2, 3]))));
}

#[test]
fn turns_round_trip_and_other_shapes_are_plain_replies() {
    let turns = [
        Turn::reply(json!({"x": 1})).with_context(json!({"c": 1})),
        Turn::handoff("b", json!({"k": 1})).with_message("m"),
        Turn::handback().with_reply("r"),
        Turn::fork(["a", "b"], Merge::Majority).join(Join::Reply),
    ];
    for turn in turns {
        assert_eq!(Turn::parse(turn.to_value()), Ok(turn));
    }
    for plain in [
        json!("s"),
        json!([1]),
        json!({"answer": 1, "path": []}),
        json!({"reply": 1, "x": 2}),
    ] {
        assert_eq!(Turn::parse(plain.clone()), Ok(Turn::reply(plain)));
    }
    assert!(
        Turn::parse(json!({"fork": {"to": ["a", "a"], "merge": "all"}}))
            .unwrap_err()
            .reason
            .contains("twice")
    );
}

#[test]
fn requests_parse_strictly() {
    let turn = HandoffRequest::parse(json!({"conversation": "c", "message": null})).unwrap();
    assert_eq!(turn, HandoffRequest::turn("c", Value::Null));
    assert_eq!(HandoffRequest::parse(turn.to_value()), Ok(turn));
    let q = HandoffRequest::parse(json!({"conversation": "c", "query": true})).unwrap();
    assert_eq!(
        q,
        HandoffRequest::Query {
            conversation: "c".into()
        }
    );
    for (bad, error) in [
        (json!("c"), "a handoff request is an object"),
        (json!({"message": 1}), "missing field `conversation`"),
        (json!({"conversation": "c"}), "exactly one of"),
        (
            json!({"conversation": "c", "message": 1, "end": true}),
            "exactly one of",
        ),
        (
            json!({"conversation": "", "message": 1}),
            "field `conversation`",
        ),
        (
            json!({"conversation": "c", "message": 1, "context": 3}),
            "field `context`",
        ),
    ] {
        let e = HandoffRequest::parse(bad.clone()).unwrap_err();
        assert!(e.reason.contains(error), "{bad}: {e}");
    }
}
