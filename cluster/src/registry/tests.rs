//! Unit and property tests of the registry.

use proptest::prelude::*;
use troupe_runtime::AgentId;

use super::*;

fn ts(time: u64, clock: u8) -> Timestamp {
    // Clock ids 1..=255 are never zero; clamp so the helper cannot panic.
    let id =
        ClockId::from(std::num::NonZeroU8::new(clock.max(1)).unwrap_or(std::num::NonZeroU8::MIN));
    Timestamp::new(NTP64(time), id)
}

fn agent(s: &str) -> AgentId {
    AgentId::new(s)
}

fn node(s: &str) -> NodeName {
    NodeName::new(s)
}

// ---------------------------------------------------------------- unit tests

#[test]
fn activate_inserts_and_reports_change() {
    let mut r = Registry::new();
    let change = r.activate(agent("a"), node("n1"), 1, 0, ts(10, 1)).unwrap();
    assert!(change.previous.is_none());
    assert!(change.starts_on(&node("n1")));
    assert_eq!(r.active_node(&agent("a")), Some(&node("n1")));
    assert_eq!(r.len(), 1);
}

#[test]
fn newer_write_wins_older_write_loses() {
    let mut r = Registry::new();
    r.activate(agent("a"), node("n1"), 1, 0, ts(10, 1));
    assert!(r.activate(agent("a"), node("n2"), 1, 0, ts(5, 2)).is_none());
    assert_eq!(r.active_node(&agent("a")), Some(&node("n1")));
    let change = r.activate(agent("a"), node("n2"), 1, 0, ts(11, 2)).unwrap();
    assert!(change.stops_on(&node("n1")));
    assert!(change.starts_on(&node("n2")));
    assert_eq!(r.active_node(&agent("a")), Some(&node("n2")));
}

#[test]
fn same_time_is_ordered_by_clock_id() {
    let mut r = Registry::new();
    r.activate(agent("a"), node("n2"), 1, 0, ts(10, 2));
    assert!(r
        .activate(agent("a"), node("n1"), 1, 0, ts(10, 1))
        .is_none());
    assert_eq!(r.winner(&agent("a")).unwrap().node, node("n2"));
}

#[test]
fn equal_stamps_tie_break_on_node_incarnation_version_state() {
    let base = Slot {
        node: node("n1"),
        incarnation: 1,
        version: 1,
        state: SlotState::Active,
        stamp: ts(10, 1),
    };
    let by_node = Slot {
        node: node("n2"),
        ..base.clone()
    };
    let by_inc = Slot {
        incarnation: 2,
        ..base.clone()
    };
    let by_ver = Slot {
        version: 2,
        ..base.clone()
    };
    let by_state = Slot {
        state: SlotState::Removed,
        ..base.clone()
    };
    for bigger in [&by_node, &by_inc, &by_ver, &by_state] {
        assert!(*bigger > base);
        let mut a = Registry::new();
        a.apply(agent("x"), base.clone());
        a.apply(agent("x"), bigger.clone());
        let mut b = Registry::new();
        b.apply(agent("x"), bigger.clone());
        b.apply(agent("x"), base.clone());
        assert_eq!(a, b);
        assert_eq!(a.winner(&agent("x")), Some(bigger));
    }
    // A greater stamp beats any tie-breaker.
    let later = Slot {
        stamp: ts(11, 1),
        ..base.clone()
    };
    assert!(later > by_node && later > by_state);
}

#[test]
fn passivate_then_reactivate() {
    let mut r = Registry::new();
    r.activate(agent("a"), node("n1"), 1, 0, ts(1, 1));
    let c = r.passivate(agent("a"), node("n1"), 1, 3, ts(2, 1)).unwrap();
    assert!(c.stops_on(&node("n1")));
    let slot = r.winner(&agent("a")).unwrap();
    assert_eq!((slot.state, slot.version), (SlotState::Passivated, 3));
    assert_eq!(r.active_node(&agent("a")), None);
    let c = r.activate(agent("a"), node("n2"), 4, 3, ts(3, 2)).unwrap();
    assert!(c.starts_on(&node("n2")));
}

#[test]
fn remove_leaves_tombstone_that_blocks_older_writes() {
    let mut r = Registry::new();
    r.activate(agent("a"), node("n1"), 1, 7, ts(1, 1));
    let c = r.remove(agent("a"), node("n2"), 1, ts(5, 2)).unwrap();
    assert!(c.stops_on(&node("n1")));
    let tomb = r.winner(&agent("a")).unwrap();
    assert_eq!((tomb.state, tomb.version), (SlotState::Removed, 7));
    assert!(r.activate(agent("a"), node("n1"), 1, 7, ts(4, 1)).is_none());
    // A removal of an agent never seen still writes a tombstone.
    assert!(r.remove(agent("b"), node("n2"), 1, ts(6, 2)).is_some());
    assert_eq!(r.winner(&agent("b")).unwrap().state, SlotState::Removed);
}

