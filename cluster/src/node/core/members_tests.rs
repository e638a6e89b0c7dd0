//! Tests of [`super::members`]: membership and link events in, commands out.

use std::time::{Duration, Instant};

use super::members::{Command, DialStep, Input, Members, Timer};
use crate::membership::{NodeIdentity, NodeMeta};
use crate::registry::NodeName;

const DELAY: Duration = Duration::from_millis(300);

fn id(name: &str, incarnation: u64) -> NodeIdentity {
    NodeIdentity {
        name: NodeName::new(name),
        gossip: "127.0.0.1:1".parse().unwrap(),
        transport: "127.0.0.1:2".parse().unwrap(),
        incarnation,
        meta: NodeMeta::default(),
    }
}

fn members(me: &str) -> Members {
    Members::new(id(me, 1), DELAY, true)
}

#[test]
fn the_node_with_the_smaller_name_dials_a_member_that_comes_up() {
    let now = Instant::now();
    let mut a = members("a");
    assert_eq!(
        a.handle(Input::MemberUp(id("b", 5)), now),
        [Command::Dial(id("b", 5))]
    );
    assert!(a.is_live(&"b".into()));
    let mut c = members("c");
    assert_eq!(c.handle(Input::MemberUp(id("b", 5)), now), []);
    assert!(
        c.is_live(&"b".into()),
        "the other side waits but knows the member"
    );
}

#[test]
fn events_about_the_node_itself_change_nothing() {
    let now = Instant::now();
    let mut a = members("a");
    assert_eq!(a.handle(Input::MemberDown(id("a", 1)), now), []);
    assert!(a.is_live(&"a".into()));
    assert_eq!(a.handle(Input::MemberUp(id("a", 2)), now), []);
}

#[test]
fn one_dial_per_peer_until_it_ends_and_a_newer_incarnation_supersedes_it() {
    let now = Instant::now();
    let mut a = members("a");
    assert_eq!(a.handle(Input::MemberUp(id("b", 5)), now).len(), 1);
    // The session broke while the dial still runs: no second dial of the same incarnation.
    assert_eq!(a.handle(Input::LinkDown("b".into()), now), []);
    // A newer incarnation takes over; the old loop learns it is superseded.
    assert_eq!(
        a.handle(Input::MemberUp(id("b", 6)), now),
        [Command::Dial(id("b", 6))]
    );
    assert_eq!(a.dial_step(&id("b", 5), false), DialStep::Stop);
    assert_eq!(a.dial_step(&id("b", 6), false), DialStep::Connect);
    // Linked: the dial ends, and a later broken session dials again.
    assert_eq!(a.dial_step(&id("b", 6), true), DialStep::Stop);
    assert_eq!(
        a.handle(Input::LinkDown("b".into()), now),
        [Command::Dial(id("b", 6))]
    );
}

#[test]
fn a_dial_stops_when_the_member_goes_or_the_node_stops() {
    let now = Instant::now();
    let mut a = members("a");
    a.handle(Input::MemberUp(id("b", 5)), now);
    a.handle(Input::MemberDown(id("b", 5)), now);
    assert_eq!(a.dial_step(&id("b", 5), false), DialStep::Stop);
    a.handle(Input::MemberUp(id("b", 6)), now);
    assert_eq!(a.handle(Input::Stopping, now), []);
    assert_eq!(a.dial_step(&id("b", 6), false), DialStep::Stop);
    assert_eq!(
        a.handle(Input::MemberUp(id("b", 7)), now),
        [],
        "no dials while stopping"
    );
}

#[test]
fn a_member_down_drops_its_session_fails_its_requests_and_schedules_the_failover_check() {
    let now = Instant::now();
    let mut a = members("a");
    a.handle(Input::MemberUp(id("b", 5)), now);
    let b = NodeName::new("b");
    assert_eq!(
        a.handle(Input::MemberDown(id("b", 5)), now),
        [
            Command::Disconnect(b.clone()),
            Command::FailPending(b.clone()),
            Command::ReclaimTasks(b.clone()),
            Command::MarkAllDirty,
            Command::Schedule {
                at: now + DELAY,
                timer: Timer::FailoverCheck(b.clone()),
            },
        ]
    );
    assert!(!a.is_live(&b));
    assert_eq!(a.down_since(&b), Some(now));
    // Still down when the timer fires: fail over.
    assert_eq!(
        a.handle(Input::Timer(Timer::FailoverCheck(b.clone())), now + DELAY),
        [Command::FailOver(b)]
    );
}

#[test]
fn a_member_back_before_the_failover_check_is_not_failed_over() {
    let now = Instant::now();
    let mut a = members("a");
    let b = NodeName::new("b");
    a.handle(Input::MemberDown(id("b", 5)), now);
    a.handle(
        Input::MemberUp(id("b", 6)),
        now + Duration::from_millis(100),
    );
    assert_eq!(a.down_since(&b), None);
    assert_eq!(
        a.handle(Input::Timer(Timer::FailoverCheck(b)), now + DELAY),
        []
    );
}

#[test]
fn a_new_link_exchanges_registries_rebalances_and_marks_checkpoints_due() {
    let now = Instant::now();
    let b = NodeName::new("b");
    let mut a = members("a");
    assert_eq!(
        a.handle(Input::LinkUp(b.clone()), now),
        [
            Command::ExchangeRegistry(b.clone()),
            Command::Rebalance(b.clone()),
            Command::MarkAllDirty,
            Command::ShareWork(b.clone()),
        ]
    );
    let mut fixed = Members::new(id("a", 1), DELAY, false);
    assert_eq!(
        fixed.handle(Input::LinkUp(b.clone()), now),
        [
            Command::ExchangeRegistry(b.clone()),
            Command::MarkAllDirty,
            Command::ShareWork(b.clone())
        ],
        "no rebalancing when rebalance_on_join is off"
    );
    a.handle(Input::Stopping, now);
    let stopping = a.handle(Input::LinkUp(b.clone()), now);
    assert!(!stopping.contains(&Command::Rebalance(b.clone())));
    assert!(
        !stopping.contains(&Command::ShareWork(b)),
        "a stopping node neither steals nor offers work"
    );
}

#[test]
fn live_members_are_listed_sorted_with_this_node() {
    let now = Instant::now();
    let mut b = members("b");
    b.handle(Input::MemberUp(id("c", 1)), now);
    b.handle(Input::MemberUp(id("a", 1)), now);
    let names: Vec<&str> = b.live().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(b.get(&"c".into()).map(|m| m.incarnation), Some(1));
}
