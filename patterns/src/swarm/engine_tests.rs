//! The swarm protocol without actors: credit arithmetic, peer commands, and whole swarms run
//! over random schedules (seeded) with the invariants checked after every step.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::{json, Value};

use super::*;
use crate::swarm::credit::{Credit, Ledger};
use crate::swarm::entry::{EntryCore, RunOutcome};

fn groups(n: usize) -> Arc<[String]> {
    (0..n).map(|_| "w".to_string()).collect()
}

fn peer(me: usize, n: usize) -> PeerCore {
    PeerCore::new(PeerSettings::new(me, groups(n)))
}

fn seed_items(values: Vec<Value>) -> (EntryCore, Vec<Item>) {
    let (entry, placed) = EntryCore::seed(values, |_| 0);
    (entry, placed.into_iter().map(|(_, i)| i).collect())
}

// ---- credit ------------------------------------------------------------------------------

#[test]
fn split_shares_sum_exactly_to_the_whole() {
    for n in 1..300 {
        let shares = Credit::whole().split(n).expect("split");
        assert_eq!(shares.len(), n);
        let mut ledger = Ledger::new();
        let last = shares.len() - 1;
        for (i, s) in shares.into_iter().enumerate() {
            assert_eq!(ledger.give_back(s), Ok(i == last), "n={n} share {i}");
        }
    }
}

#[test]
fn exponents_grow_with_log_of_fan_out() {
    let shares = Credit::whole().split(1000).expect("split");
    assert!(shares.iter().all(|s| s.exponent() <= 10));
    assert_eq!(Credit::whole().split(1).expect("split")[0].exponent(), 0);
}

#[test]
fn split_past_the_limit_hands_the_share_back() {
    let c = Credit::forge(60);
    let back = c.split_within(3, 61).expect_err("too fine");
    assert_eq!(back.exponent(), 60);
    assert!(Credit::whole().split(0).is_err());
}

#[test]
fn ledger_refuses_more_than_the_whole() {
    let mut l = Ledger::new();
    assert_eq!(l.give_back(Credit::whole()), Ok(true));
    assert!(l.give_back(Credit::forge(3)).is_err());
    let mut l = Ledger::new();
    assert_eq!(l.give_back(Credit::forge(1)), Ok(false));
    assert_eq!(l.give_back(Credit::forge(2)), Ok(false));
    assert!(l.give_back(Credit::forge(0)).is_err(), "1/2 + 1/4 + 1 > 1");
}

#[test]
fn random_split_trees_complete_only_with_the_last_share() {
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..200 {
        let mut live = vec![Credit::whole()];
        // Split random shares a random number of times.
        for _ in 0..rng.usize(0..60) {
            let i = rng.usize(..live.len());
            let c = live.swap_remove(i);
            live.extend(c.split(rng.usize(1..9)).expect("split"));
        }
        rng.shuffle(&mut live);
        let mut ledger = Ledger::new();
        let n = live.len();
        for (i, c) in live.into_iter().enumerate() {
            assert_eq!(ledger.give_back(c), Ok(i + 1 == n));
        }
    }
}

// ---- one peer ----------------------------------------------------------------------------

#[test]
fn a_peer_runs_its_newest_item_and_thieves_take_the_oldest_half() {
    let (_entry, items) = seed_items(vec![json!(0), json!(1), json!(2), json!(3), json!(4)]);
    let mut p = peer(0, 2);
    let out = p.handle(PeerInput::Seed {
        items,
        idle: vec![],
    });
    assert!(
        matches!(&out[..], [PeerCommand::Call(v)] if *v == json!(4)),
        "{out:?}"
    );
    let out = p.handle(PeerInput::StealRequest { thief: 1 });
    let [PeerCommand::Grant { thief: 1, items }] = &out[..] else {
        panic!("{out:?}")
    };
    let ids: Vec<Value> = items.iter().map(|i| i.payload.clone()).collect();
    assert_eq!(ids, vec![json!(0), json!(1)], "ceil(4/2) oldest");
    assert_eq!(p.queued(), 2);
}