#[test]
fn prune_tombstones_drops_only_old_tombstones() {
    let mut r = Registry::new();
    r.remove(agent("old"), node("n1"), 1, ts(1, 1));
    r.remove(agent("new"), node("n1"), 1, ts(10, 1));
    r.activate(agent("live"), node("n1"), 1, 0, ts(2, 1));
    assert_eq!(r.prune_tombstones(&ts(5, 1)), 1);
    assert!(r.winner(&agent("old")).is_none());
    assert!(r.winner(&agent("new")).is_some());
    assert!(r.winner(&agent("live")).is_some());
}

#[test]
fn delta_since_returns_strictly_newer_entries() {
    let mut r = Registry::new();
    r.activate(agent("a"), node("n1"), 1, 0, ts(1, 1));
    r.activate(agent("b"), node("n1"), 1, 0, ts(2, 1));
    r.activate(agent("c"), node("n1"), 1, 0, ts(3, 1));
    let d = r.delta_since(&ts(2, 1));
    assert_eq!(d.version, Delta::VERSION);
    let ids: Vec<_> = d.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["c"]);
    assert_eq!(d.max_stamp(), Some(ts(3, 1)));
    assert!(r.delta_since(&ts(3, 1)).is_empty());
    assert_eq!(r.full_delta().entries.len(), 3);
    assert_eq!(r.max_stamp(), Some(ts(3, 1)));
}

#[test]
fn merge_reports_local_changes_once_per_agent() {
    let mut a = Registry::new();
    a.activate(agent("x"), node("n1"), 1, 0, ts(1, 1));
    a.activate(agent("y"), node("n1"), 1, 0, ts(9, 1));
    let mut delta = Delta::default();
    for (id, t) in [("x", 2), ("x", 3), ("y", 2), ("z", 4)] {
        delta.entries.push(DeltaEntry {
            id: agent(id),
            slot: Slot {
                node: node("n2"),
                incarnation: 1,
                version: 0,
                state: SlotState::Active,
                stamp: ts(t, 2),
            },
        });
    }
    let changes = a.merge(&delta);
    let summary: Vec<_> = changes
        .iter()
        .map(|c| (c.id.as_str(), c.previous.is_some(), c.current.stamp))
        .collect();
    assert_eq!(summary, [("x", true, ts(3, 2)), ("z", false, ts(4, 2))]);
    assert_eq!(changes[0].previous.as_ref().unwrap().stamp, ts(1, 1));
    assert!(a.merge(&delta).is_empty(), "re-merging changes nothing");
}

#[test]
fn merge_state_equals_merge_of_full_delta() {
    let mut a = Registry::new();
    a.activate(agent("x"), node("n1"), 1, 0, ts(1, 1));
    let mut b = Registry::new();
    b.activate(agent("x"), node("n2"), 1, 0, ts(2, 2));
    b.remove(agent("y"), node("n2"), 1, ts(3, 2));
    let mut a2 = a.clone();
    assert_eq!(a.merge_state(&b), a2.merge(&b.full_delta()));
    assert_eq!(a, a2);
}

#[test]
fn losers_on_reports_agents_owned_elsewhere_passivated_or_removed() {
    let mut r = Registry::new();
    r.activate(agent("mine"), node("n1"), 1, 0, ts(1, 1));
    r.activate(agent("theirs"), node("n2"), 1, 0, ts(2, 2));
    r.passivate(agent("asleep"), node("n1"), 1, 0, ts(3, 1));
    r.remove(agent("gone"), node("n2"), 1, ts(4, 2));
    let local = ["mine", "theirs", "asleep", "gone", "unknown", "theirs"].map(agent);
    let losers = r.losers_on(&node("n1"), local);
    assert_eq!(losers, ["asleep", "gone", "theirs"].map(agent));
}

#[test]
fn delta_roundtrips_through_rmp_serde() {
    let mut r = Registry::new();
    r.activate(agent("a"), node("n1"), 3, 9, ts(u64::MAX, 200));
    r.passivate(agent("b"), node("n2"), 0, 1, ts(5, 1));
    r.remove(agent("c"), node("n3"), 1, ts(6, 7));
    let d = r.full_delta();
    let named = rmp_serde::to_vec_named(&d).unwrap();
    assert_eq!(rmp_serde::from_slice::<Delta>(&named).unwrap(), d);
    let compact = rmp_serde::to_vec(&d).unwrap();
    assert_eq!(rmp_serde::from_slice::<Delta>(&compact).unwrap(), d);
    // Field names are on the wire, not Rust type names.
    let text = String::from_utf8_lossy(&named);
    for name in [
        "version",
        "entries",
        "slot",
        "incarnation",
        "stamp",
        "clock",
        "passivated",
    ] {
        assert!(text.contains(name), "missing {name}");
    }
}

