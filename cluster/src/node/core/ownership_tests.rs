//! Tests of [`super::ownership`]: after a merge, and rebalancing.

use troupe_runtime::AgentId;

use super::ownership::{after_merge, movers, AfterMerge, Resident};
use crate::registry::{ClockId, NodeName, Slot, SlotState, Timestamp, NTP64};

fn slot(node: &str, state: SlotState) -> Slot {
    Slot {
        node: node.into(),
        incarnation: 1,
        version: 1,
        state,
        stamp: Timestamp::new(NTP64(1), ClockId::try_from([1u8; 16]).unwrap()),
    }
}

#[test]
fn a_local_agent_that_lost_a_merge_yields_to_the_winner() {
    let me = NodeName::new("a");
    assert_eq!(
        after_merge(Some(&slot("b", SlotState::Active)), &me),
        AfterMerge::Yield {
            winner: Some("b".into())
        }
    );
    // Passivated or removed elsewhere: stop, and held calls are routed again.
    for state in [SlotState::Passivated, SlotState::Removed] {
        assert_eq!(
            after_merge(Some(&slot("b", state)), &me),
            AfterMerge::Yield { winner: None }
        );
    }
    assert_eq!(after_merge(None, &me), AfterMerge::Yield { winner: None });
}

#[test]
fn a_local_agent_whose_ownership_came_back_keeps_serving() {
    let me = NodeName::new("a");
    assert_eq!(
        after_merge(Some(&slot("a", SlotState::Active)), &me),
        AfterMerge::Keep
    );
}

#[test]
fn only_movable_agents_that_placement_now_gives_the_new_peer_move() {
    let (x, y, z) = (AgentId::new("x"), AgentId::new("y"), AgentId::new("z"));
    let residents = [
        Resident {
            agent: &x,
            kind: "k",
            movable: true,
        },
        Resident {
            agent: &y,
            kind: "k",
            movable: false,
        },
        Resident {
            agent: &z,
            kind: "k",
            movable: true,
        },
    ];
    let peer = NodeName::new("b");
    let place =
        |a: &AgentId, _: &str| Some(NodeName::new(if a.as_str() == "z" { "a" } else { "b" }));
    assert_eq!(movers(residents, &peer, place), [x]);
}