#[test]
fn a_refused_thief_is_woken_when_spare_work_appears() {
    let (_e, items) = seed_items(vec![json!("a")]);
    let mut victim = peer(0, 2);
    victim.handle(PeerInput::Seed {
        items,
        idle: vec![],
    });
    // Nothing queued beside the running item: refuse, remember the thief.
    let out = victim.handle(PeerInput::StealRequest { thief: 1 });
    assert!(matches!(&out[..], [PeerCommand::Grant { thief: 1, items }] if items.is_empty()));
    // The item spawns two sub-items: one runs, one is spare, so the thief is woken.
    let reply = Directive::spawn([json!("b"), json!("c")]).into_value();
    let out = victim.handle(PeerInput::Finished(CallOutcome::Replied(reply)));
    assert!(matches!(out[0], PeerCommand::Call(_)), "{out:?}");
    assert!(matches!(out[1], PeerCommand::Wake(1)), "{out:?}");
    assert_eq!(out.len(), 2, "no Done: all credit went to the sub-items");
}

#[test]
fn seedless_peers_park_at_once_and_are_woken_for_spare_work() {
    let (_e, items) = seed_items(vec![json!("a")]);
    let mut seeded = peer(0, 3);
    let mut idle = peer(1, 3);
    let out = idle.handle(PeerInput::Seed {
        items: vec![],
        idle: vec![1, 2],
    });
    assert!(
        out.is_empty() && idle.is_parked(),
        "no steal traffic: {out:?}"
    );
    let out = seeded.handle(PeerInput::Seed {
        items,
        idle: vec![1, 2],
    });
    assert!(matches!(out[..], [PeerCommand::Call(_)]), "{out:?}");
    // Two sub-items: one runs, one is spare, so one hungry peer is woken.
    let reply = Directive::spawn([json!("b"), json!("c")]).into_value();
    let out = seeded.handle(PeerInput::Finished(CallOutcome::Replied(reply)));
    assert!(
        matches!(out[..], [PeerCommand::Call(_), PeerCommand::Wake(1)]),
        "{out:?}"
    );
    // The woken peer asks the waker.
    let out = idle.handle(PeerInput::Wake { from: 0 });
    assert!(matches!(out[..], [PeerCommand::StealFrom(0)]), "{out:?}");
}

#[test]
fn an_idle_peer_asks_every_other_peer_then_parks() {
    let (_e, items) = seed_items(vec![json!("a")]);
    let mut p = peer(1, 3);
    p.handle(PeerInput::Seed {
        items,
        idle: vec![0, 2],
    });
    let reply = Directive::result(1).into_value();
    let out = p.handle(PeerInput::Finished(CallOutcome::Replied(reply)));
    let [PeerCommand::Done { .. }, PeerCommand::StealFrom(a)] = out[..] else {
        panic!("{out:?}")
    };
    let out = p.handle(PeerInput::Stolen {
        victim: a,
        items: vec![],
    });
    let [PeerCommand::StealFrom(b)] = out[..] else {
        panic!("{out:?}")
    };
    assert_ne!(a, b);
    assert!(![a, b].contains(&1));
    let out = p.handle(PeerInput::Stolen {
        victim: b,
        items: vec![],
    });
    assert!(out.is_empty() && p.is_parked());
    // Woken: ask the waker.
    let out = p.handle(PeerInput::Wake { from: a });
    assert!(matches!(out[..], [PeerCommand::StealFrom(v)] if v == a));
}

#[test]
fn a_busy_peer_declines_a_wake() {
    let (_e, items) = seed_items(vec![json!(1)]);
    let mut p = peer(0, 2);
    p.handle(PeerInput::Seed {
        items,
        idle: vec![],
    });
    let out = p.handle(PeerInput::Wake { from: 1 });
    assert!(matches!(out[..], [PeerCommand::Decline(1)]), "{out:?}");
}

#[test]
fn results_spawns_and_handoffs_get_their_credit() {
    let (mut entry, items) = seed_items(vec![json!("root")]);
    let mut p = PeerCore::new(PeerSettings::new(
        0,
        Arc::from(vec!["a".into(), "b".into()]),
    ));
    p.handle(PeerInput::Seed {
        items,
        idle: vec![],
    });
    let reply = Directive::result(7)
        .with_spawn([json!("s")])
        .with_handoff("b", json!("h"))
        .into_value();
    let out = p.handle(PeerInput::Finished(CallOutcome::Replied(reply)));
    let mut handed = None;
    for c in out {
        match c {
            PeerCommand::Done { credit, result } => {
                assert_eq!(result, Some((ItemId(vec![0]), json!(7))));
                assert_eq!(entry.on_done(credit, None), Ok(false));
            }
            PeerCommand::Handoff { to: 1, item } => handed = Some(item),
            PeerCommand::Call(v) => assert_eq!(v, json!("s")),
            other => panic!("{other:?}"),
        }
    }
    let handed = handed.expect("handoff to group b = peer 1");
    assert_eq!(handed.id, ItemId(vec![0, 1]));
    let spawned = p.running.take().expect("running");
    assert_eq!(spawned.id, ItemId(vec![0, 0]));
    assert_eq!(entry.on_done(handed.credit, None), Ok(false));
    assert_eq!(entry.on_done(spawned.credit, None), Ok(true));
}

