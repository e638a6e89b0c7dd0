//! Membership scenarios on the in-memory network: joining, failure detection, indirect
//! probes, rejoin, restart and leave.

use std::time::Duration;

use super::sim::{has_down, Net};
use crate::membership::MemberEvent;

const LIMIT: Duration = Duration::from_secs(30);

/// Three nodes, `b` and `c` joining through `a`'s address only, all seeing each other.
fn cluster(seed: u64) -> Net {
    let mut net = Net::new(seed);
    net.add("a", &[]);
    net.add("b", &["a"]);
    net.add("c", &["a"]);
    let converged = net.run_until(LIMIT, |net| {
        ["a", "b", "c"].iter().all(|n| net.view(n).len() == 2)
    });
    assert!(converged, "views did not converge: {:?}", views(&net));
    net
}

fn views(net: &Net) -> Vec<(String, Vec<String>)> {
    ["a", "b", "c"]
        .iter()
        .map(|n| (n.to_string(), net.view(n)))
        .collect()
}

#[test]
fn three_nodes_join_through_one_seed_address() {
    let mut net = cluster(1);
    assert_eq!(net.view("a"), ["b", "c"]);
    assert_eq!(net.view("b"), ["a", "c"]);
    assert_eq!(net.view("c"), ["a", "b"]);
    net.run_for(Duration::from_secs(20));
    for name in ["a", "b", "c"] {
        let events = &net.node(name).events;
        let ups = events
            .iter()
            .filter(|e| matches!(e, MemberEvent::Up(_)))
            .count();
        assert_eq!(ups, 2, "{name}: exactly one Up per peer, got {events:?}");
        assert_eq!(
            events.len(),
            2,
            "{name}: no Down in a healthy cluster: {events:?}"
        );
    }
}

#[test]
fn a_silent_node_is_suspected_then_declared_down() {
    let mut net = cluster(2);
    let c = net.node("c").machine.identity().clone();
    net.crash("c");
    let suspected = net.run_until(LIMIT, |net| {
        ["a", "b"]
            .iter()
            .any(|n| net.node(n).machine.state_of("c") == Some(foca::State::Suspect))
    });
    assert!(suspected, "nobody suspected the silent node");
    for name in ["a", "b"] {
        assert!(
            !has_down(&net.node(name).events, &c),
            "{name}: Down before suspicion ran out"
        );
    }
    let down = net.run_until(LIMIT, |net| {
        ["a", "b"].iter().all(|n| has_down(&net.node(n).events, &c))
    });
    assert!(down, "silent node not declared down: {:?}", views(&net));
    assert_eq!(net.view("a"), ["b"]);
    assert_eq!(net.view("b"), ["a"]);
}

#[test]
fn indirect_probes_keep_a_node_alive_when_only_one_link_fails() {
    let mut net = cluster(3);
    net.cut("a", "b");
    net.run_for(Duration::from_secs(30));
    assert!(
        net.ping_reqs > 0,
        "the cut link never triggered an indirect probe"
    );
    for name in ["a", "b", "c"] {
        let events = &net.node(name).events;
        assert!(
            !events.iter().any(|e| matches!(e, MemberEvent::Down(_))),
            "{name} declared someone down although c reaches everyone: {events:?}"
        );
        assert_eq!(net.view(name).len(), 2, "{name}");
    }
}

/// After `fault` makes a and b declare c down and `repair` undoes it, c is back everywhere
/// with a higher incarnation, and a and b saw Down then Up.
fn rejoins_after(seed: u64, fault: impl Fn(&mut Net), repair: impl Fn(&mut Net)) {
    let mut net = cluster(seed);
    let old = net.node("c").machine.identity().clone();
    fault(&mut net);
    let down = net.run_until(LIMIT, |net| {
        ["a", "b"]
            .iter()
            .all(|n| has_down(&net.node(n).events, &old))
    });
    assert!(down, "c not declared down: {:?}", views(&net));
    repair(&mut net);
    let back = net.run_until(LIMIT, |net| {
        let newer = |n: &str| {
            net.sees(n, "c")
                .is_some_and(|c| c.incarnation > old.incarnation)
        };
        newer("a") && newer("b") && net.view("c") == ["a", "b"]
    });
    assert!(back, "c did not rejoin: {:?}", views(&net));
    let new = net.sees("a", "c").unwrap();
    assert_eq!(net.sees("b", "c"), Some(new.clone()));
    assert_eq!(net.node("c").machine.identity(), &new);
    for name in ["a", "b"] {
        let events = &net.node(name).events;
        let down_at = events
            .iter()
            .position(|e| *e == MemberEvent::Down(old.clone()));
        let up_at = events
            .iter()
            .position(|e| *e == MemberEvent::Up(new.clone()));
        assert!(down_at < up_at && up_at.is_some(), "{name}: {events:?}");
    }
}

