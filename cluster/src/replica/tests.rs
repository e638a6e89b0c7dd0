//! The replica's lattice laws (property tests, like the registry's) and the fencing rule.

use proptest::prelude::*;

use super::*;

fn entry(kind: &str, at: u64) -> Entry {
    Entry {
        at_ms: at,
        kind: kind.into(),
        payload: kind.as_bytes().to_vec(),
    }
}

/// The owner `epoch` writes `kinds` after position `from`, as a delta.
fn written(run: &str, epoch: &Epoch, from: u64, kinds: &[&str]) -> RunReplica {
    let mut d = RunReplica::new(run);
    for (i, k) in kinds.iter().enumerate() {
        d.journal
            .insert(from + 1 + i as u64, (epoch.clone(), entry(k, i as u64)));
    }
    d
}

fn kinds(r: &RunReplica) -> Vec<String> {
    r.journal_prefix()
        .into_iter()
        .map(|(_, e)| e.kind.clone())
        .collect()
}

#[test]
fn the_journal_prefix_stops_at_the_first_gap() {
    let e1 = Epoch::new(1, "a");
    let mut r = RunReplica::new("r");
    r.epochs.insert(e1.clone(), 0);
    r.merge(written("r", &e1, 0, &["s", "t1"]));
    r.merge(written("r", &e1, 3, &["t3"]));
    assert_eq!(kinds(&r), ["s", "t1"], "3 is missing: 4 waits");
    r.merge(written("r", &e1, 2, &["t2"]));
    assert_eq!(kinds(&r), ["s", "t1", "t2", "t3"]);
    assert_eq!(r.journal_end(), 4);
}

#[test]
fn a_takeover_fences_the_old_owner_and_cuts_what_it_wrote_after_the_base() {
    let old = Epoch::new(1, "a");
    let mut b = RunReplica::new("r");
    b.epochs.insert(old.clone(), 0);
    b.merge(written("r", &old, 0, &["submitted", "done1"]));
    let new = b.take_over("b");
    assert_eq!(new, Epoch::new(2, "b"));
    assert_eq!(b.epochs[&new], 2, "starts after what the replica has");
    // The old owner, cut off, went on writing 3 and 4; the new one wrote its own 3.
    let mut stale = RunReplica::new("r");
    stale.epochs.insert(old.clone(), 0);
    stale.merge(written(
        "r",
        &old,
        0,
        &["submitted", "done1", "done2@a", "done3@a"],
    ));
    b.merge(written("r", &new, 2, &["done2@b"]));
    let mut healed = b.clone();
    healed.merge(stale.clone());
    assert_eq!(kinds(&healed), ["submitted", "done1", "done2@b"]);
    assert_eq!(
        healed.admit(&old),
        Admit::Fenced {
            current: new.clone()
        }
    );
    assert_eq!(healed.admit(&new), Admit::Accept);
    // The same, merged the other way round.
    stale.merge(b);
    assert_eq!(stale, healed);
}

#[test]
fn two_takeovers_of_one_epoch_are_ordered_by_node_name() {
    let mut r = RunReplica::new("r");
    r.epochs.insert(Epoch::new(1, "a"), 0);
    let mut b = r.clone();
    let mut c = r.clone();
    let eb = b.take_over("b");
    let ec = c.take_over("c");
    b.merge(c);
    assert_eq!(b.owner(), Some(&ec));
    assert_eq!(b.admit(&eb), Admit::Fenced { current: ec });
}

#[test]
fn results_are_add_wins_and_agree_on_one_value() {
    let dot = |n: &str, i| Dot {
        node: n.into(),
        n: i,
    };
    let mut a = Results::default();
    a.add("r/t/1", dot("a", 1), "1");
    let mut b = a.clone();
    b.remove("r/t/1");
    a.add("r/t/1", dot("a", 2), "2");
    let mut ab = a.clone();
    ab.merge(b.clone());
    let mut ba = b;
    ba.merge(a);
    assert_eq!(ab, ba);
    assert_eq!(ab.get("r/t/1"), Some("2"), "the concurrent add wins");
    assert_eq!(ab.keys().collect::<Vec<_>>(), ["r/t/1"]);
}

#[test]
fn the_hlc_never_goes_back_and_passes_what_it_saw() {
    let mut h = Hlc::default();
    let a = h.tick(10);
    let b = h.tick(5);
    assert!(b > a);
    h.observe(100 << 16);
    assert!(h.tick(10) > 100 << 16);
}

