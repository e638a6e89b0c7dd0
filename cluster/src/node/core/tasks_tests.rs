//! Tests of [`super::tasks`]: the queue, batch sizes, steal order and work hints.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::tasks::{
    average, batch_wanted, busy, prefetch, steal_order, Hint, HintLimiter, Ledger, Outcome,
    TaskQueue, HINT_EVERY, MAX_STEAL,
};
use crate::registry::NodeName;
use crate::stealing::Queued;
use crate::wire::RemoteTask;

fn task(key: &str, own: bool) -> Queued {
    Queued {
        task: RemoteTask {
            key: key.into(),
            kind: "k".into(),
            config: Value::Null,
            input: Value::Null,
            timeout_ms: None,
            affinity: None,
            need: None,
            priority: troupe_runtime::workflow::DEFAULT_PRIORITY,
            tenant: None,
        },
        own,
    }
}

fn keys(q: &[Queued]) -> Vec<&str> {
    q.iter().map(|q| q.task.key.as_str()).collect()
}

#[test]
fn the_queue_runs_oldest_first_and_a_task_taken_back_goes_first() {
    let mut q = TaskQueue::default();
    q.push(task("t1", true), false);
    q.push(task("t2", true), false);
    q.push(task("back", true), true);
    let all = |_: &str| true;
    let order: Vec<String> = std::iter::from_fn(|| q.pop(all).map(|t| t.task.key)).collect();
    assert_eq!(order, ["back", "t1", "t2"]);
}

#[test]
fn own_tasks_nobody_waits_for_are_dropped_but_stolen_ones_run() {
    let mut q = TaskQueue::default();
    q.push(task("gone", true), false);
    q.push(task("stolen", false), false);
    q.push(task("wanted", true), false);
    let waited = |k: &str| k == "wanted";
    assert_eq!(q.pop(waited).unwrap().task.key, "stolen");
    assert_eq!(q.pop(waited).unwrap().task.key, "wanted");
    assert!(q.pop(waited).is_none());
}

#[test]
fn taking_tasks_for_a_thief_keeps_queue_order() {
    let mut q = TaskQueue::default();
    for k in ["a", "b", "c", "d"] {
        q.push(task(k, true), false);
    }
    assert_eq!(keys(&q.take(vec![0, 2])), ["a", "c"]);
    assert_eq!(q.len(), 2);
    let rest: Vec<Queued> = q.as_deque().iter().cloned().collect();
    assert_eq!(keys(&rest), ["b", "d"]);
}

#[test]
fn a_node_asks_for_two_rounds_of_its_slots_less_what_it_has_when_times_are_unknown() {
    assert_eq!(batch_wanted(4, 0, 0, 0, 0), 8);
    assert_eq!(batch_wanted(4, 2, 3, 0, 0), 3);
    assert_eq!(batch_wanted(4, 10, 0, 0, 0), 1);
    assert_eq!(batch_wanted(1, 0, 0, 0, 100), 2);
}

#[test]
fn short_tasks_and_slow_steals_make_bigger_batches_up_to_the_cap() {
    // Tasks as long as a steal: two rounds.
    assert_eq!(batch_wanted(4, 0, 0, 1_000, 1_000), 8);
    // A steal costs ten tasks: eleven rounds of the slots.
    assert_eq!(batch_wanted(2, 0, 0, 10_000, 100_000), 22);
    assert_eq!(batch_wanted(2, 5, 1, 10_000, 100_000), 16);
    // Very short tasks: capped.
    assert_eq!(batch_wanted(4, 0, 0, 1, 1_000_000), MAX_STEAL as u32);
    // Long tasks: two rounds still.
    assert_eq!(batch_wanted(4, 0, 0, 1_000_000_000, 100_000), 8);
}

#[test]
fn running_averages_start_at_the_first_sample_and_move_by_an_eighth() {
    let avg = average(0, Duration::from_nanos(800));
    assert_eq!(avg, 800);
    assert_eq!(average(avg, Duration::from_nanos(1_600)), 900);
}

#[test]
fn a_worker_prefetches_only_while_running_stolen_work_with_a_short_queue() {
    assert!(prefetch(false, 1, 2, false));
    assert!(!prefetch(true, 1, 2, false), "own work: no prefetch");
    assert!(!prefetch(false, 2, 2, false), "enough queued");
    assert!(!prefetch(false, 0, 2, true), "a steal is in flight");
}

#[test]
fn the_peer_that_hinted_is_asked_first() {
    let peers: Vec<NodeName> = ["b", "c", "d"].map(NodeName::new).to_vec();
    let hinted = NodeName::new("d");
    let order = steal_order(peers.clone(), Some(&hinted));
    assert_eq!(order[0], hinted);
    assert_eq!(order.len(), 3);
    assert_eq!(steal_order(peers.clone(), None), peers);
    assert_eq!(
        steal_order(peers.clone(), Some(&NodeName::new("gone"))),
        peers
    );
}

