//! The custom pattern on a real runtime: a diamond, conditional routes, a swarm as a node,
//! failures and validation errors.

use std::time::Duration;

use serde_json::{json, Value};
use troupe_patterns::custom::{self, Custom, NodeSpec};
use troupe_patterns::swarm::{self, Directive};
use troupe_runtime::{
    Agent, AgentContext, AgentError, Runtime, RuntimeConfig, Snapshot, SpawnError,
};

/// Guards every test against a hang (a failure, not a synchronisation).
const LIMIT: Duration = Duration::from_secs(60);

/// Approves drafts that mention "tests", rejects the others.
struct Reviewer;

impl Agent for Reviewer {
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
        draft: Value,
    ) -> Result<Value, AgentError> {
        let text = draft
            .as_str()
            .ok_or_else(|| AgentError::permanent("a draft is a string"))?;
        let verdict = if text.contains("tests") {
            "approve"
        } else {
            "reject"
        };
        Ok(custom::route(verdict, text))
    }
}

/// A fib member for the swarm node.
struct Fib;

impl Agent for Fib {
    type Request = i64;
    type Reply = Value;
    type State = ();

    async fn init(&self, _: &AgentContext, _: Option<Snapshot>) -> Result<(), AgentError> {
        Ok(())
    }

    async fn handle(&self, _: &AgentContext, _: &mut (), n: i64) -> Result<Value, AgentError> {
        Ok(if n < 2 {
            Directive::result(n).into_value()
        } else {
            Directive::spawn([json!(n - 1), json!(n - 2)]).into_value()
        })
    }
}

async fn runtime() -> Runtime {
    let rt = Runtime::start(RuntimeConfig::named("custom-test"))
        .await
        .expect("runtime");
    troupe_agents::register_all(rt.kinds());
    swarm::register(rt.kinds());
    custom::register(rt.kinds());
    rt.kinds()
        .register("test.review", "approves or rejects", |_| Ok(Reviewer));
    rt.kinds()
        .register("test.fib", "fib by spawning", |_| Ok(Fib));
    rt
}

fn transform(op: &str) -> NodeSpec {
    NodeSpec::new("text.transform").config(json!({"op": op}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diamond_joins_both_branches() {
    let rt = runtime().await;
    let diamond = Custom::builder()
        .node("trim", transform("trim"))
        .node("upper", transform("uppercase"))
        .node("lower", transform("lowercase"))
        .node("join", NodeSpec::new("util.echo"))
        .edge("trim", "upper")
        .edge("trim", "lower")
        .edge("upper", "join")
        .edge("lower", "join")
        .build()
        .expect("valid");
    let d = rt.spawn("diamond", diamond).await.expect("spawn");
    let got = tokio::time::timeout(LIMIT, d.ask(json!("  Hello  ")))
        .await
        .expect("in time");
    assert_eq!(
        got.expect("reply"),
        json!({"upper": "HELLO", "lower": "hello"})
    );
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_routes_follow_the_reviewers_choice() {
    let rt = runtime().await;
    let config = json!({
        "nodes": {
            "review": {"type": "test.review"},
            "publish": {"type": "text.transform", "config": {"op": "uppercase"}},
            "revise": {"type": "text.transform", "config": {"op": "template", "template": "needs work: {input}"}},
            "done": {"type": "util.echo"},
        },
        "edges": [
            {"from": "review", "to": "publish", "when": "approve"},
            {"from": "review", "to": "revise", "when": "reject"},
            {"from": "publish", "to": "done"},
            {"from": "revise", "to": "done"},
        ],
    });
    let p = rt
        .spawn_kind("pattern.custom", "pipeline", config)
        .await
        .expect("spawn");
    let ask = |draft: &'static str| p.ask_value(json!(draft), None);
    let approved = tokio::time::timeout(LIMIT, ask("ship it, with tests"))
        .await
        .expect("in time");
    assert_eq!(
        approved.expect("reply"),
        json!({"publish": "SHIP IT, WITH TESTS"})
    );
    let rejected = tokio::time::timeout(LIMIT, ask("ship it"))
        .await
        .expect("in time");
    assert_eq!(
        rejected.expect("reply"),
        json!({"revise": "needs work: ship it"})
    );
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swarm_can_be_a_node() {
    let rt = runtime().await;
    let config = json!({
        "nodes": {
            "pick": {"type": "json.pick", "config": {"path": "n"}},
            "fib": {"type": "pattern.swarm", "config": {
                "members": {"w": {"type": "test.fib", "count": 3}},
                "reducer": "sum",
            }},
            "say": {"type": "text.transform", "config": {"op": "template", "template": "fib = {input}"}},
        },
        "edges": [{"from": "pick", "to": "fib"}, {"from": "fib", "to": "say"}],
    });
    let c = rt
        .spawn_kind("pattern.custom", "nested", config)
        .await
        .expect("spawn");
    let got = tokio::time::timeout(LIMIT, c.ask_value(json!({"n": 20}), None)).await;
    assert_eq!(got.expect("in time").expect("reply"), json!("fib = 6765"));
    // The swarm is the custom agent's member, addressed like any agent.
    let inner = rt.dyn_agent("nested/fib/0").expect("the swarm node");
    assert_eq!(inner.kind(), "pattern.swarm");
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_node_fails_the_request_by_name() {
    let rt = runtime().await;
    let config = json!({
        "nodes": {"a": {"type": "util.echo"}, "b": {"type": "util.fail", "config": {"message": "no way"}}},
        "edges": [{"from": "a", "to": "b"}],
    });
    let c = rt
        .spawn_kind("pattern.custom", "failing", config)
        .await
        .expect("spawn");
    let err = c.ask_value(json!(1), None).await.expect_err("b fails");
    assert!(
        err.to_string()
            .contains("pattern.custom: node \"b\" failed: agent failing/b/0: no way"),
        "{err}"
    );
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_topologies_are_refused_with_named_errors() {
    let rt = runtime().await;
    let bad = |nodes: Value, edges: Value| json!({"nodes": nodes, "edges": edges});
    let echo = json!({"type": "util.echo"});
    let abc = json!({"a": echo, "b": echo, "c": echo});
    for (config, wanted) in [
        (
            bad(
                abc.clone(),
                json!([{"from": "a", "to": "b"}, {"from": "b", "to": "c"}, {"from": "c", "to": "a"}]),
            ),
            "cycle: a -> b -> c -> a (a custom topology must be acyclic)",
        ),
        (
            bad(abc.clone(), json!([{"from": "a", "to": "d"}])),
            "edge 0 (a -> d): unknown node \"d\" (nodes: a, b, c)",
        ),
        (
            bad(json!({"a": {"type": "no.such"}}), json!([])),
            "node \"a\": unknown agent kind \"no.such\"; known kinds: ",
        ),
        (json!({"nodes": abc, "edge": []}), "unknown field `edge`"),
    ] {
        let err = rt
            .spawn_kind("pattern.custom", "bad", config)
            .await
            .expect_err("invalid");
        assert!(matches!(&err, SpawnError::BadConfig { .. }), "{err}");
        assert!(err.to_string().contains(wanted), "{err}");
    }
    // In code, the builder reports structure; `validate` adds the kinds.
    let err = Custom::builder()
        .node("a", NodeSpec::new("util.echo"))
        .node("b", NodeSpec::new("util.echo"))
        .edge("a", "b")
        .edge("b", "a")
        .build()
        .expect_err("cycle");
    assert_eq!(
        err.to_string(),
        "cycle: a -> b -> a (a custom topology must be acyclic)"
    );
    rt.shutdown().await;
}
