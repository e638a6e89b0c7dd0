//! [`Membership`]: the IO-free SWIM state machine around `foca::Foca`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use foca::{Foca, NoCustomBroadcast, Notification, OwnedNotification, Runtime, Timer};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::codec::{self, WireCodec};
use super::{MemberEvent, MembershipConfig, MembershipError, NodeIdentity};
use crate::registry::NodeName;

type Swim = Foca<NodeIdentity, WireCodec, SmallRng, NoCustomBroadcast>;

/// What one call into [`Membership`] asks the caller to do: datagrams to send, timers to
/// arm, and member changes to publish. Drain it after every call.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Datagrams to send, in order, as `(destination, bytes)`.
    pub sends: Vec<(SocketAddr, Vec<u8>)>,
    /// Timers to hand back through [`Membership::handle_timer`] after the given delay.
    pub timers: Vec<(Duration, MembershipTimer)>,
    /// Member changes, in the order they happened.
    pub events: Vec<MemberEvent>,
}

impl Outbox {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.sends.is_empty() && self.timers.is_empty() && self.events.is_empty()
    }
}

/// A timer armed by [`Membership`]; opaque, hand it back when it fires. Timers that no longer
/// apply (the node rejoined or left meanwhile) are ignored, so they never need cancelling.
#[derive(Clone, Debug)]
pub struct MembershipTimer(TimerKind);

#[derive(Clone, Debug)]
enum TimerKind {
    /// A foca timer, valid only for the foca instance (`epoch`) that armed it.
    Swim {
        epoch: u64,
        timer: Timer<NodeIdentity>,
    },
    /// Announce again to seeds and known addresses if still alone.
    Rejoin,
}

/// The IO-free membership state machine: SWIM failure detection (foca) plus joining by seed
/// address, automatic rejoin with a renewed incarnation, and a de-duplicated member view.
///
/// Inputs are datagrams, fired timers and commands; outputs are collected in an [`Outbox`].
/// Nothing here reads a clock or touches a socket, and randomness comes from the seed given to
/// [`Membership::new`], so a run is reproducible.
pub struct Membership {
    swim: Swim,
    config: MembershipConfig,
    rng: SmallRng,
    /// Bumped whenever `swim` is replaced; stale foca timers carry an older epoch.
    epoch: u64,
    seeds: Vec<SocketAddr>,
    /// Gossip addresses at which members have been seen; rejoin attempts go there too.
    known: BTreeSet<SocketAddr>,
    /// The live view published through events.
    live: BTreeMap<NodeName, NodeIdentity>,
    rejoin_armed: bool,
    left: bool,
}

impl Membership {
    /// A membership for `identity` that is not in any cluster yet; call [`Self::join`].
    ///
    /// Fails when the configuration or the identity is invalid, including an identity too
    /// large for a header (which carries up to three identities) to fit a datagram.
    pub fn new(
        identity: NodeIdentity,
        config: MembershipConfig,
        rng_seed: u64,
    ) -> Result<Self, MembershipError> {
        config.validate().map_err(MembershipError::InvalidConfig)?;
        identity
            .validate()
            .map_err(MembershipError::InvalidIdentity)?;
        let len = codec::identity_len(&identity);
        let room = config.max_packet_size.saturating_sub(64) / 4;
        if len > room {
            return Err(MembershipError::InvalidIdentity(crate::ConfigError::new(
                "name",
                format!(
                    "identity of {} encodes to {len} bytes; at most {room} fit a datagram",
                    identity.name
                ),
            )));
        }
        let mut rng = SmallRng::seed_from_u64(rng_seed);
        let swim = new_swim(identity, &config, &mut rng);
        Ok(Self {
            swim,
            config,
            rng,
            epoch: 0,
            seeds: Vec::new(),
            known: BTreeSet::new(),
            live: BTreeMap::new(),
            rejoin_armed: false,
            left: false,
        })
    }

