//! A peer's side of the swarm protocol as an IO-free state machine ([`PeerCore`]): inputs in,
//! commands out; the peer actor in [`super::peer`] carries them out.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::credit::{Credit, MAX_EXPONENT};
use super::item::{Item, ItemFailure, ItemId};
use super::protocol::{Directive, Target};

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;

/// How a member call ended, as the peer shell saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome {
    /// The member replied.
    Replied(Value),
    /// The member crashed on the item (it is restarted by the team; the item is re-queued).
    Crashed(String),
    /// The member answered with an error, or the call failed otherwise.
    Failed {
        /// The error.
        error: String,
        /// Whether another attempt may succeed (transient errors, timeouts).
        retryable: bool,
    },
}

/// What a peer receives.
#[derive(Debug)]
pub enum PeerInput {
    /// The run's seed items for this peer, and the peers that got none (they park at once, so
    /// every peer starts with them as hungry thieves).
    Seed {
        /// Items for this peer.
        items: Vec<Item>,
        /// The peers seeded with no items.
        idle: Vec<usize>,
    },
    /// An item handed off by another peer.
    Handoff(Item),
    /// Peer `thief` asks for work.
    StealRequest {
        /// The asking peer.
        thief: usize,
    },
    /// The answer to our steal request: items, or none (refused).
    Stolen {
        /// The peer asked.
        victim: usize,
        /// The items granted.
        items: Vec<Item>,
    },
    /// Peer `from` has spare work since it refused us.
    Wake {
        /// The waking peer.
        from: usize,
    },
    /// Peer `thief`, which we woke, is busy after all: wake another.
    Declined {
        /// The busy peer.
        thief: usize,
    },
    /// The member call for the running item ended.
    Finished(CallOutcome),
}

/// What a peer asks its shell to do.
#[derive(Debug)]
pub enum PeerCommand {
    /// Ask the member to run this payload (the running item's).
    Call(Value),
    /// Send an item to peer `to`.
    Handoff {
        /// The receiving peer.
        to: usize,
        /// The item.
        item: Item,
    },
    /// Ask peer `victim` for work.
    StealFrom(usize),
    /// Answer `thief`'s steal request (an empty grant refuses).
    Grant {
        /// The asking peer.
        thief: usize,
        /// The items given.
        items: Vec<Item>,
    },
    /// Tell a hungry peer that there is work here.
    Wake(usize),
    /// Tell the peer that woke us that we are busy (so it wakes another).
    Decline(usize),
    /// An item completed: its credit (and result) go to the entry.
    Done {
        /// The returned share.
        credit: Credit,
        /// The item's result, if it had one.
        result: Option<(ItemId, Value)>,
    },
    /// An item finally failed: its credit and the failure go to the entry.
    Failed {
        /// The returned share.
        credit: Credit,
        /// What failed.
        failure: ItemFailure,
    },
}

/// Fixed facts of one peer.
#[derive(Debug, Clone)]
pub struct PeerSettings {
    /// This peer's index.
    pub me: usize,
    /// The member group of every peer, by index.
    pub groups: Arc<[String]>,
    /// Member calls per item before a crashing or retryably failing item is given up.
    pub max_attempts: u32,
    /// Take every reply as the result (`replies: "results"`) instead of a [`Directive`].
    pub replies_are_results: bool,
    /// Seed of the peer's random choices (victims, group hand-offs).
    pub rng_seed: u64,
    /// The finest credit share allowed (tests lower it to exercise the fallback).
    pub max_exponent: u32,
}

impl PeerSettings {
    /// Settings for peer `me` of a swarm whose peers belong to `groups`.
    pub fn new(me: usize, groups: Arc<[String]>) -> Self {
        Self {
            me,
            groups,
            max_attempts: 3,
            replies_are_results: false,
            rng_seed: 0x5eed,
            max_exponent: MAX_EXPONENT,
        }
    }
}

/// What one peer did in a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStats {
    /// Member calls that got a reply.
    pub ran: u64,
    /// Items received by stealing.
    pub stolen: u64,
    /// Items given to thieves.
    pub given: u64,
    /// Items received by hand-off.
    pub handoffs_in: u64,
    /// Steal requests sent.
    pub steal_requests: u64,
}

