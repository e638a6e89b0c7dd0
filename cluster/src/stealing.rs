//! Work-stealing decisions, IO-free: which queued tasks a busy node hands to an idle one.
//!
//! The victim gives only tasks the thief can run (its kinds), the highest priority first,
//! within a priority prefers tasks whose agent state is already active on the thief
//! (affinity), then the oldest; and keeps enough to feed its own
//! free task slots, so stealing never starves the node that accepted the work. A thief takes a
//! batch (what its slots can start soon), but never more than half of what the victim can
//! spare, so the last tasks of a workflow still spread over several idle nodes.

use std::collections::VecDeque;

use troupe_runtime::AgentId;

use crate::wire::RemoteTask;

/// A task waiting in a node's queue.
#[derive(Clone, Debug, PartialEq)]
pub struct Queued {
    /// The task.
    pub task: RemoteTask,
    /// Whether this node accepted it (and owns its result); tasks stolen from others are
    /// never lent on.
    pub own: bool,
}

/// The positions in `queue` (ascending) of the tasks to give a thief that asked for `max`:
/// at most `max`, and at most half (rounded up) of the eligible tasks beyond `keep`.
///
/// * `keep`: how many eligible tasks the victim keeps for its own idle slots.
/// * `thief_runs(task)`: whether the thief may run the task (it hosts the kind, and its
///   declared resources hold what the task's pool needs).
/// * `active_on_thief(agent)`: whether the registry says the agent is active on the thief.
pub fn pick_for_thief(
    queue: &VecDeque<Queued>,
    max: usize,
    keep: usize,
    thief_runs: impl Fn(&RemoteTask) -> bool,
    active_on_thief: impl Fn(&AgentId) -> bool,
) -> Vec<usize> {
    let eligible: Vec<usize> = queue
        .iter()
        .enumerate()
        .filter(|(_, q)| q.own && thief_runs(&q.task))
        .map(|(i, _)| i)
        .collect();
    let spare = eligible.len().saturating_sub(keep);
    let give = spare.div_ceil(2).min(max);
    if give == 0 {
        return Vec::new();
    }
    let (mut local, mut other): (Vec<usize>, Vec<usize>) = eligible.into_iter().partition(|&i| {
        queue[i]
            .task
            .affinity
            .as_ref()
            .is_some_and(&active_on_thief)
    });
    local.append(&mut other);
    // High priority first (the queue is in serving order already; affinity must not put a
    // low-priority task before a high one). Stable: affinity, then age, within a priority.
    local.sort_by_key(|&i| std::cmp::Reverse(queue[i].task.priority));
    let mut picked: Vec<usize> = local.into_iter().take(give).collect();
    picked.sort_unstable();
    picked
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn task(key: &str, kind: &str, affinity: Option<&str>) -> Queued {
        Queued {
            task: RemoteTask {
                key: key.into(),
                kind: kind.into(),
                config: Value::Null,
                input: Value::Null,
                timeout_ms: None,
                affinity: affinity.map(AgentId::new),
                need: None,
                priority: troupe_runtime::workflow::DEFAULT_PRIORITY,
                tenant: None,
            },
            own: true,
        }
    }

    #[test]
    fn oldest_first_and_the_victim_keeps_enough_for_its_slots() {
        let q: VecDeque<_> = (0..6).map(|i| task(&format!("t{i}"), "k", None)).collect();
        assert_eq!(pick_for_thief(&q, 2, 2, |_| true, |_| false), vec![0, 1]);
        // 4 to spare: the thief gets half of them, however many it asked for.
        assert_eq!(pick_for_thief(&q, 10, 2, |_| true, |_| false), vec![0, 1]);
        assert!(pick_for_thief(&q, 10, 6, |_| true, |_| false).is_empty());
    }

    #[test]
    fn a_thief_takes_a_batch_but_at_most_half_of_what_is_spare() {
        let q: VecDeque<_> = (0..40).map(|i| task(&format!("t{i}"), "k", None)).collect();
        assert_eq!(
            pick_for_thief(&q, 8, 0, |_| true, |_| false),
            (0..8).collect::<Vec<_>>()
        );
        assert_eq!(pick_for_thief(&q, 100, 0, |_| true, |_| false).len(), 20);
        // The last task still goes to whoever asks.
        let one: VecDeque<_> = q.iter().take(1).cloned().collect();
        assert_eq!(pick_for_thief(&one, 8, 0, |_| true, |_| false), vec![0]);
        assert_eq!(
            pick_for_thief(
                &q.iter().take(3).cloned().collect(),
                8,
                0,
                |_| true,
                |_| false
            )
            .len(),
            2
        );
    }

    #[test]
    fn tasks_whose_agent_is_on_the_thief_go_first() {
        let q: VecDeque<_> = vec![
            task("a", "k", Some("x")),
            task("b", "k", Some("here")),
            task("c", "k", None),
            task("d", "k", Some("here")),
        ]
        .into();
        let on_thief = |a: &AgentId| a.as_str() == "here";
        assert_eq!(pick_for_thief(&q, 2, 0, |_| true, on_thief), vec![1, 3]);
        assert_eq!(pick_for_thief(&q, 1, 0, |_| true, on_thief), vec![1]);
    }

    #[test]
    fn a_thief_is_given_the_highest_priority_first_even_over_affinity() {
        let mut q: VecDeque<_> = vec![
            task("low-here", "k", Some("here")),
            task("high", "k", None),
            task("mid", "k", None),
            task("high-here", "k", Some("here")),
        ]
        .into();
        for (q, p) in q.iter_mut().zip([1, 9, 5, 9]) {
            q.task.priority = p;
        }
        let on_thief = |a: &AgentId| a.as_str() == "here";
        // Two of four to spare: the two of priority 9 (affinity first among them).
        let picked = pick_for_thief(&q, 2, 0, |_| true, on_thief);
        assert_eq!(picked, vec![1, 3]);
        let picked = pick_for_thief(&q, 1, 0, |_| true, on_thief);
        assert_eq!(
            picked,
            vec![3],
            "within a priority, affinity still goes first"
        );
    }

    #[test]
    fn only_kinds_the_thief_runs_and_only_own_tasks() {
        let mut q: VecDeque<_> = vec![task("a", "gpu", None), task("b", "cpu", None)].into();
        assert_eq!(
            pick_for_thief(&q, 5, 0, |t| t.kind == "cpu", |_| false),
            vec![1]
        );
        q[1].own = false;
        assert!(pick_for_thief(&q, 5, 0, |t| t.kind == "cpu", |_| false).is_empty());
    }
}