#[test]
fn an_isolated_node_rejoins_with_a_higher_incarnation_after_the_partition_heals() {
    rejoins_after(4, |net| net.isolate("c"), Net::heal);
}

#[test]
fn a_paused_node_declared_down_rejoins_with_a_higher_incarnation() {
    rejoins_after(5, |net| net.freeze("c"), |net| net.thaw("c"));
}

#[test]
fn a_node_restarted_after_being_declared_down_rejoins_with_a_higher_incarnation() {
    rejoins_after(
        6,
        |net| net.crash("c"),
        |net| {
            net.restart("c", &["a"]);
        },
    );
}

#[test]
fn a_node_restarted_before_detection_replaces_its_old_incarnation() {
    let mut net = cluster(7);
    let old = net.node("c").machine.identity().clone();
    let addr = net.restart("c", &["a"]);
    let replaced = net.run_until(LIMIT, |net| {
        let new = |n: &str| net.sees(n, "c").is_some_and(|c| c.gossip == addr);
        new("a") && new("b") && net.view("c") == ["a", "b"]
    });
    assert!(replaced, "restarted c not accepted: {:?}", views(&net));
    for name in ["a", "b"] {
        let new = net.sees(name, "c").unwrap();
        assert!(new.incarnation > old.incarnation, "{name}: {new:?}");
        assert!(
            has_down(&net.node(name).events, &old),
            "{name}: old c never reported down"
        );
    }
}

#[test]
fn a_graceful_leave_is_down_at_peers_and_stays_down() {
    let mut net = cluster(8);
    let c = net.node("c").machine.identity().clone();
    let addr = net.addr("c");
    net.with(addr, |m, out| m.leave(out));
    assert!(net.node("c").machine.has_left());
    assert!(net.node("c").machine.members().is_empty());
    let down = net.run_until(LIMIT, |net| {
        ["a", "b"].iter().all(|n| has_down(&net.node(n).events, &c))
    });
    assert!(down, "leave not seen: {:?}", views(&net));
    net.run_for(Duration::from_secs(10));
    assert_eq!(net.view("a"), ["b"]);
    assert_eq!(net.view("b"), ["a"]);
}

#[test]
fn start_order_does_not_matter() {
    let mut net = Net::new(9);
    net.reserve("a");
    net.add("b", &["a"]);
    net.run_for(Duration::from_secs(3));
    net.add("a", &[]);
    let converged = net.run_until(LIMIT, |net| {
        net.view("a") == ["b"] && net.view("b") == ["a"]
    });
    assert!(
        converged,
        "b never found a: {:?} {:?}",
        net.view("a"),
        net.view("b")
    );
}

#[test]
fn a_run_is_reproducible_from_its_seed() {
    let run = |seed| {
        let mut net = cluster(seed);
        net.crash("b");
        net.run_for(Duration::from_secs(5));
        ["a", "c"].map(|n| net.node(n).events.clone())
    };
    assert_eq!(run(11), run(11));
}

#[test]
fn a_partition_between_two_groups_heals() {
    let all = ["a", "b", "c", "d"];
    let mut net = Net::new(12);
    net.add("a", &[]);
    for name in ["b", "c", "d"] {
        net.add(name, &["a"]);
    }
    assert!(net.run_until(LIMIT, |net| all.iter().all(|n| net.view(n).len() == 3)));
    for (x, y) in [("a", "c"), ("a", "d"), ("b", "c"), ("b", "d")] {
        net.cut(x, y);
    }
    let split = net.run_until(LIMIT, |net| {
        net.view("a") == ["b"]
            && net.view("b") == ["a"]
            && net.view("c") == ["d"]
            && net.view("d") == ["c"]
    });
    assert!(
        split,
        "sides did not settle: {:?}",
        all.map(|n| net.view(n))
    );
    net.heal();
    let healed = net.run_until(LIMIT, |net| all.iter().all(|n| net.view(n).len() == 3));
    assert!(
        healed,
        "partition did not heal: {:?}",
        all.map(|n| net.view(n))
    );
}