/// One peer's protocol state.
///
/// **Deque discipline.** A peer runs the newest item of its deque (LIFO: depth first, so a
/// recursive job stays small) and thieves take the oldest half, rounded up (the items the owner
/// would reach last, usually the biggest sub-trees). Owner and thieves work at opposite ends.
///
/// **Stealing.** A peer seeded with no items parks at once, and every peer starts the run with
/// the unseeded peers as hungry thieves (below). A peer that becomes idle (nothing running,
/// nothing queued) asks the other peers one at a time, in a random order, for work. A peer with queued items grants half of them; one without
/// refuses and remembers the thief as *hungry*. When every peer has refused, the thief parks.
/// A peer that later has spare items (queued while it runs one) wakes as many hungry thieves as
/// it has spare items; a woken thief asks the waker again, or declines when it found work
/// meanwhile (and the waker wakes another). So a parked peer is in the hungry set of every other
/// peer, and once messages settle, queued work never waits beside a parked peer (checked by the
/// randomized schedule tests).
#[derive(Debug)]
pub struct PeerCore {
    s: PeerSettings,
    run: u64,
    deque: VecDeque<Item>,
    running: Option<Item>,
    outstanding: Option<usize>,
    round: Option<Vec<usize>>,
    parked: bool,
    hungry: BTreeSet<usize>,
    rng: fastrand::Rng,
    stats: PeerStats,
}

impl PeerCore {
    /// A peer with nothing to do, in run 0.
    pub fn new(settings: PeerSettings) -> Self {
        let rng =
            fastrand::Rng::with_seed(settings.rng_seed ^ (settings.me as u64).rotate_left(32));
        Self {
            s: settings,
            run: 0,
            deque: VecDeque::new(),
            running: None,
            outstanding: None,
            round: None,
            parked: false,
            hungry: BTreeSet::new(),
            rng,
            stats: PeerStats::default(),
        }
    }

    /// The run this peer is in.
    pub fn run(&self) -> u64 {
        self.run
    }

    /// Enters run `run`, forgetting the previous run's control state (its items are all done:
    /// that is what termination means).
    pub fn begin(&mut self, run: u64) {
        self.run = run;
        self.deque.clear();
        self.running = None;
        self.outstanding = None;
        self.round = None;
        self.parked = false;
        self.hungry.clear();
        self.stats = PeerStats::default();
    }

    /// This run's counters.
    pub fn stats(&self) -> PeerStats {
        self.stats
    }

    /// Items waiting in the deque.
    pub fn queued(&self) -> usize {
        self.deque.len()
    }

