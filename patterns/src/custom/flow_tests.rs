//! The custom topology's validation and dataflow, without actors.

use serde_json::{json, Value};

use super::*;
use crate::custom::{Custom, CustomError, NodeSpec};

fn topo(b: crate::custom::CustomBuilder) -> Topology {
    b.build().expect("valid").topology().clone()
}

fn nodes<'a>(
    b: crate::custom::CustomBuilder,
    names: impl IntoIterator<Item = &'a str>,
) -> crate::custom::CustomBuilder {
    names
        .into_iter()
        .fold(b, |b, n| b.node(n, NodeSpec::new("util.echo")))
}

fn idx(t: &Topology, name: &str) -> usize {
    t.names.iter().position(|n| n == name).expect("node")
}

/// Runs a flow to the end with `reply(node name, input) -> output`.
fn drive(
    t: &Topology,
    input: Value,
    reply: impl Fn(&str, &Value) -> Value,
) -> (Result<Value, FlowError>, Vec<(String, Value)>) {
    let (mut flow, mut runs) = Flow::start(t, input);
    let mut seen = Vec::new();
    while let Some(Run { node, input }) = runs.pop() {
        let name = t.names[node].clone();
        let out = reply(&name, &input);
        seen.push((name, input));
        match flow.on_output(node, out) {
            Ok(more) => runs.extend(more),
            Err(e) => return (Err(e), seen),
        }
    }
    assert!(flow.is_finished());
    (flow.result(), seen)
}

#[test]
fn a_diamond_joins_by_predecessor_name() {
    let t = topo(
        nodes(Custom::builder(), ["a", "b", "c", "d"])
            .edge("a", "b")
            .edge("a", "c")
            .edge("b", "d")
            .edge("c", "d"),
    );
    let (result, seen) = drive(&t, json!(1), |n, input| match n {
        "a" => json!(input.as_i64().unwrap() + 1),
        "b" => json!(input.as_i64().unwrap() * 10),
        "c" => json!(input.as_i64().unwrap() * 100),
        _ => input.clone(),
    });
    assert_eq!(result, Ok(json!({"b": 20, "c": 200})));
    assert_eq!(
        seen.iter().filter(|(n, _)| n == "d").count(),
        1,
        "d runs once, after both"
    );
}

#[test]
fn conditional_routes_fire_the_chosen_edge_and_skip_the_rest() {
    let t = topo(
        nodes(
            Custom::builder(),
            ["review", "publish", "revise", "notify", "audit"],
        )
        .route("review", "publish", "approve")
        .route("review", "revise", "reject")
        .edge("review", "audit")
        .edge("publish", "notify")
        .edge("revise", "notify"),
    );
    assert!(t.routes[idx(&t, "review")]);
    let (result, seen) = drive(&t, json!("doc"), |n, input| match n {
        "review" => crate::custom::route("approve", json!("ok")),
        _ => json!({ n: input }),
    });
    let ran: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
    assert!(!ran.contains(&"revise"), "{ran:?}");
    // Two sinks (audit, notify): the reply holds those that ran. notify had two incoming
    // edges, so its input is keyed by the predecessor that fired.
    assert_eq!(
        result,
        Ok(json!({"audit": {"audit": "ok"}, "notify": {"notify": {"publish": {"publish": "ok"}}}}))
    );
}

#[test]
fn a_skipped_exit_and_an_unknown_route_are_errors() {
    let b = nodes(Custom::builder(), ["r", "yes", "no"])
        .route("r", "yes", "y")
        .route("r", "no", "n");
    let t = topo(b.clone().exit("yes"));
    let (result, _) = drive(&t, json!(0), |_, _| crate::custom::route("n", 1));
    assert_eq!(
        result.unwrap_err().to_string(),
        "exit node \"yes\" did not run: no route to it was taken"
    );
    let (result, _) = drive(&t, json!(0), |_, _| crate::custom::route("maybe", 1));
    assert_eq!(
        result.unwrap_err().to_string(),
        "node \"r\" chose route \"maybe\"; its routes are: n, y"
    );
    let (result, _) = drive(&t, json!(0), |_, _| json!(1));
    assert!(result
        .unwrap_err()
        .to_string()
        .starts_with("node \"r\" has conditional routes, so it must reply"));
    let t = topo(b);
    let (result, _) = drive(&t, json!(0), |_, _| json!({"route": null, "output": 1}));
    assert_eq!(result, Err(FlowError::NoSinkRan));
}

#[test]
fn cycles_are_printed_in_edge_direction() {
    let err = nodes(Custom::builder(), ["a", "b", "c", "x"])
        .edge("x", "a")
        .edge("a", "b")
        .edge("b", "c")
        .edge("c", "a")
        .build()
        .unwrap_err();
    assert_eq!(
        err.0,
        vec![CustomError::Cycle {
            path: vec!["a".into(), "b".into(), "c".into()]
        }]
    );
    assert_eq!(
        err.to_string(),
        "cycle: a -> b -> c -> a (a custom topology must be acyclic)"
    );
    let err = nodes(Custom::builder(), ["a"])
        .edge("a", "a")
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cycle: a -> a (a custom topology must be acyclic)"
    );
}

#[test]
fn unknown_nodes_exits_duplicates_and_kinds_are_all_named() {
    let err = nodes(Custom::builder(), ["draft", "review"])
        .edge("draft", "reveiw")
        .edge("draft", "review")
        .edge("draft", "review")
        .route("review", "draft2", " ")
        .exit("publish")
        .build()
        .unwrap_err();
    let msgs: Vec<String> = err.0.iter().map(ToString::to_string).collect();
    assert_eq!(
        msgs,
        vec![
            "edge 0 (draft -> reveiw): unknown node \"reveiw\" (nodes: draft, review)",
            "edge draft -> review is defined twice",
            "edge 3 (review -> draft2): unknown node \"draft2\" (nodes: draft, review)",
            "edge review -> draft2: `when` must be a non-empty route name",
            "exit \"publish\" is not a node (nodes: draft, review)",
        ]
    );
    let custom = Custom::builder()
        .node("n", NodeSpec::new("no.such"))
        .build()
        .expect("structure is fine");
    let err = custom.validate(&["util.echo"][..]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "node \"n\": unknown agent kind \"no.such\"; known kinds: util.echo"
    );
    assert_eq!(
        Custom::builder().build().unwrap_err().to_string(),
        "the topology has no nodes"
    );
}