#[test]
fn bad_replies_and_unknown_targets_fail_the_item_with_its_credit() {
    for (reply, wanted) in [
        (json!({"resutl": 1}), "unknown field `resutl`"),
        (json!(5), "not a swarm directive"),
        (
            json!({"handoff": {"to": 9, "item": 1}}),
            "bad hand-off: no peer 9 (the swarm has 2 peers: 0..=1)",
        ),
        (
            json!({"handoff": {"to": "x", "item": 1}}),
            "bad hand-off: no member group \"x\" (groups: w)",
        ),
    ] {
        let (mut entry, items) = seed_items(vec![json!("i")]);
        let mut p = peer(0, 2);
        p.handle(PeerInput::Seed {
            items,
            idle: vec![],
        });
        let out = p.handle(PeerInput::Finished(CallOutcome::Replied(reply)));
        let Some(PeerCommand::Failed { credit, failure }) = out.into_iter().next() else {
            panic!("no failure")
        };
        assert!(failure.error.contains(wanted), "{}", failure.error);
        assert_eq!(entry.on_failed(credit, failure), Ok(true));
    }
}

#[test]
fn a_crashing_item_is_requeued_until_max_attempts() {
    let (mut entry, items) = seed_items(vec![json!("boom")]);
    let mut p = peer(0, 1);
    assert!(matches!(
        p.handle(PeerInput::Seed {
            items,
            idle: vec![]
        })[..],
        [PeerCommand::Call(_)]
    ));
    for _ in 0..2 {
        let out = p.handle(PeerInput::Finished(CallOutcome::Crashed("crashed".into())));
        assert!(
            matches!(out[..], [PeerCommand::Call(_)]),
            "re-queued and re-run: {out:?}"
        );
    }
    let out = p.handle(PeerInput::Finished(CallOutcome::Crashed("crashed".into())));
    let Some(PeerCommand::Failed { credit, failure }) = out.into_iter().next() else {
        panic!("no failure")
    };
    assert_eq!(failure.attempts, 3);
    assert_eq!(failure.error, "crashed (gave up after 3 attempts)");
    assert_eq!(entry.on_failed(credit, failure), Ok(true));
}

#[test]
fn unsplittable_credit_fails_the_item_visibly() {
    let (mut entry, items) = seed_items(vec![json!(0)]);
    let mut settings = PeerSettings::new(0, groups(1));
    settings.max_exponent = 1;
    let mut p = PeerCore::new(settings);
    p.handle(PeerInput::Seed {
        items,
        idle: vec![],
    });
    let reply = Directive::spawn([json!(1), json!(2), json!(3)]).into_value();
    let out = p.handle(PeerInput::Finished(CallOutcome::Replied(reply)));
    let Some(PeerCommand::Failed { credit, failure }) = out.into_iter().next() else {
        panic!("no failure")
    };
    assert!(failure.error.contains("cannot be split further"));
    assert_eq!(entry.on_failed(credit, failure), Ok(true));
}

// ---- whole swarms over random schedules --------------------------------------------------

/// The member function of the simulations: a fib-like tree with results, spawns and
/// hand-offs mixed. `n < 2` is a leaf with result `n`.
fn member(n: i64, peers: usize) -> Directive {
    match n {
        _ if n < 2 => Directive::result(n),
        _ if n % 5 == 0 => Directive::spawn([json!(n - 2)]).with_handoff(n as usize % peers, n - 1),
        _ if n % 3 == 0 => Directive::result(0).with_spawn([json!(n - 1), json!(n - 2)]),
        _ => Directive::spawn([json!(n - 1), json!(n - 2)]),
    }
}

