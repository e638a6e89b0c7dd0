//! Frames between two nodes, end to end: one-way messages arrive in order, held or not.

use std::time::Duration;

use serde_json::{json, Value};
use troupe_runtime::{Agent, AgentContext, AgentError, Runtime, RuntimeConfig, Snapshot};

use crate::node::{ClusterConfig, ClusterNode};

/// Checks that the numbers it is told come in order: 0, 1, 2, ...
struct Sequence;

impl Agent for Sequence {
    type Request = u64;
    type Reply = Value;
    type State = (u64, bool);

    async fn init(&self, _: &AgentContext, _: Option<Snapshot>) -> Result<(u64, bool), AgentError> {
        Ok((0, true))
    }

    async fn handle(
        &self,
        _: &AgentContext,
        (next, in_order): &mut (u64, bool),
        n: u64,
    ) -> Result<Value, AgentError> {
        *in_order &= n == *next;
        *next = n + 1;
        Ok(json!({ "next": *next, "in_order": *in_order }))
    }
}

async fn node(name: &str, seed: Option<&ClusterNode>) -> ClusterNode {
    let rt = Runtime::start(RuntimeConfig::named(name)).await.unwrap();
    rt.kinds()
        .register("test.sequence", "checks order", |_| Ok(Sequence));
    let any = "127.0.0.1:0".parse().unwrap();
    let config = ClusterConfig::new(name, any, any, "inbound-test")
        .with_seeds(seed.map(|s| s.gossip_addr()));
    ClusterNode::start(config, rt).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_way_messages_to_another_node_all_arrive_in_order_in_runs_and_interleaved() {
    let a = node("inbound-a", None).await;
    let b = node("inbound-b", Some(&a)).await;
    let limit = Duration::from_secs(20);
    assert!(a.wait_linked(b.name(), limit).await, "a never linked to b");
    assert!(b.wait_linked(a.name(), limit).await, "b never linked to a");
    for id in ["s1", "s2"] {
        b.spawn_on(b.name(), "test.sequence", id, Value::Null, false)
            .await
            .unwrap();
    }
    // `a` has not heard of the agents yet (`b` started them), so its first tells are held
    // until it finds them, and later ones queue behind. Long runs to one agent (they share
    // frames), then the two agents interleaved (runs of one), then a call: it is handled
    // after every tell before it, held or not.
    let n = 5_000u64;
    for i in 0..n {
        a.tell("s1", json!(i)).unwrap();
    }
    for i in 0..n {
        a.tell("s1", json!(n + i)).unwrap();
        a.tell("s2", json!(i)).unwrap();
    }
    let s1 = a.call("s1", json!(2 * n)).await.unwrap();
    assert_eq!(s1, json!({ "next": 2 * n + 1, "in_order": true }));
    let s2 = a.call("s2", json!(n)).await.unwrap();
    assert_eq!(s2, json!({ "next": n + 1, "in_order": true }));
    a.shutdown().await;
    b.shutdown().await;
}
