//! A deterministic in-memory network for [`Membership`] tests: a queue of datagrams and
//! timers on a virtual clock, delivered in order, with crash, freeze and link-cut faults.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use foca::Message;

use crate::membership::codec;
use crate::membership::{
    MemberEvent, Membership, MembershipConfig, MembershipError, MembershipTimer, NodeIdentity,
    Outbox,
};

/// One simulated node.
pub(super) struct Node {
    pub(super) machine: Membership,
    /// Every event the node emitted, in order.
    pub(super) events: Vec<MemberEvent>,
    crashed: bool,
    frozen: bool,
    /// Timers that fired while frozen, fired on thaw.
    deferred: Vec<MembershipTimer>,
}

enum Action {
    Deliver {
        from: SocketAddr,
        to: SocketAddr,
        bytes: Vec<u8>,
    },
    Fire {
        at: SocketAddr,
        timer: MembershipTimer,
    },
}

/// The network: nodes by address (a restarted node gets a new one), the latest address per
/// name, and directed links that drop everything.
pub(super) struct Net {
    now: Duration,
    seq: u64,
    queue: BTreeMap<(Duration, u64), Action>,
    nodes: BTreeMap<SocketAddr, Node>,
    names: BTreeMap<String, SocketAddr>,
    cut: BTreeSet<(SocketAddr, SocketAddr)>,
    latency: Duration,
    next_port: u16,
    seed: u64,
    /// How many indirect probe requests were delivered.
    pub(super) ping_reqs: usize,
    /// Protocol-level rejections (well-formed datagrams foca refused), for diagnostics.
    pub(super) rejected: Vec<String>,
}

impl Net {
    pub(super) fn new(seed: u64) -> Self {
        Self {
            now: Duration::ZERO,
            seq: 0,
            queue: BTreeMap::new(),
            nodes: BTreeMap::new(),
            names: BTreeMap::new(),
            cut: BTreeSet::new(),
            latency: Duration::from_millis(1),
            next_port: 7000,
            seed,
            ping_reqs: 0,
            rejected: Vec::new(),
        }
    }

    /// Starts a node called `name` (incarnation 0, a fresh address) joining through the
    /// current addresses of `seeds`.
    pub(super) fn add(&mut self, name: &str, seeds: &[&str]) -> SocketAddr {
        let reserved = self.names.get(name).filter(|a| !self.nodes.contains_key(a));
        let addr = reserved.copied().unwrap_or_else(|| self.fresh_addr());
        let transport = SocketAddr::new(addr.ip(), addr.port() + 1000);
        let identity = NodeIdentity::new(name, addr, transport);
        self.seed = self
            .seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        let machine = Membership::new(identity, MembershipConfig::lan(), self.seed).unwrap();
        let node = Node {
            machine,
            events: Vec::new(),
            crashed: false,
            frozen: false,
            deferred: Vec::new(),
        };
        self.nodes.insert(addr, node);
        self.names.insert(name.to_owned(), addr);
        let seeds: Vec<SocketAddr> = seeds.iter().map(|s| self.addr(s)).collect();
        self.with(addr, |m, out| m.join(&seeds, out));
        addr
    }

    /// Picks the address `name` will get when added, so others can use it as a seed first.
    pub(super) fn reserve(&mut self, name: &str) -> SocketAddr {
        let addr = self.fresh_addr();
        self.names.insert(name.to_owned(), addr);
        addr
    }

    fn fresh_addr(&mut self) -> SocketAddr {
        self.next_port += 1;
        SocketAddr::from(([127, 0, 0, 1], self.next_port))
    }

    /// Crashes the current `name` and starts it again at a new address.
    pub(super) fn restart(&mut self, name: &str, seeds: &[&str]) -> SocketAddr {
        self.crash(name);
        self.add(name, seeds)
    }

    pub(super) fn addr(&self, name: &str) -> SocketAddr {
        self.names[name]
    }

    /// The node currently answering to `name`.
    pub(super) fn node(&self, name: &str) -> &Node {
        &self.nodes[&self.addr(name)]
    }

    pub(super) fn node_mut(&mut self, name: &str) -> &mut Node {
        let addr = self.addr(name);
        self.nodes.get_mut(&addr).unwrap()
    }

    /// Names of the live members `name` sees.
    pub(super) fn view(&self, name: &str) -> Vec<String> {
        let members = self.node(name).machine.members();
        members.iter().map(|m| m.name.to_string()).collect()
    }