#[test]
fn bad_wire_input_is_an_error_not_a_panic() {
    assert!(rmp_serde::from_slice::<Delta>(&[0xc1, 0x00, 0xff]).is_err());
    // A zero clock id is rejected at decode time.
    #[derive(serde::Serialize)]
    struct RawStamp {
        time: u64,
        clock: [u8; 16],
    }
    #[derive(serde::Serialize)]
    struct Raw {
        stamp: RawStamp,
    }
    #[derive(Debug, serde::Deserialize)]
    struct Decoded {
        #[serde(with = "super::clock::wire")]
        #[allow(dead_code)]
        stamp: Timestamp,
    }
    let encode = |clock| {
        rmp_serde::to_vec_named(&Raw {
            stamp: RawStamp { time: 1, clock },
        })
    };
    let zero = encode([0; 16]).unwrap();
    assert!(rmp_serde::from_slice::<Decoded>(&zero).is_err());
    let mut one = [0; 16];
    one[0] = 1;
    assert!(rmp_serde::from_slice::<Decoded>(&encode(one).unwrap()).is_ok());
    let future = Delta {
        version: 99,
        entries: vec![],
    };
    assert_eq!(future.validate(), Err(UnsupportedVersion(99)));
    assert!(Delta::default().validate().is_ok());
}

#[test]
fn clock_is_monotonic_and_follows_remote_timestamps() {
    let clock = Clock::new(ClockId::from(std::num::NonZeroU8::MIN));
    let a = clock.now();
    let b = clock.now();
    assert!(b > a);
    assert_eq!(*b.get_id(), clock.id());
    // A remote timestamp slightly ahead (within max delta) pushes the clock past it.
    let ahead = Timestamp::new(
        NTP64(b.get_time().as_u64() + (1 << 28)),
        ClockId::from(std::num::NonZeroU8::MAX),
    );
    clock.update(&ahead).unwrap();
    assert!(clock.now() > ahead);
    // One far in the future is refused.
    let far = Timestamp::new(
        NTP64(u64::MAX >> 1),
        ClockId::from(std::num::NonZeroU8::MAX),
    );
    assert!(clock.update(&far).is_err());
}

// ---------------------------------------------------------------- property tests

const AGENTS: &[&str] = &["a", "b", "c", "d", "e", "f"];
const NODES: &[&str] = &["n0", "n1", "n2"];

fn arb_state() -> impl Strategy<Value = SlotState> {
    prop_oneof![
        Just(SlotState::Active),
        Just(SlotState::Passivated),
        Just(SlotState::Removed)
    ]
}

/// Slots drawn from a small space so collisions (same agent, even same stamp with different
/// content) are frequent.
fn arb_slot() -> impl Strategy<Value = Slot> {
    (
        0..NODES.len(),
        0u64..3,
        0u64..3,
        arb_state(),
        0u64..12,
        1u8..4,
    )
        .prop_map(|(n, incarnation, version, state, time, clock)| Slot {
            node: node(NODES[n]),
            incarnation,
            version,
            state,
            stamp: ts(time, clock),
        })
}

fn arb_entry() -> impl Strategy<Value = DeltaEntry> {
    (0..AGENTS.len(), arb_slot()).prop_map(|(a, slot)| DeltaEntry {
        id: agent(AGENTS[a]),
        slot,
    })
}

fn arb_delta() -> impl Strategy<Value = Delta> {
    prop::collection::vec(arb_entry(), 0..10).prop_map(|entries| Delta {
        version: Delta::VERSION,
        entries,
    })
}

fn arb_registry() -> impl Strategy<Value = Registry> {
    arb_delta().prop_map(|d| {
        let mut r = Registry::new();
        r.merge(&d);
        r
    })
}

