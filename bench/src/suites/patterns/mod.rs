//! `patterns`: the coordination latency of each multi-agent pattern — one unit of work through
//! the topology with no-op members — beside raw ractor actors making the same hops (as the
//! criterion benches in `bench/benches/` measure them).
//!
//! | scenario | Troupe | raw ractor baseline |
//! |---|---|---|
//! | supervisor | client → `pattern.supervisor` → `util.echo` worker → back | client → coordinator actor → worker actor (`call`) → back |
//! | hierarchical | one unit down 2 levels (root team → sub-team → leaf agent), combined back up | root → sub → leaf actors, each `call`ing the next |
//! | handoff | a turn with one handoff: member `a` hands to `b`, which hands back with the reply | coordinator calls A (answers "go to B"), then B |
//! | swarm | one item through a swarm of 1 peer, termination detected | caller → peer actor → task `call`s member → peer → caller |
//! | network | one hop: entry → peer `a` (member a: "send to b") → peer `b` (member b: reply) | the same peer topology: each peer `call`s its member, then `cast`s on |
//! | custom | a 3-node chain `a → b → c` | an entry actor `call`ing three node actors in turn |

mod raw;

use std::future::Future;
use std::hint::black_box;

use ractor::{Actor, ActorRef};
use serde_json::{json, Value};

use self::raw::{Actors, Echo, PeerMsg, Shape};
use super::{err, Context};
use crate::scenario::{reason, time_each, Plan, Prepared, Reason, Scenario, Unit, Variant};
use troupe_patterns::custom::{Custom, NodeSpec};
use troupe_patterns::handoff::{self, HandoffConfig, HandoffPattern, Turn};
use troupe_patterns::member::MemberSpec;
use troupe_patterns::network::{self, NetworkConfig, NetworkPattern, Step};
use troupe_patterns::supervisor::SupervisorPattern;
use troupe_patterns::swarm::{Directive, Reducer, Swarm};
use troupe_runtime::{Agent, AgentContext, AgentError, Runtime, RuntimeConfig, Snapshot};

/// The scenarios of the suite.
pub fn scenarios(ctx: &Context) -> Vec<Scenario> {
    let plan = Plan::batch(ctx.size.pick(500, 1_000));
    let scenario = |name: &str, what: &str, setup: fn() -> Setup| {
        Scenario::new("patterns", name, Unit::per_op("unit"), plan, setup).describe(what)
    };
    vec![
        scenario(
            "supervisor",
            "client → coordinator → worker → back",
            || Box::pin(supervisor()),
        ),
        scenario(
            "hierarchical",
            "root team → sub-team → leaf, combined back up",
            || Box::pin(hierarchical()),
        ),
        scenario(
            "handoff",
            "one turn with one handoff (a → b, b hands back)",
            || Box::pin(handoff()),
        ),
        scenario("swarm", "one item through a swarm of 1 peer", || {
            Box::pin(swarm())
        }),
        scenario(
            "network",
            "one hop: entry → peer a → peer b → reply",
            || Box::pin(network()),
        ),
        scenario("custom", "a 3-node chain a → b → c", || {
            Box::pin(custom())
        }),
    ]
}

type Setup = troupe_runtime::BoxFuture<'static, Result<Prepared, Reason>>;

async fn runtime(name: &str) -> Result<Runtime, Reason> {
    let rt = Runtime::start(RuntimeConfig::named(name))
        .await
        .map_err(reason)?;
    troupe_agents::register_all(rt.kinds());
    troupe_patterns::register_all(rt.kinds());
    Ok(rt)
}

/// The subject `unit()` beside the raw topology headed by `head`.
fn pair<F, Fut>(rt: Runtime, unit: F, head: ActorRef<Echo>, actors: Actors) -> Prepared
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, Reason>> + Send,
{
    let baseline = head.clone();
    Prepared::new(vec![
        Variant::subject("troupe pattern", move |ops| {
            let unit = unit.clone();
            async move { Ok(time_each!(ops, |_i| black_box(unit().await?))) }
        }),
        Variant::baseline("raw ractor hops", move |ops| {
            let head = baseline.clone();
            async move { Ok(time_each!(ops, |_i| black_box(raw::request(&head).await?))) }
        }),
    ])
    .teardown(async move {
        actors.stop();
        rt.shutdown().await;
    })
}