    /// What `name` knows of `other`, if it sees it live.
    pub(super) fn sees(&self, name: &str, other: &str) -> Option<NodeIdentity> {
        let members = self.node(name).machine.members();
        members.into_iter().find(|m| m.name.as_str() == other)
    }

    pub(super) fn crash(&mut self, name: &str) {
        self.node_mut(name).crashed = true;
    }

    pub(super) fn freeze(&mut self, name: &str) {
        self.node_mut(name).frozen = true;
    }

    pub(super) fn thaw(&mut self, name: &str) {
        let node = self.node_mut(name);
        node.frozen = false;
        let timers = std::mem::take(&mut node.deferred);
        let addr = self.addr(name);
        for timer in timers {
            self.with(addr, |m, out| m.handle_timer(timer, out));
        }
    }

    /// Drops everything between `a` and `b`, both ways.
    pub(super) fn cut(&mut self, a: &str, b: &str) {
        let (a, b) = (self.addr(a), self.addr(b));
        self.cut.extend([(a, b), (b, a)]);
    }

    /// Cuts `name` off from every other node.
    pub(super) fn isolate(&mut self, name: &str) {
        let others: Vec<String> = self.names.keys().filter(|n| *n != name).cloned().collect();
        for other in others {
            self.cut(name, &other);
        }
    }

    /// Repairs every link.
    pub(super) fn heal(&mut self) {
        self.cut.clear();
    }

    /// Runs a call on a node's machine and schedules what it produced.
    pub(super) fn with<T>(
        &mut self,
        addr: SocketAddr,
        call: impl FnOnce(&mut Membership, &mut Outbox) -> T,
    ) -> T {
        let mut out = Outbox::default();
        let node = self.nodes.get_mut(&addr).unwrap();
        let result = call(&mut node.machine, &mut out);
        node.events.append(&mut out.events);
        for (to, bytes) in out.sends {
            self.push(
                self.latency,
                Action::Deliver {
                    from: addr,
                    to,
                    bytes,
                },
            );
        }
        for (after, timer) in out.timers {
            self.push(after, Action::Fire { at: addr, timer });
        }
        result
    }

    fn push(&mut self, after: Duration, action: Action) {
        self.seq += 1;
        self.queue.insert((self.now + after, self.seq), action);
    }

    /// Processes queued actions until `pred` holds (checked after each) or `limit` of
    /// virtual time passes; returns whether `pred` held.
    pub(super) fn run_until(&mut self, limit: Duration, pred: impl Fn(&Net) -> bool) -> bool {
        let end = self.now + limit;
        while !pred(self) {
            match self.queue.first_key_value() {
                Some((&(at, _), _)) if at <= end => self.step(),
                _ => {
                    self.now = end;
                    return false;
                }
            }
        }
        true
    }

    /// Runs for `span` of virtual time.
    pub(super) fn run_for(&mut self, span: Duration) {
        self.run_until(span, |_| false);
    }

    fn step(&mut self) {
        let Some(((at, _), action)) = self.queue.pop_first() else {
            return;
        };
        self.now = at;
        match action {
            Action::Deliver { from, to, bytes } => {
                let up = self.nodes.get(&to).is_some_and(|n| !n.crashed && !n.frozen);
                if !up || self.cut.contains(&(from, to)) {
                    return;
                }
                if let Ok(header) = codec::decode_header(&mut bytes.as_slice()) {
                    if matches!(header.message, Message::PingReq { .. }) {
                        self.ping_reqs += 1;
                    }
                }
                let result = self.with(to, |m, out| m.handle_datagram(&bytes, out));
                match result {
                    Err(e @ (MembershipError::Malformed(_) | MembershipError::TooLarge { .. })) => {
                        panic!("a datagram sent by a node was rejected: {e}")
                    }
                    Err(e) => self.rejected.push(e.to_string()),
                    Ok(()) => {}
                }
            }
            Action::Fire { at: addr, timer } => {
                let node = self.nodes.get_mut(&addr).unwrap();
                if node.crashed {
                    return;
                }
                if node.frozen {
                    node.deferred.push(timer);
                    return;
                }
                self.with(addr, |m, out| m.handle_timer(timer, out));
            }
        }
    }
}

/// Whether `events` holds `Down` for identity `id`.
pub(super) fn has_down(events: &[MemberEvent], id: &NodeIdentity) -> bool {
    events.contains(&MemberEvent::Down(id.clone()))
}
