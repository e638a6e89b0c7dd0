//! Tests of [`super::failover`]: turns, orphans, takeovers.

use std::time::{Duration, Instant};

use serde_json::Value;
use troupe_runtime::AgentId;

use super::failover::{
    orphans, plan, recently_down, taken_over, turn, turn_at, turn_came, Takeover, FAILOVER_DELAY,
    FAILOVER_GRACE, FAILOVER_STAGGER,
};
use crate::registry::{ClockId, NodeName, Slot, SlotState, Timestamp, NTP64};
use crate::wire::AgentRecord;

fn slot(node: &str, state: SlotState) -> Slot {
    Slot {
        node: node.into(),
        incarnation: 1,
        version: 1,
        state,
        stamp: Timestamp::new(NTP64(1), ClockId::try_from([1u8; 16]).unwrap()),
    }
}

fn record(version: u64) -> AgentRecord {
    AgentRecord {
        agent: AgentId::new("x"),
        kind: "k".into(),
        config: Value::Null,
        snapshot: None,
        version,
        movable: true,
    }
}

#[test]
fn turns_follow_placement_order_and_outsiders_go_last() {
    assert_eq!(turn(Some(0), 3), Duration::ZERO);
    assert_eq!(turn(Some(2), 3), FAILOVER_STAGGER * 2);
    assert_eq!(turn(None, 3), FAILOVER_STAGGER * 3);
}

#[test]
fn a_turn_comes_at_once_when_immediate_else_when_the_planned_takeover_would() {
    let down = Instant::now();
    let t = FAILOVER_STAGGER;
    assert!(turn_came(Duration::ZERO, None, down));
    assert!(!turn_came(t, None, down), "not known down: wait");
    // Measured as the takeover is planned: from the failover check, the delay after down.
    assert!(!turn_came(t, Some(down), down + t));
    assert!(!turn_came(t, Some(down), down + FAILOVER_DELAY + t / 2));
    assert!(turn_came(t, Some(down), down + FAILOVER_DELAY + t));
    assert_eq!(turn_at(t, Some(down)), Some(down + FAILOVER_DELAY + t));
    assert_eq!(turn_at(t, None), None);
}

#[test]
fn a_node_counts_as_recently_down_during_the_grace_or_while_unreported() {
    let down = Instant::now();
    assert!(recently_down(None, down));
    assert!(recently_down(Some(down), down + FAILOVER_GRACE / 2));
    assert!(!recently_down(Some(down), down + FAILOVER_GRACE));
}

#[test]
fn the_orphans_of_a_node_are_its_agents_not_removed() {
    let slots = [
        (AgentId::new("a1"), slot("b", SlotState::Active)),
        (AgentId::new("a2"), slot("b", SlotState::Passivated)),
        (AgentId::new("a3"), slot("b", SlotState::Removed)),
        (AgentId::new("a4"), slot("c", SlotState::Active)),
    ];
    let found = orphans(slots.iter().map(|(a, s)| (a, s)), &"b".into());
    assert_eq!(found, [AgentId::new("a1"), AgentId::new("a2")]);
}

#[test]
fn a_takeover_bumps_the_version_and_is_now_or_at_the_turn() {
    let now = Instant::now();
    assert_eq!(
        plan(record(3), Duration::ZERO, now),
        Takeover::Now(record(4))
    );
    assert_eq!(
        plan(record(3), FAILOVER_STAGGER, now),
        Takeover::At {
            at: now + FAILOVER_STAGGER,
            record: record(4)
        }
    );
}

#[test]
fn an_agent_is_taken_over_when_active_on_another_live_node_or_removed() {
    let down = NodeName::new("b");
    let live = |n: &NodeName| n.as_str() != "b";
    assert!(!taken_over(None, &down, live));
    assert!(!taken_over(
        Some(&slot("b", SlotState::Active)),
        &down,
        live
    ));
    assert!(taken_over(Some(&slot("c", SlotState::Active)), &down, live));
    assert!(!taken_over(
        Some(&slot("c", SlotState::Active)),
        &down,
        |_| false
    ));
    assert!(!taken_over(
        Some(&slot("c", SlotState::Passivated)),
        &down,
        live
    ));
    assert!(taken_over(
        Some(&slot("b", SlotState::Removed)),
        &down,
        live
    ));
}