/// A no-op agent answering its request (`Noop(false)`) or `{"result": request}` (`Noop(true)`,
/// a swarm member).
struct Noop(bool);

impl Agent for Noop {
    type Request = Value;
    type Reply = Value;
    type State = ();
    async fn init(&self, _: &AgentContext, _: Option<Snapshot>) -> Result<(), AgentError> {
        Ok(())
    }
    async fn handle(&self, _: &AgentContext, _: &mut (), v: Value) -> Result<Value, AgentError> {
        Ok(match self.0 {
            true => Directive::result(v).into_value(),
            false => v,
        })
    }
}

async fn supervisor() -> Result<Prepared, Reason> {
    let rt = runtime("bench-supervisor").await?;
    let pattern = SupervisorPattern::builder()
        .workers("echo", MemberSpec::new("util.echo", 1))
        .build()
        .map_err(reason)?;
    let pattern = rt.spawn("sup", pattern).await.map_err(reason)?;
    let mut actors = Actors::default();
    let worker = actors.keep(&raw::node(Shape::Leaf).await?);
    let head = actors.keep(&raw::node(Shape::Sequence(vec![worker])).await?);
    let unit = move || {
        let p = pattern.clone();
        async move { p.ask(json!([1])).await.map_err(|e| err("supervisor", e)) }
    };
    Ok(pair(rt, unit, head, actors))
}

async fn hierarchical() -> Result<Prepared, Reason> {
    let rt = runtime("bench-hierarchical").await?;
    let config = json!({"members": {"sub": {"members": {"leaf": {"type": "util.echo"}}}}});
    let tree = rt
        .spawn_kind("pattern.hierarchical", "org", config)
        .await
        .map_err(reason)?;
    let first = tree.ask_value(json!(1), None).await.map_err(reason)?;
    if first != json!([[1]]) {
        return Err(format!("the hierarchy answered {first}, not [[1]]"));
    }
    let mut actors = Actors::default();
    let leaf = actors.keep(&raw::node(Shape::Leaf).await?);
    let sub = actors.keep(&raw::node(Shape::Nest(leaf)).await?);
    let head = actors.keep(&raw::node(Shape::Nest(sub)).await?);
    let unit = move || {
        let t = tree.clone();
        async move {
            t.ask_value(json!(1), None)
                .await
                .map_err(|e| err("hierarchical", e))
        }
    };
    Ok(pair(rt, unit, head, actors))
}

async fn handoff() -> Result<Prepared, Reason> {
    let rt = runtime("bench-handoff").await?;
    let kinds = rt.kinds();
    handoff::register_member(kinds, "bench.to_b", "no-op", |_| {
        Ok(Turn::handoff("b", Value::Null))
    });
    handoff::register_member(kinds, "bench.back", "no-op", |i| {
        Ok(Turn::handback().with_reply(i.message))
    });
    let config = HandoffConfig::new("a")
        .member("a", "bench.to_b", Value::Null)
        .member("b", "bench.back", Value::Null);
    let pattern = HandoffPattern::new(config).map_err(reason)?;
    let pattern = rt.spawn("one_hop", pattern).await.map_err(reason)?;
    let mut actors = Actors::default();
    let a = actors.keep(&raw::node(Shape::Answer(json!({"handoff": 1}))).await?);
    let b = actors.keep(&raw::node(Shape::Leaf).await?);
    let head = actors.keep(&raw::node(Shape::Router(vec![a, b])).await?);
    let unit = move || {
        let p = pattern.clone();
        async move {
            p.ask(json!({"conversation": "c", "message": 1}))
                .await
                .map_err(|e| err("handoff", e))
        }
    };
    Ok(pair(rt, unit, head, actors))
}

