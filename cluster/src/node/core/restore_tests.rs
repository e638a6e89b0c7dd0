//! Tests of [`super::restore`]: what a restarted node does with the checkpoints it read back.

use std::time::{Duration, Instant};

use super::restore::{decide, due, Restore, RESTORE_GRACE, RESTORE_SETTLE};
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

fn me() -> NodeName {
    NodeName::new("a")
}

#[test]
fn own_checkpoints_are_due_after_the_settle_and_a_backups_after_the_grace_and_its_turn() {
    let t0 = Instant::now();
    let turn = Duration::from_millis(500);
    assert_eq!(due(true, turn, t0), t0 + RESTORE_SETTLE);
    assert_eq!(due(false, turn, t0), t0 + RESTORE_GRACE + turn);
    assert!(RESTORE_GRACE > RESTORE_SETTLE, "the owner goes first");
}

#[test]
fn an_agent_nobody_runs_is_activated_here() {
    assert_eq!(decide(None, false, &me(), |_| true), Restore::Activate);
    // The registry names this node (an earlier life of it): nothing runs it now.
    let here = slot("a", SlotState::Active);
    assert_eq!(
        decide(Some(&here), false, &me(), |_| true),
        Restore::Activate
    );
    // Its node is down.
    let gone = slot("b", SlotState::Active);
    assert_eq!(
        decide(Some(&gone), false, &me(), |_| false),
        Restore::Activate
    );
}

#[test]
fn an_agent_on_a_live_peer_or_here_already_is_left_alone() {
    let there = slot("b", SlotState::Active);
    assert_eq!(decide(Some(&there), false, &me(), |_| true), Restore::Leave);
    let resting = slot("b", SlotState::Passivated);
    assert_eq!(
        decide(Some(&resting), false, &me(), |_| true),
        Restore::Leave
    );
    assert_eq!(decide(None, true, &me(), |_| true), Restore::Leave);
}

#[test]
fn an_agent_stopped_meanwhile_is_forgotten() {
    let stopped = slot("b", SlotState::Removed);
    assert_eq!(
        decide(Some(&stopped), false, &me(), |_| true),
        Restore::Forget
    );
}
