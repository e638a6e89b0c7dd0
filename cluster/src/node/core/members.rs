//! The node's view of its cluster: which members are live, when each went down, which dial
//! is current. Membership and link events go in, [`Command`]s come out; the failover of a
//! node that went down is decided by a [`Timer`] the shell schedules and feeds back.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::membership::NodeIdentity;
use crate::registry::NodeName;

/// What happened, as the core is told.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Input {
    /// Membership declared a member up (joined, or back under a new incarnation).
    MemberUp(NodeIdentity),
    /// Membership declared a member down (failed or left).
    MemberDown(NodeIdentity),
    /// A transport session with the peer is up.
    LinkUp(NodeName),
    /// The transport session with the peer broke.
    LinkDown(NodeName),
    /// A timer the core asked for ([`Command::Schedule`]) fired.
    Timer(Timer),
    /// The node is leaving or crashed: no more dials, no more rebalancing.
    Stopping,
}

/// Timers the core schedules through the shell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Decide whether the node that went down stayed down long enough to fail over.
    FailoverCheck(NodeName),
}

/// What the shell must do.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Command {
    /// Open a session with the member (retrying until linked, superseded or gone).
    Dial(NodeIdentity),
    /// Drop the session with the node.
    Disconnect(NodeName),
    /// Fail every request waiting for an answer from the node.
    FailPending(NodeName),
    /// Take back the tasks lent to the node; forget those stolen from it.
    ReclaimTasks(NodeName),
    /// Checkpoint every local agent at the next round (backups may have moved).
    MarkAllDirty,
    /// Exchange the whole registry with the peer (anti-entropy on a new link).
    ExchangeRegistry(NodeName),
    /// Move to the peer the movable local agents placement now gives it.
    Rebalance(NodeName),
    /// A peer linked: idle task workers ask it for work, and if this node has work to spare
    /// it says so (the peer may be idle).
    ShareWork(NodeName),
    /// Re-activate from their checkpoints the agents the node ran (see
    /// [`super::failover`]).
    FailOver(NodeName),
    /// Feed `timer` back as [`Input::Timer`] at `at`.
    Schedule {
        /// When.
        at: Instant,
        /// What.
        timer: Timer,
    },
}

/// What a dial loop does next (see [`Members::dial_step`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DialStep {
    /// Try to connect (again).
    Connect,
    /// Stop: linked, no longer a member, the node is stopping, or a newer dial took over.
    Stop,
}

/// Live members and what the node remembers about the ones that went down.
#[derive(Debug)]
pub(crate) struct Members {
    me: NodeName,
    live: BTreeMap<NodeName, NodeIdentity>,
    down_at: HashMap<NodeName, Instant>,
    /// Peers a dial loop runs for, with the incarnation it dials.
    dialing: HashMap<NodeName, u64>,
    stopping: bool,
    rebalance_on_join: bool,
    failover_delay: Duration,
}

impl Members {
    /// A view with only this node live. A node that went down fails over `failover_delay`
    /// after, if it did not come back; links rebalance towards new peers if
    /// `rebalance_on_join`.
    pub(crate) fn new(me: NodeIdentity, failover_delay: Duration, rebalance_on_join: bool) -> Self {
        let mut live = BTreeMap::new();
        let name = me.name.clone();
        live.insert(name.clone(), me);
        Self {
            me: name,
            live,
            down_at: HashMap::new(),
            dialing: HashMap::new(),
            stopping: false,
            rebalance_on_join,
            failover_delay,
        }
    }

    /// Takes one input at `now` and returns what to do, in order.
    pub(crate) fn handle(&mut self, input: Input, now: Instant) -> Vec<Command> {
        let mut out = Vec::new();
        match input {
            Input::MemberUp(id) if id.name != self.me => {
                self.live.insert(id.name.clone(), id.clone());
                self.down_at.remove(&id.name);
                // The node with the smaller name dials; the other waits for the session.
                if self.me < id.name {
                    self.begin_dial(id, &mut out);
                }
            }
            Input::MemberDown(id) if id.name != self.me => {
                let name = id.name;
                self.live.remove(&name);
                self.down_at.insert(name.clone(), now);
                out.push(Command::Disconnect(name.clone()));
                out.push(Command::FailPending(name.clone()));
                out.push(Command::ReclaimTasks(name.clone()));
                out.push(Command::MarkAllDirty);
                // A node declared down may be back at once under a renewed incarnation (it
                // was only suspected, or a partition healed): fail over only if it stays down.
                out.push(Command::Schedule {
                    at: now + self.failover_delay,
                    timer: Timer::FailoverCheck(name),
                });
            }
            Input::MemberUp(_) | Input::MemberDown(_) => {}
            Input::LinkUp(peer) => {
                out.push(Command::ExchangeRegistry(peer.clone()));
                if self.rebalance_on_join && !self.stopping {
                    out.push(Command::Rebalance(peer.clone()));
                }
                out.push(Command::MarkAllDirty);
                if !self.stopping {
                    out.push(Command::ShareWork(peer));
                }
            }
            Input::LinkDown(peer) => {
                // The session broke but membership still lists the peer: dial again.
                if let Some(member) = self.live.get(&peer).cloned() {
                    if self.me < peer {
                        self.begin_dial(member, &mut out);
                    }
                }
            }
            Input::Timer(Timer::FailoverCheck(node)) => {
                if !self.live.contains_key(&node) && !self.stopping {
                    out.push(Command::FailOver(node));
                }
            }
            Input::Stopping => self.stopping = true,
        }
        out
    }

    fn begin_dial(&mut self, member: NodeIdentity, out: &mut Vec<Command>) {
        if self.stopping {
            return;
        }
        // One dial per peer at a time: a dial of an older incarnation is superseded.
        if self
            .dialing
            .get(&member.name)
            .is_some_and(|inc| *inc >= member.incarnation)
        {
            return;
        }
        self.dialing.insert(member.name.clone(), member.incarnation);
        out.push(Command::Dial(member));
    }

    /// What the dial loop for `member` does next, given whether a session with it is up.
    /// A dial ends (and a later one may start) when it stops for any reason but a newer
    /// dial of the same peer.
    pub(crate) fn dial_step(&mut self, member: &NodeIdentity, linked: bool) -> DialStep {
        if self.dialing.get(&member.name) != Some(&member.incarnation) {
            return DialStep::Stop;
        }
        let still_member = self
            .live
            .get(&member.name)
            .is_some_and(|m| m.incarnation == member.incarnation);
        if !still_member || linked || self.stopping {
            self.dialing.remove(&member.name);
            return DialStep::Stop;
        }
        DialStep::Connect
    }

    /// Whether `node` is a live member (this node always is).
    pub(crate) fn is_live(&self, node: &NodeName) -> bool {
        self.live.contains_key(node)
    }

    /// The live member named `node`.
    pub(crate) fn get(&self, node: &NodeName) -> Option<&NodeIdentity> {
        self.live.get(node)
    }

    /// Live members, this node included, sorted by name.
    pub(crate) fn live(&self) -> impl Iterator<Item = &NodeIdentity> {
        self.live.values()
    }

    /// When `node` was last declared down (`None` if never, or it came back).
    pub(crate) fn down_since(&self, node: &NodeName) -> Option<Instant> {
        self.down_at.get(node).copied()
    }
}
