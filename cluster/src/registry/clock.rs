//! Hybrid logical clock timestamps for the registry.
//!
//! The registry orders writes by [`Timestamp`] (uhlc: a 64-bit NTP time whose low bits act as
//! a logical counter, plus the 128-bit id of the clock that issued it). Timestamps from one
//! [`Clock`] are strictly increasing, and two clocks with different ids never issue equal
//! timestamps, so `Timestamp`'s `Ord` (time first, then clock id) is a total order over all
//! writes in a cluster whose clock ids are unique.
//!
//! The CRDT never reads a clock itself: every mutating call takes a `Timestamp`. A node owns
//! one [`Clock`], calls [`Clock::now`] to stamp its own writes and [`Clock::update`] with every
//! remote timestamp it receives, so its next write is ordered after everything it has seen.

use std::time::Duration;

pub use uhlc::{ExceedingDeltaError, Timestamp, ID as ClockId, NTP64};

/// A node's hybrid logical clock: a thin wrapper around [`uhlc::HLC`].
///
/// It is a value owned by the node (no process-global clock). Note that uhlc reads the
/// `UHLC_MAX_DELTA_MS` environment variable once when its first clock is built (and panics if
/// it is set to a non-number); [`Clock::with_max_delta`] then overrides the value it read.
pub struct Clock {
    hlc: uhlc::HLC,
}

impl Clock {
    /// Default bound on how far ahead of the local physical clock a remote timestamp may be
    /// before [`Clock::update`] refuses it.
    pub const DEFAULT_MAX_DELTA: Duration = Duration::from_millis(500);

    /// A clock with the given id (must be unique in the cluster, e.g. derived from the node
    /// name and incarnation) reading system time, with [`Clock::DEFAULT_MAX_DELTA`].
    pub fn new(id: ClockId) -> Self {
        Self::with_max_delta(id, Self::DEFAULT_MAX_DELTA)
    }

    /// A clock with the given id and bound on accepted remote clock skew.
    pub fn with_max_delta(id: ClockId, max_delta: Duration) -> Self {
        let hlc = uhlc::HLCBuilder::new()
            .with_id(id)
            .with_max_delta(max_delta)
            .build();
        Self { hlc }
    }

    /// The id stamped into every timestamp of this clock.
    pub fn id(&self) -> ClockId {
        *self.hlc.get_id()
    }

    /// A fresh timestamp, strictly greater than every timestamp this clock issued before and
    /// every remote timestamp it was [updated](Clock::update) with.
    pub fn now(&self) -> Timestamp {
        self.hlc.new_timestamp()
    }

    /// Advances the clock past a timestamp received from another node.
    ///
    /// # Errors
    /// Refuses (and leaves the clock unchanged) a timestamp more than the configured maximum
    /// delta ahead of local physical time: the sender's clock is too far off to be trusted.
    pub fn update(&self, remote: &Timestamp) -> Result<(), ExceedingDeltaError> {
        self.hlc.update_with_timestamp(remote)
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock").field("id", &self.id()).finish()
    }
}

/// Wire form of a [`Timestamp`], independent of uhlc's own serde layout:
/// `{ "time": u64, "clock": [u8; 16] }` (clock id little-endian, never all zero).
pub(crate) mod wire {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{ClockId, Timestamp, NTP64};

    #[derive(Serialize, Deserialize)]
    struct WireStamp {
        #[serde(rename = "time")]
        time: u64,
        #[serde(rename = "clock")]
        clock: [u8; 16],
    }

    pub(crate) fn serialize<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        WireStamp {
            time: ts.get_time().as_u64(),
            clock: ts.get_id().to_le_bytes(),
        }
        .serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let w = WireStamp::deserialize(d)?;
        let id = ClockId::try_from(w.clock)
            .map_err(|_| serde::de::Error::custom("timestamp clock id must not be zero"))?;
        Ok(Timestamp::new(NTP64(w.time), id))
    }
}
