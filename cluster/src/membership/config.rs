//! [`MembershipConfig`]: SWIM timing and dissemination settings, with presets.

use std::num::{NonZeroU8, NonZeroUsize};
use std::time::Duration;

use foca::PeriodicParams;

use crate::ConfigError;

/// How often membership probes, how long it waits, and how widely it gossips.
///
/// Detection time of a crashed node is roughly: up to one `probe_period` until some member
/// probes it, one more until that probe is judged failed, then `suspect_to_down_after`, then a
/// `gossip_period` or two for the verdict to spread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MembershipConfig {
    /// How often each node probes one member (round robin over a shuffled list).
    pub probe_period: Duration,
    /// How long to wait for a direct ack before asking others to probe indirectly; must be
    /// shorter than `probe_period`.
    pub probe_rtt: Duration,
    /// How many members are asked to probe indirectly when a direct probe times out.
    pub indirect_probes: usize,
    /// How long a suspected member has to refute the suspicion before it is declared down.
    pub suspect_to_down_after: Duration,
    /// How many times each membership update is piggybacked before it is dropped.
    pub max_transmissions: u8,
    /// How often pending updates are pushed to `gossip_fanout` random members.
    pub gossip_period: Duration,
    /// How many members each periodic gossip goes to.
    pub gossip_fanout: usize,
    /// How often a connected node asks a random member for its member list (heals views that
    /// missed an update).
    pub announce_period: Duration,
    /// How often a connected node announces itself to two members it holds as down, so that
    /// the two sides of a healed partition find each other again.
    pub announce_to_down_period: Duration,
    /// While the node has no live member, how often it announces itself to the seeds and to
    /// every address it has seen a member at.
    pub rejoin_period: Duration,
    /// How long a down member's identity is remembered (so that stale gossip cannot bring it
    /// back); a renewed identity (higher incarnation) is accepted at any time.
    pub remove_down_after: Duration,
    /// Largest datagram produced or accepted, in bytes.
    pub max_packet_size: usize,
}

impl MembershipConfig {
    /// Settings for a LAN or loopback: a `kill -9`'d node is declared down in about one
    /// second (`probe_period` 250 ms, `probe_rtt` 80 ms, suspicion 500 ms, gossip every
    /// 100 ms).
    pub fn lan() -> Self {
        Self {
            probe_period: Duration::from_millis(250),
            probe_rtt: Duration::from_millis(80),
            indirect_probes: 3,
            suspect_to_down_after: Duration::from_millis(500),
            max_transmissions: 8,
            gossip_period: Duration::from_millis(100),
            gossip_fanout: 3,
            announce_period: Duration::from_secs(5),
            announce_to_down_period: Duration::from_secs(1),
            rejoin_period: Duration::from_millis(500),
            remove_down_after: Duration::from_secs(3600),
            max_packet_size: 1400,
        }
    }

    /// Checks the invariants foca relies on; the message names the offending field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("probe_period", self.probe_period),
            ("probe_rtt", self.probe_rtt),
            ("suspect_to_down_after", self.suspect_to_down_after),
            ("gossip_period", self.gossip_period),
            ("announce_period", self.announce_period),
            ("announce_to_down_period", self.announce_to_down_period),
            ("rejoin_period", self.rejoin_period),
            ("remove_down_after", self.remove_down_after),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, d)| d.is_zero()) {
            return Err(ConfigError::new(name, "must not be zero"));
        }
        if self.probe_rtt >= self.probe_period {
            return Err(ConfigError::new(
                "probe_rtt",
                "must be shorter than probe_period",
            ));
        }
        for (name, n) in [
            ("indirect_probes", self.indirect_probes),
            ("gossip_fanout", self.gossip_fanout),
            ("max_transmissions", usize::from(self.max_transmissions)),
        ] {
            if n == 0 {
                return Err(ConfigError::new(name, "must be at least 1"));
            }
        }
        if !(512..=65_507).contains(&self.max_packet_size) {
            return Err(ConfigError::new(
                "max_packet_size",
                "must be within 512..=65507",
            ));
        }
        Ok(())
    }

    /// The foca configuration; call after [`Self::validate`].
    pub(crate) fn to_foca(&self) -> foca::Config {
        let nz = |n: usize| NonZeroUsize::new(n.max(1)).expect("max(1) is non-zero");
        foca::Config {
            probe_period: self.probe_period,
            probe_rtt: self.probe_rtt,
            num_indirect_probes: nz(self.indirect_probes),
            max_transmissions: NonZeroU8::new(self.max_transmissions.max(1)).expect("non-zero"),
            suspect_to_down_after: self.suspect_to_down_after,
            remove_down_after: Some(self.remove_down_after),
            max_packet_size: nz(self.max_packet_size),
            notify_down_members: true,
            periodic_announce: Some(PeriodicParams {
                frequency: self.announce_period,
                num_members: nz(1),
            }),
            periodic_announce_to_down_members: Some(PeriodicParams {
                frequency: self.announce_to_down_period,
                num_members: nz(2),
            }),
            periodic_gossip: Some(PeriodicParams {
                frequency: self.gossip_period,
                num_members: nz(self.gossip_fanout),
            }),
        }
    }
}

impl Default for MembershipConfig {
    fn default() -> Self {
        Self::lan()
    }
}
