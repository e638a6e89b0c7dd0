//! Tests of [`super::moves`]: whom to ask, which checkpoints to drop, where agents go when
//! this node leaves.

use troupe_runtime::AgentId;

use super::moves::{
    drop_after_migration, evacuation, owner_for, stale_backups, Evacuate, Op, Owner,
};
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

fn names(v: &[&str]) -> Vec<NodeName> {
    v.iter().map(|n| NodeName::new(*n)).collect()
}

#[test]
fn an_operation_on_a_local_agent_is_done_here() {
    let me = NodeName::new("a");
    for op in [Op::Migrate, Op::Stop, Op::Checkpoint] {
        let s = slot("b", SlotState::Active);
        assert_eq!(owner_for(op, true, Some(&s), &me, |_| true), Owner::Here);
    }
}

#[test]
fn an_operation_goes_to_the_live_node_that_runs_the_agent() {
    let me = NodeName::new("a");
    let on_b = slot("b", SlotState::Active);
    for op in [Op::Migrate, Op::Stop, Op::Checkpoint] {
        assert_eq!(
            owner_for(op, false, Some(&on_b), &me, |_| true),
            Owner::Ask("b".into())
        );
        assert_eq!(owner_for(op, false, None, &me, |_| true), Owner::Missing);
    }
    // Its node is down: nothing to migrate, a tombstone stops it.
    let down = |_: &NodeName| false;
    assert_eq!(
        owner_for(Op::Migrate, false, Some(&on_b), &me, down),
        Owner::Missing
    );
    assert_eq!(
        owner_for(Op::Stop, false, Some(&on_b), &me, down),
        Owner::Tombstone
    );
}

#[test]
fn stopping_a_passivated_agent_writes_a_tombstone_and_a_removed_one_is_missing() {
    let me = NodeName::new("a");
    let here = slot("a", SlotState::Passivated);
    assert_eq!(
        owner_for(Op::Stop, false, Some(&here), &me, |_| true),
        Owner::Tombstone
    );
    assert_eq!(
        owner_for(Op::Checkpoint, false, Some(&here), &me, |_| true),
        Owner::Missing
    );
    let passivated_on_b = slot("b", SlotState::Passivated);
    assert_eq!(
        owner_for(Op::Migrate, false, Some(&passivated_on_b), &me, |_| true),
        Owner::Missing,
        "only an active agent migrates"
    );
    let removed = slot("b", SlotState::Removed);
    assert_eq!(
        owner_for(Op::Stop, false, Some(&removed), &me, |_| true),
        Owner::Missing
    );
}

#[test]
fn checkpoints_are_dropped_from_old_backups_but_not_from_the_new_home() {
    let to = NodeName::new("c");
    assert_eq!(
        drop_after_migration(names(&["b", "c", "d"]), &to),
        names(&["b", "d"])
    );
    let old = names(&["b", "c"]);
    let sent = names(&["c", "d"]);
    assert_eq!(stale_backups(&old, &sent), vec![&NodeName::new("b")]);
    assert!(stale_backups(&sent, &sent).is_empty());
}

#[test]
fn evacuation_moves_each_agent_where_placement_says_or_passivates_it() {
    let agents = [("x", "k"), ("y", "lonely")].map(|(a, k)| (AgentId::new(a), k.to_string()));
    let plan = evacuation(agents, |_, kind| (kind == "k").then(|| NodeName::new("b")));
    assert_eq!(
        plan,
        vec![
            (AgentId::new("x"), Evacuate::To("b".into())),
            (AgentId::new("y"), Evacuate::Passivate),
        ]
    );
}