#[test]
fn a_replica_round_trips_as_msgpack_with_names() {
    let e = Epoch::new(1, "a");
    let mut r = written("r", &e, 0, &["submitted"]);
    r.epochs.insert(e.clone(), 0);
    r.graph.insert("t".into());
    r.status.insert(
        "t".into(),
        Lww {
            stamp: Stamp { epoch: e, hlc: 7 },
            value: "completed".into(),
        },
    );
    r.results.add(
        "r/t/1",
        Dot {
            node: "a".into(),
            n: 1,
        },
        "{}",
    );
    r.meta = Some(RunMeta {
        workflow: "w".into(),
        definition: "workflow: {}".into(),
        definition_version: "1".into(),
        input: "null".into(),
        options: "{}".into(),
        tenant: None,
        created_ms: 1,
    });
    let bytes = rmp_serde::to_vec_named(&r).unwrap();
    assert!(String::from_utf8_lossy(&bytes).contains("journal"));
    let back: RunReplica = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(back, r);
}

// ---------------------------------------------------------------- properties

fn arb_epoch() -> impl Strategy<Value = Epoch> {
    (1u64..4, prop::sample::select(vec!["a", "b", "c"])).prop_map(|(n, node)| Epoch::new(n, node))
}

fn arb_replica() -> impl Strategy<Value = RunReplica> {
    let epochs = prop::collection::btree_map(arb_epoch(), 0u64..6, 0..3);
    let journal = prop::collection::btree_map(
        1u64..8,
        (
            arb_epoch(),
            prop::sample::select(vec!["x", "y", "z"]),
            0u64..3,
        )
            .prop_map(|(e, k, at)| (e, entry(k, at))),
        0..6,
    );
    let graph = prop::collection::btree_set(prop::sample::select(vec!["t1", "t2", "t3"]), 0..3)
        .prop_map(|s| s.into_iter().map(String::from).collect::<BTreeSet<_>>());
    let status = prop::collection::btree_map(
        prop::sample::select(vec!["t1", "t2", "t3"]).prop_map(String::from),
        (
            arb_epoch(),
            0u64..4,
            prop::sample::select(vec!["running", "completed", "failed"]),
        )
            .prop_map(|(epoch, hlc, v)| Lww {
                stamp: Stamp { epoch, hlc },
                value: v.to_string(),
            }),
        0..3,
    );
    let results = prop::collection::vec(
        (
            prop::sample::select(vec!["k1", "k2"]),
            prop::sample::select(vec!["a", "b"]),
            0u64..4,
            any::<bool>(),
        ),
        0..5,
    )
    .prop_map(|ops| {
        let mut r = Results::default();
        for (key, node, n, remove) in ops {
            if remove {
                r.remove(key);
            } else {
                r.add(
                    key,
                    Dot {
                        node: node.into(),
                        n,
                    },
                    format!("{node}{n}"),
                );
            }
        }
        r
    });
    let meta = prop::option::of(
        prop::sample::select(vec!["w1", "w2"]).prop_map(|w| RunMeta {
            workflow: w.into(),
            definition: String::new(),
            definition_version: String::new(),
            input: "null".into(),
            options: "{}".into(),
            tenant: None,
            created_ms: 0,
        }),
    );
    (meta, epochs, journal, graph, status, results).prop_map(
        |(meta, epochs, journal, graph, status, results)| RunReplica {
            run: "r".into(),
            meta,
            epochs,
            journal,
            graph,
            status,
            results,
        },
    )
}

fn merged(a: &RunReplica, b: &RunReplica) -> RunReplica {
    let mut out = a.clone();
    out.merge(b.clone());
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn prop_merge_is_commutative(a in arb_replica(), b in arb_replica()) {
        prop_assert_eq!(merged(&a, &b), merged(&b, &a));
    }

    #[test]
    fn prop_merge_is_associative(a in arb_replica(), b in arb_replica(), c in arb_replica()) {
        prop_assert_eq!(merged(&merged(&a, &b), &c), merged(&a, &merged(&b, &c)));
    }

    #[test]
    fn prop_merge_is_idempotent(a in arb_replica(), b in arb_replica()) {
        prop_assert_eq!(merged(&a, &a), a.clone());
        let ab = merged(&a, &b);
        prop_assert_eq!(merged(&ab, &b), ab);
    }

    #[test]
    fn prop_a_lower_epoch_is_fenced_once_a_higher_one_is_known(
        a in arb_replica(), writer in arb_epoch()
    ) {
        match a.admit(&writer) {
            Admit::Accept => prop_assert!(a.owner().is_none_or(|o| *o <= writer)),
            Admit::Fenced { current } => {
                prop_assert!(current > writer);
                prop_assert_eq!(Some(&current), a.owner());
            }
        }
    }

    #[test]
    fn prop_the_journal_prefix_is_the_same_whatever_the_delivery_order(
        a in arb_replica(), b in arb_replica(), c in arb_replica()
    ) {
        let abc = merged(&merged(&a, &b), &c);
        let cba = merged(&merged(&c, &b), &a);
        prop_assert_eq!(abc.journal_prefix(), cba.journal_prefix());
    }
}