    /// The items held (queued and running), for conservation checks.
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.deque.iter().chain(self.running.as_ref())
    }

    /// Whether an item is at the member.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Whether the peer is idle and has given up asking (until woken).
    pub fn is_parked(&self) -> bool {
        self.parked
    }

    /// Feeds one input; returns what to do.
    pub fn handle(&mut self, input: PeerInput) -> Vec<PeerCommand> {
        let mut out = Vec::new();
        match input {
            PeerInput::Seed { items, idle } => {
                let fresh = self.is_idle() && self.outstanding.is_none() && self.round.is_none();
                if items.is_empty() && fresh {
                    self.parked = true; // every other peer has us as hungry
                }
                let me = self.s.me;
                self.hungry.extend(idle.into_iter().filter(|&p| p != me));
                self.deque.extend(items);
            }
            PeerInput::Handoff(item) => {
                self.stats.handoffs_in += 1;
                self.deque.push_back(item);
            }
            PeerInput::StealRequest { thief } => {
                let k = self.deque.len().div_ceil(2);
                if k == 0 {
                    self.hungry.insert(thief);
                }
                self.stats.given += k as u64;
                let items = self.deque.drain(..k).collect();
                out.push(PeerCommand::Grant { thief, items });
            }
            PeerInput::Stolen { victim, items } => {
                if self.outstanding == Some(victim) {
                    self.outstanding = None;
                }
                self.stats.stolen += items.len() as u64;
                self.deque.extend(items);
            }
            PeerInput::Wake { from } => self.woken(from, &mut out),
            PeerInput::Declined { .. } => {} // progress() wakes the next hungry peer
            PeerInput::Finished(outcome) => self.finished(outcome, &mut out),
        }
        self.progress(&mut out);
        out
    }

    fn is_idle(&self) -> bool {
        self.running.is_none() && self.deque.is_empty()
    }

    fn woken(&mut self, from: usize, out: &mut Vec<PeerCommand>) {
        if !self.is_idle() {
            // Busy: the waker should wake someone else. A new round asks `from` again once
            // we are idle.
            out.push(PeerCommand::Decline(from));
            return;
        }
        if self.parked || self.round.is_none() {
            self.parked = false;
            self.round = Some(vec![from]);
        } else if let Some(round) = self.round.as_mut() {
            // Mid-round: `from` may already have refused us; ask it again.
            if !round.contains(&from) {
                round.push(from);
            }
        }
    }

    /// Starts the next item, wakes hungry thieves for spare items, or looks for work.
    fn progress(&mut self, out: &mut Vec<PeerCommand>) {
        if self.running.is_none() {
            if let Some(mut item) = self.deque.pop_back() {
                item.attempts += 1;
                out.push(PeerCommand::Call(item.payload.clone()));
                self.running = Some(item);
            }
        }
        if self.running.is_some() {
            self.parked = false;
            self.round = None;
            for _ in 0..self.deque.len() {
                match self.hungry.pop_first() {
                    Some(thief) => out.push(PeerCommand::Wake(thief)),
                    None => break,
                }
            }
            return;
        }
        if self.outstanding.is_some() || self.parked {
            return;
        }
        let me = self.s.me;
        let peers = self.s.groups.len();
        let rng = &mut self.rng;
        let round = self.round.get_or_insert_with(|| {
            let mut others: Vec<usize> = (0..peers).filter(|&p| p != me).collect();
            rng.shuffle(&mut others);
            others
        });
        match round.pop() {
            Some(victim) => {
                self.outstanding = Some(victim);
                self.stats.steal_requests += 1;
                out.push(PeerCommand::StealFrom(victim));
            }
            None => {
                self.round = None;
                self.parked = true;
            }
        }
    }

    fn finished(&mut self, outcome: CallOutcome, out: &mut Vec<PeerCommand>) {
        let Some(item) = self.running.take() else {
            return; // nothing was running: a stray outcome, ignore it
        };
        match outcome {
            CallOutcome::Replied(reply) => {
                self.stats.ran += 1;
                let directive = if self.s.replies_are_results {
                    Ok(Directive::result(reply))
                } else {
                    Directive::from_reply(reply).map_err(|e| e.reason)
                };
                match directive.and_then(|d| self.resolve(d)) {
                    Ok((result, children)) => self.complete(item, result, children, out),
                    Err(error) => out.push(fail(item, error)),
                }
            }
            CallOutcome::Crashed(error)
            | CallOutcome::Failed {
                error,
                retryable: true,
            } => {
                if item.attempts >= self.s.max_attempts {
                    let error = format!("{error} (gave up after {} attempts)", item.attempts);
                    out.push(fail(item, error));
                } else {
                    self.deque.push_back(item);
                }
            }
            CallOutcome::Failed { error, .. } => out.push(fail(item, error)),
        }
    }

    /// The directive's result and its new items with their peers (`me` for spawned ones).
    #[allow(clippy::type_complexity)]
    fn resolve(&mut self, d: Directive) -> Result<(Option<Value>, Vec<(usize, Value)>), String> {
        let mut children: Vec<(usize, Value)> =
            d.spawn.into_iter().map(|v| (self.s.me, v)).collect();
        for h in d.handoff {
            let to = resolve_target(&h.to, &self.s.groups, &mut self.rng)
                .map_err(|e| format!("bad hand-off: {e}"))?;
            children.push((to, h.item));
        }
        Ok((d.result, children))
    }

    fn complete(
        &mut self,
        item: Item,
        result: Option<Value>,
        children: Vec<(usize, Value)>,
        out: &mut Vec<PeerCommand>,
    ) {
        let returns = result.is_some() || children.is_empty();
        let n = children.len() + usize::from(returns);
        let shares = match item.credit.split_within(n, self.s.max_exponent) {
            Ok(shares) => shares,
            Err(credit) => {
                let item = Item { credit, ..item };
                let error = "its credit cannot be split further (the work tree is too deep)";
                out.push(fail(item, error.into()));
                return;
            }
        };
        let mut shares = shares.into_iter();
        let back = if returns { shares.next() } else { None };
        for (k, ((to, payload), credit)) in children.into_iter().zip(shares).enumerate() {
            let child = Item {
                id: item.id.child(k),
                payload,
                credit,
                attempts: 0,
            };
            if to == self.s.me {
                self.deque.push_back(child);
            } else {
                out.push(PeerCommand::Handoff { to, item: child });
            }
        }
        if let Some(credit) = back {
            let result = result.map(|r| (item.id, r));
            out.push(PeerCommand::Done { credit, result });
        }
    }
}

fn fail(item: Item, error: String) -> PeerCommand {
    PeerCommand::Failed {
        failure: ItemFailure {
            item: item.id.to_string(),
            payload: item.payload,
            error,
            attempts: item.attempts,
        },
        credit: item.credit,
    }
}

/// The peer a [`Target`] names: a valid index, or a random peer of the group.
pub fn resolve_target(
    target: &Target,
    groups: &[String],
    rng: &mut fastrand::Rng,
) -> Result<usize, String> {
    match target {
        Target::Peer(i) if *i < groups.len() => Ok(*i),
        Target::Peer(i) => Err(format!(
            "no peer {i} (the swarm has {} peers: 0..={})",
            groups.len(),
            groups.len().saturating_sub(1)
        )),
        Target::Group(g) => {
            let members: Vec<usize> = (0..groups.len()).filter(|&p| groups[p] == *g).collect();
            if members.is_empty() {
                let mut known: Vec<&str> = groups.iter().map(String::as_str).collect();
                known.dedup();
                return Err(format!(
                    "no member group {g:?} (groups: {})",
                    known.join(", ")
                ));
            }
            Ok(members[rng.usize(..members.len())])
        }
    }
}