fn merged(a: &Registry, b: &Registry) -> Registry {
    let mut out = a.clone();
    out.merge_state(b);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn prop_merge_is_commutative(a in arb_registry(), b in arb_registry()) {
        prop_assert_eq!(merged(&a, &b), merged(&b, &a));
    }

    #[test]
    fn prop_merge_is_associative(a in arb_registry(), b in arb_registry(), c in arb_registry()) {
        prop_assert_eq!(merged(&merged(&a, &b), &c), merged(&a, &merged(&b, &c)));
    }

    #[test]
    fn prop_merge_is_idempotent(a in arb_registry(), b in arb_registry()) {
        prop_assert_eq!(merged(&a, &a), a.clone());
        let ab = merged(&a, &b);
        let mut again = ab.clone();
        prop_assert!(again.merge_state(&b).is_empty());
        prop_assert_eq!(again, ab);
    }

    /// Replicas receiving the same deltas in different orders, with duplicates, converge.
    #[test]
    fn prop_replicas_converge_under_reordering_and_duplication(
        deltas in prop::collection::vec(arb_delta(), 1..6),
        extra in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        seed in any::<u64>(),
    ) {
        let n = deltas.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.extend(extra.iter().map(|i| i.index(n)));
        let mut reference = Registry::new();
        for d in &deltas {
            reference.merge(d);
        }
        // Three replicas, each with its own deterministic shuffle of `order`.
        for replica in 0..3u64 {
            let mut o = order.clone();
            let mut x = seed ^ (replica.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1;
            for i in (1..o.len()).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                o.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let mut r = Registry::new();
            for &i in &o {
                r.merge(&deltas[i]);
            }
            prop_assert_eq!(&r, &reference);
        }
    }

    /// After merging, each entry is the max of what was there and what arrived; the reported
    /// changes are exactly the entries that differ.
    #[test]
    fn prop_merge_never_loses_a_newer_write(r in arb_registry(), d in arb_delta()) {
        let mut after = r.clone();
        let changes = after.merge(&d);
        for e in &d.entries {
            let kept = after.winner(&e.id);
            prop_assert!(kept.is_some_and(|k| *k >= e.slot));
        }
        for (id, before) in r.iter() {
            let kept = after.winner(id);
            prop_assert!(kept.is_some_and(|k| k >= before));
        }
        for (id, slot) in after.iter() {
            let from_r = r.winner(id).is_some_and(|s| s == slot);
            let from_d = d.entries.iter().any(|e| &e.id == id && &e.slot == slot);
            prop_assert!(from_r || from_d, "entry for {:?} came from nowhere", id);
        }
        let changed: Vec<_> = after
            .iter()
            .filter(|(id, s)| r.winner(id) != Some(*s))
            .map(|(id, _)| id.clone())
            .collect();
        let reported: Vec<_> = changes.iter().map(|c| c.id.clone()).collect();
        prop_assert_eq!(reported, changed);
    }

    /// Partition: every node is isolated and activates/passivates agents on its own, stamping
    /// with its own clock (random skew). Heal: full merge. Then each node passivates its
    /// `losers_on`; exactly one node keeps each agent whose winner is active, none otherwise.
    #[test]
    fn prop_partition_heal_leaves_one_active_owner(
        ops in prop::collection::vec((0..NODES.len(), 0..AGENTS.len(), any::<bool>(), 1u64..5), 1..40),
        merge_order in Just((0..NODES.len()).collect::<Vec<_>>()).prop_shuffle(),
    ) {
        let mut regs: Vec<Registry> = NODES.iter().map(|_| Registry::new()).collect();
        let mut local: Vec<std::collections::BTreeSet<AgentId>> =
            NODES.iter().map(|_| Default::default()).collect();
        let mut time = [0u64; 3];
        for &(n, a, activate, step) in &ops {
            time[n] += step;
            let stamp = ts(time[n], n as u8 + 1);
            let id = agent(AGENTS[a]);
            if activate {
                regs[n].activate(id.clone(), node(NODES[n]), 1, 0, stamp);
                local[n].insert(id);
            } else {
                regs[n].passivate(id.clone(), node(NODES[n]), 1, 0, stamp);
                local[n].remove(&id);
            }
        }
        // Heal: everyone merges everyone's state, in a random order.
        let snapshot = regs.clone();
        for r in regs.iter_mut() {
            for &i in &merge_order {
                r.merge_state(&snapshot[i]);
            }
        }
        for r in &regs[1..] {
            prop_assert_eq!(r, &regs[0]);
        }
        for (n, set) in local.iter_mut().enumerate() {
            for loser in regs[n].losers_on(&node(NODES[n]), set.iter().cloned()) {
                set.remove(&loser);
            }
        }
        for a in AGENTS {
            let id = agent(a);
            let owners: Vec<usize> = (0..NODES.len()).filter(|&n| local[n].contains(&id)).collect();
            match regs[0].active_node(&id) {
                Some(owner) => prop_assert_eq!(
                    owners.iter().map(|&n| NODES[n]).collect::<Vec<_>>(),
                    vec![owner.as_str()]
                ),
                None => prop_assert!(owners.is_empty()),
            }
        }
    }
}