async fn swarm() -> Result<Prepared, Reason> {
    let rt = runtime("bench-swarm").await?;
    rt.kinds()
        .register("bench.noop", "no-op", |_| Ok(Noop(true)));
    let swarm = Swarm::builder()
        .members("w", MemberSpec::new("bench.noop", 1))
        .reducer(Reducer::Collect)
        .build()
        .map_err(reason)?;
    let swarm = rt.spawn("s1", swarm).await.map_err(reason)?;
    let mut actors = Actors::default();
    let member = actors.keep(&raw::node(Shape::Leaf).await?);
    let (peer, _) = Actor::spawn(None, raw::SwarmPeer, member)
        .await
        .map_err(reason)?;
    let peer: ActorRef<PeerMsg> = actors.keep(&peer);
    Ok(Prepared::new(vec![
        Variant::subject("troupe pattern", move |ops| {
            let s = swarm.clone();
            async move {
                Ok(time_each!(ops, |_i| {
                    black_box(s.ask(json!(1)).await.map_err(|e| err("swarm", e))?)
                }))
            }
        }),
        Variant::baseline("raw ractor hops", move |ops| {
            let p = peer.clone();
            async move { Ok(time_each!(ops, |_i| black_box(raw::swarm_item(&p).await?))) }
        }),
    ])
    .teardown(async move {
        actors.stop();
        rt.shutdown().await;
    }))
}

async fn network() -> Result<Prepared, Reason> {
    let rt = runtime("bench-network").await?;
    let kinds = rt.kinds();
    network::register_member(kinds, "bench.reply", "no-op", |i| {
        Ok(Step::reply(i.message))
    });
    network::register_member(kinds, "bench.to_b", "no-op", |_| Ok(Step::forward("b")));
    let config = NetworkConfig::new("a")
        .member("a", "bench.to_b", Value::Null)
        .member("b", "bench.reply", Value::Null);
    let pattern = NetworkPattern::new(config).map_err(reason)?;
    let pattern = rt.spawn("one_hop", pattern).await.map_err(reason)?;
    let mut actors = Actors::default();
    let member_b = actors.keep(&raw::node(Shape::Leaf).await?);
    let peer_b = actors.keep(
        &raw::node(Shape::Peer {
            member: Some(member_b),
            next: None,
        })
        .await?,
    );
    let member_a = actors.keep(&raw::node(Shape::Leaf).await?);
    let peer_a = actors.keep(
        &raw::node(Shape::Peer {
            member: Some(member_a),
            next: Some(peer_b),
        })
        .await?,
    );
    let entry = Shape::Peer {
        member: None,
        next: Some(peer_a),
    };
    let head = actors.keep(&raw::node(entry).await?);
    let unit = move || {
        let p = pattern.clone();
        async move { p.ask(json!(1)).await.map_err(|e| err("network", e)) }
    };
    Ok(pair(rt, unit, head, actors))
}

async fn custom() -> Result<Prepared, Reason> {
    let rt = runtime("bench-custom").await?;
    rt.kinds()
        .register("bench.noop", "no-op", |_| Ok(Noop(false)));
    let chain = Custom::builder()
        .node("a", NodeSpec::new("bench.noop"))
        .node("b", NodeSpec::new("bench.noop"))
        .node("c", NodeSpec::new("bench.noop"))
        .edge("a", "b")
        .edge("b", "c")
        .build()
        .map_err(reason)?;
    let chain = rt.spawn("chain", chain).await.map_err(reason)?;
    let mut actors = Actors::default();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(actors.keep(&raw::node(Shape::Leaf).await?));
    }
    let head = actors.keep(&raw::node(Shape::Sequence(nodes)).await?);
    let unit = move || {
        let c = chain.clone();
        async move { c.ask(json!(1)).await.map_err(|e| err("custom", e)) }
    };
    Ok(pair(rt, unit, head, actors))
}
