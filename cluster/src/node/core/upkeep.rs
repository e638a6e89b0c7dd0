//! Periodic upkeep decisions: which idle agents to passivate, and which sessions with nodes
//! membership does not list to drop. The shell's timers call these with `now`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::registry::NodeName;

/// How long a session may stay up with a node membership does not list.
pub(crate) const STRANGER_GRACE: Duration = Duration::from_secs(3);

/// Whether an agent that last handled a request at `last_used` is idle at `now`: for `after`
/// or longer.
pub(crate) fn is_idle(last_used: Instant, after: Duration, now: Instant) -> bool {
    now.saturating_duration_since(last_used) >= after
}

/// Sessions with nodes that are not members, and since when. Sessions are made and dropped by
/// membership: one with a node membership does not list (it left, or was never announced) is
/// dropped after [`STRANGER_GRACE`].
#[derive(Debug, Default)]
pub(crate) struct Strangers {
    since: HashMap<NodeName, Instant>,
}

impl Strangers {
    /// Given the peers with a session up and which of them are members, at `now`: the
    /// sessions to drop.
    pub(crate) fn tick(
        &mut self,
        peers: &[NodeName],
        is_member: impl Fn(&NodeName) -> bool,
        now: Instant,
    ) -> Vec<NodeName> {
        self.since.retain(|p, _| peers.contains(p) && !is_member(p));
        let mut drop = Vec::new();
        for p in peers.iter().filter(|p| !is_member(p)) {
            let since = *self.since.entry(p.clone()).or_insert(now);
            if now.saturating_duration_since(since) > STRANGER_GRACE {
                self.since.remove(p);
                drop.push(p.clone());
            }
        }
        drop
    }
}