    /// Announces this node to `seeds` (addresses only; their names need not be known) and
    /// remembers them: while the node has no live member it keeps announcing to the seeds and
    /// to every address it has seen a member at, every `rejoin_period`. Re-callable.
    pub fn join(&mut self, seeds: &[SocketAddr], out: &mut Outbox) {
        if self.left {
            return;
        }
        let own = self.swim.identity().gossip;
        for seed in seeds {
            if *seed != own && !self.seeds.contains(seed) {
                self.seeds.push(*seed);
            }
        }
        for seed in seeds.iter().filter(|s| **s != own) {
            self.announce_to(*seed, out);
        }
        self.arm_rejoin(out);
    }

    /// Feeds a received datagram. Malformed datagrams are rejected with a typed error before
    /// they can change anything.
    pub fn handle_datagram(
        &mut self,
        bytes: &[u8],
        out: &mut Outbox,
    ) -> Result<(), MembershipError> {
        if bytes.len() > self.config.max_packet_size {
            return Err(MembershipError::TooLarge {
                len: bytes.len(),
                max: self.config.max_packet_size,
            });
        }
        codec::check_datagram(bytes)?;
        if self.left {
            return Ok(());
        }
        let mut notes = Vec::new();
        let result = self.swim.handle_data(bytes, self.runtime(out, &mut notes));
        self.after_swim(notes, out);
        result.map_err(MembershipError::from_foca)
    }

    /// Hands back a timer from an [`Outbox`] once its delay has passed.
    pub fn handle_timer(&mut self, timer: MembershipTimer, out: &mut Outbox) {
        if self.left {
            return;
        }
        match timer.0 {
            TimerKind::Swim { epoch, timer } if epoch == self.epoch => {
                let mut notes = Vec::new();
                let result = self.swim.handle_timer(timer, self.runtime(out, &mut notes));
                if let Err(error) = result {
                    tracing::debug!(%error, "membership timer");
                }
                self.after_swim(notes, out);
            }
            TimerKind::Swim { .. } => {}
            TimerKind::Rejoin => {
                self.rejoin_armed = false;
                if self.swim.num_members() == 0 {
                    self.announce_everywhere(out);
                    self.arm_rejoin(out);
                }
            }
        }
    }

    /// Leaves the cluster gracefully: peers are told this identity is down. Afterwards the
    /// membership is inert (no view, no events, input ignored).
    pub fn leave(&mut self, out: &mut Outbox) {
        if self.left {
            return;
        }
        self.left = true;
        let mut notes = Vec::new();
        if let Err(error) = self.swim.leave_cluster(self.runtime(out, &mut notes)) {
            tracing::debug!(%error, "membership leave");
        }
        self.live.clear();
    }

    /// Live members (alive or suspected), not including this node, ordered by name.
    pub fn members(&self) -> Vec<NodeIdentity> {
        self.live.values().cloned().collect()
    }

    /// This node's current identity (its incarnation grows on every rejoin).
    pub fn identity(&self) -> &NodeIdentity {
        self.swim.identity()
    }

    /// Whether [`Self::leave`] was called.
    pub fn has_left(&self) -> bool {
        self.left
    }

    /// foca's state for a member, for tests that watch suspicion.
    #[cfg(test)]
    pub(crate) fn state_of(&self, name: &str) -> Option<foca::State> {
        self.swim
            .iter_membership_state()
            .find(|m| m.id().name.as_str() == name)
            .map(|m| m.state())
    }

