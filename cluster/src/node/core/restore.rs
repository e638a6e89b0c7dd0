//! What a node started again on its store does with the checkpoints it reads back: the
//! agents it ran itself (its *own* checkpoints) it re-activates once it has heard from the
//! peers already up ([`RESTORE_SETTLE`]); the ones it held as a backup only if, after the
//! owner had time to come back ([`RESTORE_GRACE`]) and this node's failover turn, no live
//! node has the agent. The registry decides between nodes that try together: an activation
//! is a registry write, and a node that sees the agent on a live peer leaves it there.

use std::time::{Duration, Instant};

use crate::registry::{NodeName, Slot, SlotState};

/// How long a restarted node waits before re-activating its own agents: the registry
/// exchange with the peers already up comes within it, so an agent another node took over
/// meanwhile is left there.
pub(crate) const RESTORE_SETTLE: Duration = Duration::from_secs(1);

/// How long a restarted node waits before re-activating an agent it held as a backup: its
/// owner, started at about the same time, re-activates its own agents first.
pub(crate) const RESTORE_GRACE: Duration = Duration::from_secs(5);

/// When a node started at `started` decides about a checkpoint it read back (its own, or a
/// backup's with failover `turn`).
pub(crate) fn due(own: bool, turn: Duration, started: Instant) -> Instant {
    if own {
        started + RESTORE_SETTLE
    } else {
        started + RESTORE_GRACE + turn
    }
}

/// What to do with a checkpoint read back, when it is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Restore {
    /// Re-activate the agent here from the checkpoint.
    Activate,
    /// Leave it: it runs here already, or on a live node (or rests passivated there); the
    /// checkpoint stays held as a backup's.
    Leave,
    /// It was stopped for good meanwhile (a tombstone): drop the checkpoint.
    Forget,
}

/// Decides for one agent from the registry's winning `slot`, whether it is `local` already,
/// this node `me` and liveness.
pub(crate) fn decide(
    slot: Option<&Slot>,
    local: bool,
    me: &NodeName,
    is_live: impl Fn(&NodeName) -> bool,
) -> Restore {
    if local {
        return Restore::Leave;
    }
    match slot {
        Some(s) if s.state == SlotState::Removed => Restore::Forget,
        Some(s) if &s.node != me && is_live(&s.node) => Restore::Leave,
        _ => Restore::Activate,
    }
}
