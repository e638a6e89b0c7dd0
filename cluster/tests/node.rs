//! Cluster nodes in one process (each with its own runtime, transport and membership on
//! 127.0.0.1): cross-node calls, spawn by placement, virtual agents, migration under load,
//! passivation, failover from checkpoints, rebalancing on join and graceful leave.

mod common;

use common::eventually;
use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};
use troupe_cluster::membership::MembershipConfig;
use troupe_cluster::node::{ClusterConfig, ClusterNode};
use troupe_cluster::registry::NodeName;
use troupe_runtime::{Runtime, RuntimeConfig};

async fn node(name: &str, seeds: &[&ClusterNode]) -> ClusterNode {
    node_with(name, seeds, |_| {}).await
}

async fn node_with(
    name: &str,
    seeds: &[&ClusterNode],
    adjust: impl FnOnce(&mut ClusterConfig),
) -> ClusterNode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let rt = Runtime::start(RuntimeConfig::named(name)).await.unwrap();
    troupe_agents::register_all(rt.kinds());
    let any = "127.0.0.1:0".parse().unwrap();
    let mut config = ClusterConfig::new(name, any, any, "test-cookie")
        .with_seeds(seeds.iter().map(|s| s.gossip_addr()));
    config.membership = MembershipConfig::lan();
    config.checkpoint_every = Duration::from_millis(20);
    adjust(&mut config);
    ClusterNode::start(config, rt).await.unwrap()
}

async fn linked(nodes: &[&ClusterNode]) {
    let n = nodes.len();
    eventually("every node linked to every other", || {
        nodes
            .iter()
            .all(|x| x.linked().len() == n - 1 && x.members().len() == n)
    })
    .await;
    let _ = nodes;
}

