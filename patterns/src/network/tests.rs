//! The pure parts of the network pattern: steps on the wire, routing checks, and the branch
//! bookkeeping that guarantees every request ends. No runtime, no actors.

use serde_json::json;

use super::error::NetworkError;
use super::protocol::{Answer, Send, Step};
use super::route::{check_deliveries, check_send, hops_left, Request};

#[test]
fn steps_round_trip_and_other_shapes_are_plain_replies() {
    let steps = [
        Step::reply(json!({"x": 1})),
        Step::send("b", "m"),
        Step::forward("b"),
        Step::fan_out([("b", json!(1)), ("c", json!(2))]),
        Step::end(),
    ];
    for step in steps {
        assert_eq!(Step::parse(step.to_value()), Ok(step));
    }
    for plain in [
        json!(1),
        json!({"answer": 1, "path": ["a"]}),
        json!({"reply": 1, "send": []}),
    ] {
        assert_eq!(Step::parse(plain.clone()), Ok(Step::Reply(plain)));
    }
    let one = Step::parse(json!({"send": {"to": "b"}})).unwrap();
    assert_eq!(
        one,
        Step::Send(vec![Send {
            to: "b".into(),
            message: None
        }])
    );
}

#[test]
fn sends_are_checked_against_members_and_budgets() {
    let members = vec!["a".to_string(), "b".to_string()];
    assert_eq!(check_send(&["a"], "b", &members, 1), Ok(()));
    let err = check_send(&["a", "b"], "a", &members, 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "hop budget of 1 spent: a -> b (refused: b -> a)"
    );
    let err = check_send(&["a"], "x", &members, 8).unwrap_err();
    assert!(matches!(err, NetworkError::UnknownTarget { ref to, .. } if to == "x"));
    assert_eq!(check_deliveries(&["a"], "b", 3, 3), Ok(()));
    let err = check_deliveries(&["a"], "b", 4, 3).unwrap_err();
    assert_eq!(
        err.to_string(),
        "message budget of 3 spent: a (refused: a -> b)"
    );
    assert_eq!(
        (hops_left(1, 8), hops_left(9, 8), hops_left(12, 8)),
        (8, 0, 0)
    );
}

#[test]
fn the_first_answer_wins_and_later_branches_see_the_request_done() {
    let (first, mut rx) = Request::start();
    let second = first.split();
    first.answer(Answer {
        answer: json!(1),
        path: vec!["a".into()],
    });
    assert!(second.is_done());
    second.answer(Answer {
        answer: json!(2),
        path: vec![],
    });
    drop((first, second));
    assert_eq!(rx.try_recv().unwrap().unwrap().answer, json!(1));
}

#[test]
fn a_request_fails_with_the_first_error_when_its_last_branch_ends() {
    let (first, mut rx) = Request::start();
    let second = first.split();
    second.fail(NetworkError::NoReply);
    drop(second);
    assert!(rx.try_recv().is_err(), "one branch still travels");
    first.fail(NetworkError::PeerDown { agent: "b".into() });
    drop(first);
    assert_eq!(rx.try_recv().unwrap(), Err(NetworkError::NoReply));

    let (only, mut rx) = Request::start();
    drop(only);
    assert_eq!(
        rx.try_recv().unwrap(),
        Err(NetworkError::NoReply),
        "a dropped message ends its branch"
    );
}