#[test]
fn a_node_is_busy_when_it_cannot_start_everything_it_has() {
    assert!(!busy(1, 1, 2));
    assert!(busy(2, 1, 2));
    assert!(busy(1, 0, 0));
}

#[test]
fn hints_go_at_most_once_per_window_and_a_held_back_one_is_scheduled_once() {
    let t0 = Instant::now();
    let mut hints = HintLimiter::default();
    assert_eq!(hints.on_busy(t0), Hint::SendNow);
    let soon = t0 + HINT_EVERY / 2;
    assert_eq!(hints.on_busy(soon), Hint::Later(t0 + HINT_EVERY));
    assert_eq!(hints.on_busy(soon), Hint::Nothing, "already scheduled");
    hints.on_timer();
    assert_eq!(hints.on_busy(t0 + HINT_EVERY), Hint::SendNow);
}

#[test]
fn a_result_is_applied_once_and_only_from_the_node_the_task_is_lent_to() {
    let mut ledger = Ledger::default();
    let (b, c) = (NodeName::new("b"), NodeName::new("c"));
    ledger.lend(&b, &task("t1", true).task);
    assert_eq!(ledger.lent_to("b"), 1);
    assert_eq!(ledger.result_from(&c, "t1"), Outcome::Ignore);
    assert_eq!(ledger.result_from(&b, "t1"), Outcome::Apply);
    assert_eq!(
        ledger.result_from(&b, "t1"),
        Outcome::Ignore,
        "a second result"
    );
    assert_eq!(ledger.lent_to("b"), 0);
    // Answered here meanwhile (the caller gave up): a late result is ignored.
    ledger.lend(&b, &task("t2", true).task);
    ledger.settled("t2");
    assert_eq!(ledger.result_from(&b, "t2"), Outcome::Ignore);
}

#[test]
fn tasks_lent_to_a_node_that_went_down_come_back_and_its_late_results_are_ignored() {
    let mut ledger = Ledger::default();
    let (b, c) = (NodeName::new("b"), NodeName::new("c"));
    ledger.lend(&b, &task("t2", true).task);
    ledger.lend(&c, &task("t3", true).task);
    ledger.lend(&b, &task("t1", true).task);
    let back: Vec<String> = ledger.member_down(&b).into_iter().map(|t| t.key).collect();
    assert_eq!(back, ["t1", "t2"]);
    assert_eq!(ledger.result_from(&b, "t1"), Outcome::Ignore);
    assert_eq!(ledger.lent_to("c"), 1);
    assert!(ledger.member_down(&b).is_empty());
}

#[test]
fn a_thief_reports_to_the_owner_unless_the_owner_went_down() {
    let mut ledger = Ledger::default();
    let (b, c) = (NodeName::new("b"), NodeName::new("c"));
    ledger.stolen("t1", &b);
    ledger.stolen("t2", &c);
    assert_eq!(ledger.finished("t1"), Some(b.clone()));
    assert_eq!(ledger.finished("t1"), None, "reported once");
    ledger.member_down(&c);
    assert_eq!(ledger.finished("t2"), None);
}

#[test]
fn a_task_this_node_cannot_hold_stays_queued_behind_the_ones_it_can() {
    let mut q = TaskQueue::default();
    let mut big = task("big", true);
    big.task.need = Some(crate::packing::Need {
        cpu_millis: 8000,
        ..Default::default()
    });
    q.push(big, false);
    q.push(task("small", true), false);
    let all = |_: &str| true;
    let small_only = |t: &RemoteTask| t.need.is_none();
    assert_eq!(q.pop_where(all, small_only).unwrap().task.key, "small");
    assert!(q.pop_where(all, small_only).is_none());
    assert!(!q.any(small_only));
    assert_eq!(q.len(), 1, "left for a node that can hold it");
    assert_eq!(q.pop_where(all, |_| true).unwrap().task.key, "big");
}

#[test]
fn the_queue_serves_higher_priority_first_and_lets_tenants_take_turns() {
    let mut q = TaskQueue::default();
    let with = |key: &str, priority: u8, tenant: &str| {
        let mut t = task(key, true);
        t.task.priority = priority;
        t.task.tenant = Some(tenant.into());
        t
    };
    for i in 1..=3 {
        q.push(with(&format!("a{i}"), 5, "a"), false);
    }
    q.push(with("b1", 5, "b"), false);
    q.push(with("urgent", 9, "b"), false);
    q.push(with("later", 1, "a"), false);
    q.push(task("back", true), true);
    let order: Vec<String> = std::iter::from_fn(|| q.pop(|_| true))
        .map(|q| q.task.key)
        .collect();
    assert_eq!(order, ["back", "urgent", "a1", "b1", "a2", "a3", "later"]);
}
