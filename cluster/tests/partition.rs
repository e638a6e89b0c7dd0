//! Partitions with real nodes in one process: membership traffic between the sides is cut
//! (fault injection on the real UDP socket), both sides keep serving, and after the heal the
//! registries converge and every agent active on both sides is left running on exactly one.

mod common;

use common::eventually;
use std::time::Duration;

use serde_json::{json, Value};
use troupe_cluster::node::{ClusterConfig, ClusterNode};
use troupe_cluster::registry::SlotState;
use troupe_runtime::{Runtime, RuntimeConfig};

async fn node(name: &str, seeds: &[&ClusterNode]) -> ClusterNode {
    let rt = Runtime::start(RuntimeConfig::named(name)).await.unwrap();
    troupe_agents::register_all(rt.kinds());
    let any = "127.0.0.1:0".parse().unwrap();
    let mut config = ClusterConfig::new(name, any, any, "partition-cookie")
        .with_seeds(seeds.iter().map(|s| s.gossip_addr()));
    config.gossip_every = Duration::from_millis(100);
    ClusterNode::start(config, rt).await.unwrap()
}

fn active_copies(nodes: &[&ClusterNode], agent: &str) -> usize {
    nodes
        .iter()
        .filter(|n| n.local_agents().iter().any(|a| a.as_str() == agent))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_serve_during_a_partition_and_one_copy_survives_the_heal() {
    let a = node("part-a", &[]).await;
    let b = node("part-b", &[&a]).await;
    let c = node("part-c", &[&a]).await;
    let all = [&a, &b, &c];
    eventually("linked", || all.iter().all(|n| n.linked().len() == 2)).await;

    a.spawn_on(a.name(), "util.counter", "x", Value::Null, false)
        .await
        .unwrap();
    b.call("x", json!(5)).await.unwrap();
    b.checkpoint("x").await.unwrap();

    // Cut a off from b and c.
    a.partition_from([b.gossip_addr(), c.gossip_addr()]);
    b.partition_from([a.gossip_addr()]);
    c.partition_from([a.gossip_addr()]);
    eventually(
        "the majority side re-activated x from its checkpoint",
        || {
            b.locate("x")
                .is_some_and(|l| l.node != *a.name() && l.slot.state == SlotState::Active)
                && active_copies(&[&b, &c], "x") == 1
        },
    )
    .await;

    // Both sides keep serving: a its own copy, b and c the failed-over one.
    assert_eq!(a.call("x", json!(1)).await.unwrap()["total"], 6);
    assert_eq!(b.call("x", json!(100)).await.unwrap()["total"], 105);
    assert_eq!(c.call("x", json!(1)).await.unwrap()["total"], 106);
    // A virtual agent first activated on each side separately.
    a.call_kind("util.counter", "v", json!(1)).await.unwrap();
    b.call_kind("util.counter", "v", json!(1)).await.unwrap();
    assert_eq!(active_copies(&all, "x"), 2, "x is active on both sides");

    // Heal.
    for n in all {
        n.partition_from([]);
    }
    eventually("rejoined and linked", || {
        all.iter().all(|n| n.linked().len() == 2)
    })
    .await;
    eventually(
        "registries converged with one active copy of each agent",
        || {
            let r = a.registry();
            r == b.registry()
                && r == c.registry()
                && active_copies(&all, "x") == 1
                && active_copies(&all, "v") == 1
        },
    )
    .await;
    let winner = a.locate("x").unwrap().node;
    assert!(all
        .iter()
        .any(|n| *n.name() == winner && n.local_agents().iter().any(|x| x.as_str() == "x")));
    // The later activation (the failover on the majority side) wins; its state continues.
    assert_ne!(winner, *a.name());
    assert_eq!(a.call("x", json!(1)).await.unwrap()["total"], 107);
    for n in all {
        n.shutdown().await;
    }
}