fn fib(n: i64) -> i64 {
    if n < 2 {
        n
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

enum Msg {
    Peer(PeerInput),
    Entry(PeerCommand),
}

struct Sim {
    peers: Vec<PeerCore>,
    entry: EntryCore,
    /// FIFO channels by (from, to); `usize::MAX` is the entry.
    chans: BTreeMap<(usize, usize), VecDeque<Msg>>,
    rng: fastrand::Rng,
    crash_rate: f64,
    crashes: HashMap<ItemId, u32>,
    /// Payloads that always crash.
    poison: i64,
}

const ENTRY: usize = usize::MAX;

impl Sim {
    fn new(seed: u64, n: usize, seeds: Vec<Value>, crash_rate: f64, poison: i64) -> Sim {
        let peers = (0..n)
            .map(|me| {
                let mut s = PeerSettings::new(me, groups(n));
                s.rng_seed = seed;
                PeerCore::new(s)
            })
            .collect();
        let mut rng = fastrand::Rng::with_seed(seed);
        let spread = rng.bool();
        let (entry, placed) = EntryCore::seed(seeds, |i| if spread { i % n } else { 0 });
        let mut sim = Sim {
            peers,
            entry,
            chans: BTreeMap::new(),
            rng,
            crash_rate,
            crashes: HashMap::new(),
            poison,
        };
        let mut per: Vec<Vec<Item>> = (0..n).map(|_| Vec::new()).collect();
        for (p, item) in placed {
            per[p].push(item);
        }
        let idle: Vec<usize> = (0..n).filter(|&p| per[p].is_empty()).collect();
        for (p, items) in per.into_iter().enumerate() {
            let idle = idle.clone();
            sim.push(ENTRY, p, Msg::Peer(PeerInput::Seed { items, idle }));
        }
        sim
    }

    fn push(&mut self, from: usize, to: usize, m: Msg) {
        self.chans.entry((from, to)).or_default().push_back(m);
    }

    fn apply(&mut self, me: usize, commands: Vec<PeerCommand>) {
        for c in commands {
            match c {
                PeerCommand::Call(_) => {}
                PeerCommand::Handoff { to, item } => {
                    self.push(me, to, Msg::Peer(PeerInput::Handoff(item)))
                }
                PeerCommand::StealFrom(v) => {
                    self.push(me, v, Msg::Peer(PeerInput::StealRequest { thief: me }))
                }
                PeerCommand::Grant { thief, items } => self.push(
                    me,
                    thief,
                    Msg::Peer(PeerInput::Stolen { victim: me, items }),
                ),
                PeerCommand::Wake(t) => self.push(me, t, Msg::Peer(PeerInput::Wake { from: me })),
                PeerCommand::Decline(w) => {
                    self.push(me, w, Msg::Peer(PeerInput::Declined { thief: me }))
                }
                done @ (PeerCommand::Done { .. } | PeerCommand::Failed { .. }) => {
                    self.push(me, ENTRY, Msg::Entry(done))
                }
            }
        }
    }

    /// The member's outcome for peer `p`'s running item.
    fn outcome(&mut self, p: usize) -> CallOutcome {
        let item = self.peers[p].running.as_ref().expect("running");
        let n = item.payload.as_i64().expect("int");
        let id = item.id.clone();
        if n == self.poison {
            return CallOutcome::Crashed("poisoned".into());
        }
        let crashes = self.crashes.entry(id).or_default();
        // Never more crashes than attempts allow (3), so every non-poison item succeeds.
        if *crashes < 2 && self.rng.f64() < self.crash_rate {
            *crashes += 1;
            return CallOutcome::Crashed("random crash".into());
        }
        CallOutcome::Replied(member(n, self.peers.len()).into_value())
    }

    /// One random step; false when nothing can happen any more.
    fn step(&mut self) -> bool {
        let chans: Vec<(usize, usize)> = self
            .chans
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(k, _)| *k)
            .collect();
        let running: Vec<usize> = (0..self.peers.len())
            .filter(|&p| self.peers[p].is_running())
            .collect();
        let choices = chans.len() + running.len();
        if choices == 0 {
            return false;
        }
        let pick = self.rng.usize(..choices);
        if pick < chans.len() {
            let (from, to) = chans[pick];
            let msg = self
                .chans
                .get_mut(&(from, to))
                .and_then(VecDeque::pop_front);
            match msg {
                Some(Msg::Peer(input)) => {
                    let out = self.peers[to].handle(input);
                    self.apply(to, out);
                }
                Some(Msg::Entry(PeerCommand::Done { credit, result })) => {
                    self.entry.on_done(credit, result).expect("conservation");
                }
                Some(Msg::Entry(PeerCommand::Failed { credit, failure })) => {
                    self.entry.on_failed(credit, failure).expect("conservation");
                }
                _ => unreachable!(),
            }
        } else {
            let p = running[pick - chans.len()];
            let outcome = self.outcome(p);
            let out = self.peers[p].handle(PeerInput::Finished(outcome));
            self.apply(p, out);
        }
        true
    }

    /// Exponents of every share not yet back at the entry.
    fn credit_in_flight(&self) -> Vec<u32> {
        let mut exps: Vec<u32> = self
            .peers
            .iter()
            .flat_map(|p| p.items().map(Item::credit_exponent))
            .collect();
        for q in self.chans.values() {
            for m in q {
                match m {
                    Msg::Peer(PeerInput::Seed { items, .. })
                    | Msg::Peer(PeerInput::Stolen { items, .. }) => {
                        exps.extend(items.iter().map(Item::credit_exponent))
                    }
                    Msg::Peer(PeerInput::Handoff(i)) => exps.push(i.credit_exponent()),
                    Msg::Entry(PeerCommand::Done { credit, .. })
                    | Msg::Entry(PeerCommand::Failed { credit, .. }) => {
                        exps.push(credit.exponent())
                    }
                    _ => {}
                }
            }
        }
        exps
    }

    /// Invariants after every step.
    fn check(&self) {
        // Conservation: returned + in flight == 1, exactly.
        let flying = self.credit_in_flight();
        let mut sum = self.entry.ledger().clone();
        let n = flying.len();
        for (i, e) in flying.into_iter().enumerate() {
            assert_eq!(
                sum.give_back(Credit::forge(e)),
                Ok(i + 1 == n),
                "conservation"
            );
        }
        if n == 0 {
            assert!(
                self.entry.is_complete(),
                "no credit in flight, yet not terminated"
            );
        } else {
            assert!(
                !self.entry.is_complete(),
                "terminated with {n} shares in flight"
            );
        }
        // Once messages settle, no queued work waits beside a parked peer.
        if self.chans.values().all(VecDeque::is_empty) {
            let parked = self.peers.iter().any(PeerCore::is_parked);
            let queued: usize = self.peers.iter().map(PeerCore::queued).sum();
            assert!(
                !(parked && queued > 0),
                "a peer is parked while {queued} items wait"
            );
        }
    }
}

fn simulate(seed: u64, peers: usize, roots: Vec<i64>, crash_rate: f64, poison: i64) -> RunOutcome {
    let seeds = roots.iter().map(|&n| json!(n)).collect();
    let mut sim = Sim::new(seed, peers, seeds, crash_rate, poison);
    let mut steps = 0;
    while sim.step() {
        sim.check();
        steps += 1;
        assert!(steps < 1_000_000, "seed {seed}: no termination");
    }
    assert!(
        sim.entry.is_complete(),
        "seed {seed}: quiescent but not terminated"
    );
    std::mem::take(&mut sim.entry).finish()
}

#[test]
fn random_schedules_terminate_exactly_with_the_exact_result() {
    for seed in 0..150 {
        let peers = 1 + (seed as usize % 5);
        let roots = vec![9, (seed % 7) as i64, 6];
        let outcome = simulate(seed, peers, roots.clone(), 0.0, -1);
        let sum: i64 = outcome
            .results
            .iter()
            .map(|(_, v)| v.as_i64().unwrap())
            .sum();
        assert_eq!(
            sum,
            roots.iter().map(|&n| fib(n)).sum::<i64>(),
            "seed {seed}"
        );
        assert!(outcome.failures.is_empty());
        let ids: Vec<&ItemId> = outcome.results.iter().map(|(id, _)| id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "results in item order");
    }
}

#[test]
fn random_schedules_with_crashes_requeue_and_report_poison() {
    for seed in 0..100 {
        let outcome = simulate(seed, 3, vec![10], 0.3, 4);
        // Every item 4 (poisoned) fails after 3 attempts; its sub-tree never exists.
        assert!(!outcome.failures.is_empty(), "seed {seed}");
        assert!(outcome
            .failures
            .iter()
            .all(|f| f.attempts == 3 && f.payload == json!(4)));
        let sum: i64 = outcome
            .results
            .iter()
            .map(|(_, v)| v.as_i64().unwrap())
            .sum();
        let lost = outcome.failures.len() as i64 * fib(4);
        assert_eq!(sum + lost, fib(10), "seed {seed}");
    }
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let a = simulate(42, 4, vec![12], 0.1, -1);
    let b = simulate(42, 4, vec![12], 0.1, -1);
    assert_eq!(a, b);
}