fn total(v: &Value) -> i64 {
    v["total"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_on_one_node_is_called_from_another() {
    let a = node("call-a", &[]).await;
    let b = node("call-b", &[&a]).await;
    linked(&[&a, &b]).await;
    b.spawn_on(b.name(), "util.counter", "c1", Value::Null, false)
        .await
        .unwrap();
    let r = a.call("c1", json!({"add": 5})).await.unwrap();
    assert_eq!(total(&r), 5);
    let r = b.call("c1", json!(2)).await.unwrap();
    assert_eq!(total(&r), 7);
    assert_eq!(a.locate("c1").unwrap().node.as_str(), "call-b");
    // Errors cross the wire typed.
    let e = a.call("c1", json!("not a number")).await.unwrap_err();
    assert!(
        e.to_string().contains("bad request"),
        "unexpected error: {e}"
    );
    let e = a.call("nobody", json!(1)).await.unwrap_err();
    assert!(e.to_string().contains("no agent"), "{e}");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_places_by_rendezvous_and_virtual_agents_activate_on_first_call() {
    let a = node("place-a", &[]).await;
    let b = node("place-b", &[&a]).await;
    linked(&[&a, &b]).await;
    let mut homes = BTreeSet::new();
    for i in 0..16 {
        let id = format!("p{i}");
        let home = a.spawn("util.counter", &id, Value::Null).await.unwrap();
        assert_eq!(b.call(&id, json!(1)).await.unwrap()["total"], 1);
        homes.insert(home);
    }
    assert_eq!(homes.len(), 2, "16 agents all landed on one node");
    // Never spawned: activated where placement says, by whoever calls first.
    let r = b
        .call_kind("util.counter", "virtual-1", json!(3))
        .await
        .unwrap();
    assert_eq!(total(&r), 3);
    let r = a
        .call_kind("util.counter", "virtual-1", json!(3))
        .await
        .unwrap();
    assert_eq!(
        total(&r),
        6,
        "the second caller reached the same activation"
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_under_a_steady_stream_of_calls_answers_every_call_exactly_once() {
    let a = node("mig-a", &[]).await;
    let b = node("mig-b", &[&a]).await;
    linked(&[&a, &b]).await;
    a.spawn_on(a.name(), "util.counter", "m", Value::Null, false)
        .await
        .unwrap();
    let callers = 4;
    let per_caller = 150;
    let mut tasks = Vec::new();
    for c in 0..callers {
        let via = if c % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..per_caller {
                let r = via.call("m", json!(1)).await.expect("call lost");
                seen.push(total(&r));
            }
            seen
        }));
    }
    // Move it back and forth while the calls run.
    let mut moves = 0;
    for hop in 0..6 {
        let to = if hop % 2 == 0 {
            b.name().clone()
        } else {
            a.name().clone()
        };
        a.migrate("m", &to).await.unwrap();
        moves += 1;
        tokio::task::yield_now().await;
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    let expected: Vec<i64> = (1..=(callers * per_caller) as i64).collect();
    assert_eq!(all, expected, "each call must be handled exactly once");
    assert_eq!(moves, 6);
    let r = b.call("m", Value::Null).await.unwrap();
    assert_eq!(total(&r), (callers * per_caller) as i64);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passivated_agent_is_reactivated_with_its_state_on_the_next_call() {
    let a = node("pas-a", &[]).await;
    let b = node("pas-b", &[&a]).await;
    linked(&[&a, &b]).await;
    a.spawn_on(a.name(), "util.counter", "sleepy", Value::Null, false)
        .await
        .unwrap();
    b.call("sleepy", json!(41)).await.unwrap();
    a.passivate("sleepy").await.unwrap();
    assert!(a.local_agents().is_empty());
    assert!(a.holds_checkpoint("sleepy").is_some());
    eventually("b learns it is passivated", || {
        b.locate("sleepy")
            .is_some_and(|l| l.slot.state == troupe_cluster::registry::SlotState::Passivated)
    })
    .await;
    let r = b.call("sleepy", json!(1)).await.unwrap();
    assert_eq!(total(&r), 42);
    assert_eq!(a.local_agents().len(), 1);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_node_crashes_its_agents_resume_from_their_checkpoint_elsewhere() {
    let a = node("fo-a", &[]).await;
    let b = node("fo-b", &[&a]).await;
    let c = node("fo-c", &[&a]).await;
    linked(&[&a, &b, &c]).await;
    c.spawn_on(c.name(), "util.counter", "survivor", Value::Null, false)
        .await
        .unwrap();
    for _ in 0..10 {
        a.call("survivor", json!(1)).await.unwrap();
    }
    eventually("a backup holds the checkpoint of all ten calls", || {
        [&a, &b].iter().any(|n| {
            n.checkpoint_snapshot("survivor")
                .and_then(|s| s.decode::<troupe_agents::CounterState>().ok())
                .is_some_and(|s| s.total == 10)
        })
    })
    .await;
    c.crash().await;
    eventually("the survivor is active on a live node", || {
        a.locate("survivor").is_some_and(|l| {
            l.node != *c.name() && l.slot.state == troupe_cluster::registry::SlotState::Active
        })
    })
    .await;
    let r = a.call("survivor", json!(1)).await.unwrap();
    assert_eq!(total(&r), 11, "state resumed from the checkpoint");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_backups_an_agent_survives_its_node_and_its_first_backup_crashing_together() {
    use troupe_cluster::placement::{rank, Candidate};
    let two = |c: &mut ClusterConfig| c.backups = 2;
    let owner = node_with("bk-owner", &[], two).await;
    let mut others = Vec::new();
    for name in ["bk-1", "bk-2", "bk-3"] {
        others.push(node_with(name, &[&owner], two).await);
    }
    let all: Vec<&ClusterNode> = std::iter::once(&owner).chain(others.iter()).collect();
    linked(&all).await;
    owner
        .spawn_on(owner.name(), "util.counter", "hardy", Value::Null, false)
        .await
        .unwrap();
    // The backups are the two nodes after the owner in placement order; the third is not.
    let candidates: Vec<Candidate> = others
        .iter()
        .map(|n| Candidate::new(n.name().clone()))
        .collect();
    let order: Vec<NodeName> = rank("hardy", Some("util.counter"), &candidates)
        .into_iter()
        .map(|c| c.name.clone())
        .collect();
    let by_name = |name: &NodeName| others.iter().find(|n| n.name() == name).unwrap();
    let (first, second, bystander) = (by_name(&order[0]), by_name(&order[1]), by_name(&order[2]));
    for _ in 0..10 {
        bystander.call("hardy", json!(1)).await.unwrap();
    }
    let holds_ten = |n: &ClusterNode| {
        n.checkpoint_snapshot("hardy")
            .and_then(|s| s.decode::<troupe_agents::CounterState>().ok())
            .is_some_and(|s| s.total == 10)
    };
    eventually("both backups hold the checkpoint of all ten calls", || {
        holds_ten(first) && holds_ten(second)
    })
    .await;
    assert!(
        bystander.holds_checkpoint("hardy").is_none(),
        "only the two backups hold it"
    );
    owner.crash().await;
    first.crash().await;
    eventually("the agent is active on a live node", || {
        bystander.locate("hardy").is_some_and(|l| {
            [second.name(), bystander.name()].contains(&&l.node)
                && l.slot.state == troupe_cluster::registry::SlotState::Active
        })
    })
    .await;
    let r = bystander.call("hardy", json!(1)).await.unwrap();
    assert_eq!(
        total(&r),
        11,
        "state resumed from the second backup's checkpoint"
    );
    assert_eq!(
        second.local_agents().len() + bystander.local_agents().len(),
        1,
        "one copy serves"
    );
    second.shutdown().await;
    bystander.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaving_node_moves_its_agents_away_first() {
    let a = node("leave-a", &[]).await;
    let b = node("leave-b", &[&a]).await;
    linked(&[&a, &b]).await;
    for i in 0..4 {
        b.spawn_on(
            b.name(),
            "util.counter",
            &format!("l{i}"),
            Value::Null,
            true,
        )
        .await
        .unwrap();
        a.call(&format!("l{i}"), json!(i + 1)).await.unwrap();
    }
    b.shutdown().await;
    assert_eq!(a.local_agents().len(), 4);
    for i in 0..4 {
        let r = a.call(&format!("l{i}"), Value::Null).await.unwrap();
        assert_eq!(total(&r), i + 1);
    }
    let home: NodeName = a.name().clone();
    assert_eq!(a.locate("l0").unwrap().node, home);
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_node_receives_the_movable_agents_placement_now_gives_it() {
    let a = node("reb-a", &[]).await;
    let b = node("reb-b", &[&a]).await;
    linked(&[&a, &b]).await;
    let mut homes = Vec::new();
    for i in 0..24 {
        let id = format!("r{i}");
        homes.push(a.spawn("util.counter", &id, Value::Null).await.unwrap());
        a.call(&id, json!(i)).await.unwrap();
    }
    // A pinned agent never moves.
    a.spawn_on(a.name(), "util.counter", "pinned", Value::Null, false)
        .await
        .unwrap();
    let c = node("reb-c", &[&a]).await;
    linked(&[&a, &b, &c]).await;
    // Placement over the three nodes now prefers c for some of the agents; they move there.
    let expected: Vec<String> = (0..24)
        .map(|i| format!("r{i}"))
        .filter(|id| {
            let cands: Vec<_> = [&a, &b, &c]
                .iter()
                .map(|n| troupe_cluster::placement::Candidate::new(n.name().clone()))
                .collect();
            troupe_cluster::placement::place(id, Some("util.counter"), &cands) == Some(c.name())
        })
        .collect();
    let mut expected = expected;
    expected.sort();
    assert!(!expected.is_empty(), "placement gives the new node nothing");
    eventually("the new node runs exactly what placement gives it", || {
        let local: Vec<String> = c.local_agents().iter().map(|a| a.to_string()).collect();
        local == expected
    })
    .await;
    for i in 0..24 {
        let r = b.call(&format!("r{i}"), Value::Null).await.unwrap();
        assert_eq!(total(&r), i, "state moved with agent r{i}");
    }
    assert_eq!(a.locate("pinned").unwrap().node, *a.name());
    for n in [&a, &b, &c] {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_agent_is_gone_everywhere_and_its_id_can_be_reused() {
    let a = node("stop-a", &[]).await;
    let b = node("stop-b", &[&a]).await;
    linked(&[&a, &b]).await;
    b.spawn_on(b.name(), "util.counter", "gone", Value::Null, false)
        .await
        .unwrap();
    a.call("gone", json!(3)).await.unwrap();
    b.checkpoint("gone").await.unwrap();
    a.stop("gone").await.unwrap();
    assert!(b.local_agents().is_empty());
    for n in [&a, &b] {
        let e = n.call("gone", json!(1)).await.unwrap_err();
        assert!(e.to_string().contains("no agent"), "{e}");
        assert!(
            n.holds_checkpoint("gone").is_none(),
            "checkpoint kept on {}",
            n.name()
        );
    }
    let r = a.call_kind("util.counter", "gone", json!(1)).await.unwrap();
    assert_eq!(total(&r), 1, "a new agent under the old id starts empty");
    a.shutdown().await;
    b.shutdown().await;
}
