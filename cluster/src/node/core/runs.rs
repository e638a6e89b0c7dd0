//! Where workflow runs go: a run is submitted to the first node of its placement order, and
//! looked for (status, wait) in that same order. Only nodes that host agents take runs (a
//! client, `kinds: []`, takes none), and never the asking node itself.

use crate::placement::{rank, Candidate};
use crate::registry::NodeName;

/// The nodes that may own a run keyed `key`, best first: the live candidates that host some
/// kind, except `me`, in weighted rendezvous order of `key`.
pub(crate) fn run_order(key: &str, me: &NodeName, candidates: &[Candidate]) -> Vec<NodeName> {
    let hosts: Vec<Candidate> = candidates
        .iter()
        .filter(|c| &c.name != me)
        .filter(|c| c.kinds.as_ref().is_none_or(|k| !k.is_empty()))
        .cloned()
        .collect();
    rank(key, None, &hosts)
        .into_iter()
        .map(|c| c.name.clone())
        .collect()
}

/// How long after its owner was declared down each node waits, per place before it in the
/// run's order, before it takes a run over (the first live node in the order at once, after
/// [`FAILOVER_DELAY`](super::failover::FAILOVER_DELAY)).
pub(crate) const RUN_TURN: std::time::Duration = std::time::Duration::from_millis(250);

/// When `me` takes over run `key` after its owner went down: its place among the live
/// nodes hosting runs (itself included) in the run's order, as a delay after the failover
/// check. `None` if `me` hosts no runs.
pub(crate) fn takeover_after(
    key: &str,
    me: &NodeName,
    candidates: &[Candidate],
) -> Option<std::time::Duration> {
    let hosts: Vec<Candidate> = candidates
        .iter()
        .filter(|c| c.kinds.as_ref().is_none_or(|k| !k.is_empty()))
        .cloned()
        .collect();
    let place = rank(key, None, &hosts).iter().position(|c| &c.name == me)?;
    Some(super::failover::FAILOVER_DELAY + RUN_TURN * place as u32)
}