    fn runtime<'a>(
        &self,
        out: &'a mut Outbox,
        notes: &'a mut Vec<OwnedNotification<NodeIdentity>>,
    ) -> Collect<'a> {
        Collect {
            out,
            notes,
            epoch: self.epoch,
        }
    }

    fn announce_to(&mut self, addr: SocketAddr, out: &mut Outbox) {
        let mut notes = Vec::new();
        let dst = NodeIdentity::unknown_at(addr);
        if let Err(error) = self.swim.announce(dst, self.runtime(out, &mut notes)) {
            tracing::debug!(%error, %addr, "membership announce");
        }
    }

    fn announce_everywhere(&mut self, out: &mut Outbox) {
        let own = self.swim.identity().gossip;
        let targets: BTreeSet<SocketAddr> = self.seeds.iter().chain(&self.known).copied().collect();
        for addr in targets.into_iter().filter(|a| *a != own) {
            self.announce_to(addr, out);
        }
    }

    fn arm_rejoin(&mut self, out: &mut Outbox) {
        if !self.rejoin_armed {
            self.rejoin_armed = true;
            out.timers.push((
                self.config.rejoin_period,
                MembershipTimer(TimerKind::Rejoin),
            ));
        }
    }

    /// Turns foca's notifications into events, and restarts foca when this node is alone or
    /// was declared down without renewing itself.
    fn after_swim(&mut self, notes: Vec<OwnedNotification<NodeIdentity>>, out: &mut Outbox) {
        let mut changed = false;
        let mut idle = false;
        let mut defunct = false;
        for note in notes {
            match note {
                OwnedNotification::MemberUp(_)
                | OwnedNotification::MemberDown(_)
                | OwnedNotification::Rename(..) => changed = true,
                OwnedNotification::Idle => idle = true,
                OwnedNotification::Defunct => defunct = true,
                OwnedNotification::Rejoin(id) => {
                    tracing::info!(node = %id.name, incarnation = id.incarnation, "rejoining after being declared down");
                }
                OwnedNotification::Active => {}
            }
        }
        if changed {
            self.reconcile(out);
        }
        if ((idle && self.swim.num_members() == 0) || defunct) && !self.left {
            self.restart(out);
        }
    }

    /// Diffs foca's active members against the published view: `Down` for members gone or
    /// replaced by a newer identity, then `Up` for new identities.
    fn reconcile(&mut self, out: &mut Outbox) {
        let current: BTreeMap<NodeName, NodeIdentity> = self
            .swim
            .iter_members()
            .map(|m| (m.id().name.clone(), m.id().clone()))
            .collect();
        for (name, old) in &self.live {
            if current.get(name) != Some(old) {
                out.events.push(MemberEvent::Down(old.clone()));
            }
        }
        for (name, new) in &current {
            if self.live.get(name) != Some(new) {
                self.known.insert(new.gossip);
                out.events.push(MemberEvent::Up(new.clone()));
            }
        }
        self.live = current;
    }

    /// Replaces foca with a fresh instance under a renewed identity and announces it. Used
    /// when every member is gone (this node may be the one cut off: its memory of the others
    /// being down would otherwise stop it from accepting them back) or when foca gave up.
    fn restart(&mut self, out: &mut Outbox) {
        let current = self.swim.identity().clone();
        let next = foca::Identity::renew(&current).unwrap_or(current);
        tracing::debug!(node = %next.name, incarnation = next.incarnation, "membership alone; rejoining");
        for old in std::mem::take(&mut self.live).into_values() {
            out.events.push(MemberEvent::Down(old));
        }
        self.epoch += 1;
        self.swim = new_swim(next, &self.config, &mut self.rng);
        self.announce_everywhere(out);
        self.arm_rejoin(out);
    }
}

fn new_swim(identity: NodeIdentity, config: &MembershipConfig, rng: &mut SmallRng) -> Swim {
    let codec = WireCodec::new(identity.name.clone());
    let rng = SmallRng::seed_from_u64(rng.next_u64());
    Foca::new(identity, config.to_foca(), rng, codec)
}

/// foca's runtime: collects its output into an [`Outbox`] and a list of notifications.
struct Collect<'a> {
    out: &'a mut Outbox,
    notes: &'a mut Vec<OwnedNotification<NodeIdentity>>,
    epoch: u64,
}

impl Runtime<NodeIdentity> for Collect<'_> {
    fn notify(&mut self, notification: Notification<'_, NodeIdentity>) {
        self.notes.push(notification.to_owned());
    }

    fn send_to(&mut self, to: NodeIdentity, data: &[u8]) {
        self.out.sends.push((to.gossip, data.to_vec()));
    }

    fn submit_after(&mut self, timer: Timer<NodeIdentity>, after: Duration) {
        let timer = MembershipTimer(TimerKind::Swim {
            epoch: self.epoch,
            timer,
        });
        self.out.timers.push((after, timer));
    }
}
