//! Failover decisions: which agents of a node that went down this node re-activates from
//! the checkpoints it holds, and when. Every holder of a checkpoint waits its turn (its
//! position among the live nodes in placement order × [`FAILOVER_STAGGER`]) and takes over
//! only if nobody has by then; holders are the first nodes in that order, so the first live
//! one goes at once.

use std::time::{Duration, Instant};

use troupe_runtime::AgentId;

use crate::registry::{NodeName, Slot, SlotState};
use crate::wire::AgentRecord;

/// How long a node must stay down before its agents are re-activated elsewhere.
pub(crate) const FAILOVER_DELAY: Duration = Duration::from_millis(300);

/// How much later each next holder of a checkpoint re-activates an agent whose node went
/// down, if nobody has by then.
pub(crate) const FAILOVER_STAGGER: Duration = Duration::from_millis(250);

/// How long after a node is declared down calls for its agents wait for their backup to
/// re-activate them, before activating them fresh (state lost) where the caller names a kind.
pub(crate) const FAILOVER_GRACE: Duration = Duration::from_secs(3);

/// This node's turn, from its position in placement order among `live` candidates (`None`:
/// not a candidate, so after all of them).
pub(crate) fn turn(position: Option<usize>, live: usize) -> Duration {
    FAILOVER_STAGGER * position.unwrap_or(live) as u32
}

/// When a holder whose turn is `turn` may take over a node that went down at `down_since`:
/// after [`FAILOVER_DELAY`] (when the failover check fires) plus its turn, as the takeover
/// [`plan`]ned then. `None` while the node is not known to be down.
pub(crate) fn turn_at(turn: Duration, down_since: Option<Instant>) -> Option<Instant> {
    down_since.map(|at| at + FAILOVER_DELAY + turn)
}

/// Whether a holder whose turn is `turn` may take over now: the turn is immediate (the first
/// holder serves a call at once), or its time ([`turn_at`]) has come.
pub(crate) fn turn_came(turn: Duration, down_since: Option<Instant>, now: Instant) -> bool {
    turn.is_zero() || turn_at(turn, down_since).is_some_and(|at| now >= at)
}

/// Whether a node declared down at `down_since` went down less than [`FAILOVER_GRACE`] ago
/// (or is unknown to membership but not yet reported down).
pub(crate) fn recently_down(down_since: Option<Instant>, now: Instant) -> bool {
    down_since.is_none_or(|at| now < at + FAILOVER_GRACE)
}

/// The agents the registry places on `down` (not removed), in registry order.
pub(crate) fn orphans<'a>(
    slots: impl IntoIterator<Item = (&'a AgentId, &'a Slot)>,
    down: &NodeName,
) -> Vec<AgentId> {
    slots
        .into_iter()
        .filter(|(_, s)| &s.node == down && s.state != SlotState::Removed)
        .map(|(id, _)| id.clone())
        .collect()
}

/// A re-activation this node will make.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Takeover {
    /// Activate now.
    Now(AgentRecord),
    /// At `at`, activate unless [`taken_over`] by then (or already local).
    At {
        /// When the turn comes.
        at: Instant,
        /// What to activate.
        record: AgentRecord,
    },
}

/// The takeover of a checkpoint `record` with failover `turn`, decided at `now`: the record's
/// version is bumped (the re-activation is a new write).
pub(crate) fn plan(mut record: AgentRecord, turn: Duration, now: Instant) -> Takeover {
    record.version += 1;
    if turn.is_zero() {
        Takeover::Now(record)
    } else {
        Takeover::At {
            at: now + turn,
            record,
        }
    }
}

/// Whether the registry's `slot` for an agent whose node `down` went down says it is active
/// on a live node again, or was stopped.
pub(crate) fn taken_over(
    slot: Option<&Slot>,
    down: &NodeName,
    is_live: impl Fn(&NodeName) -> bool,
) -> bool {
    slot.is_some_and(|s| {
        s.state == SlotState::Removed
            || (s.state == SlotState::Active && &s.node != down && is_live(&s.node))
    })
}
