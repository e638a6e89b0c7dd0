use super::*;

fn drain(q: &mut FairQueue<&'static str>) -> Vec<&'static str> {
    std::iter::from_fn(|| q.pop()).collect()
}

#[test]
fn higher_priority_is_served_first_and_ties_oldest_first() {
    let mut q = FairQueue::new();
    q.push("low", 1, None);
    q.push("mid-1", 5, None);
    q.push("high", 9, None);
    q.push("mid-2", 5, None);
    assert_eq!(drain(&mut q), ["high", "mid-1", "mid-2", "low"]);
}

#[test]
fn tenants_take_turns_within_a_priority() {
    let mut q = FairQueue::new();
    for item in ["a1", "a2", "a3", "a4"] {
        q.push(item, 5, Some("a"));
    }
    q.push("b1", 5, Some("b"));
    q.push("b2", 5, Some("b"));
    q.push("c1", 5, Some("c"));
    assert_eq!(
        drain(&mut q),
        ["a1", "b1", "c1", "a2", "b2", "a3", "a4"],
        "a tenant with a backlog does not make the others wait behind all of it"
    );
}

#[test]
fn a_tenant_arriving_late_waits_one_round_not_the_backlog() {
    let mut q = FairQueue::new();
    for item in ["a1", "a2", "a3", "a4", "a5"] {
        q.push(item, 5, Some("a"));
    }
    assert_eq!(q.pop(), Some("a1"));
    assert_eq!(q.pop(), Some("a2"));
    q.push("b1", 5, Some("b"));
    assert_eq!(drain(&mut q), ["a3", "b1", "a4", "a5"]);
}

#[test]
fn priority_beats_fairness() {
    let mut q = FairQueue::new();
    q.push("a-low", 2, Some("a"));
    q.push("b-low", 2, Some("b"));
    q.push("a-high", 8, Some("a"));
    assert_eq!(drain(&mut q), ["a-high", "a-low", "b-low"]);
}

#[test]
fn given_back_work_goes_first_and_priorities_are_capped() {
    let mut q = FairQueue::new();
    q.push("top", 200, None);
    q.push("nine", 9, None);
    q.push_front("back");
    assert_eq!(drain(&mut q), ["back", "top", "nine"]);
}

#[test]
fn take_removes_positions_in_serving_order() {
    let mut q = FairQueue::new();
    for (item, p) in [("x", 1), ("y", 9), ("z", 5)] {
        q.push(item, p, None);
    }
    assert_eq!(
        q.as_deque().iter().copied().collect::<Vec<_>>(),
        ["y", "z", "x"]
    );
    assert_eq!(q.take(vec![0, 2]), ["y", "x"]);
    assert_eq!(q.len(), 1);
    assert_eq!(drain(&mut q), ["z"]);
    assert!(q.is_empty());
}

#[test]
fn the_tenant_map_stays_bounded_under_many_tenants() {
    let mut q = FairQueue::new();
    for i in 0..10_000 {
        let tenant = format!("t{i}");
        q.push(i, 5, Some(&tenant));
        assert_eq!(q.pop(), Some(i));
    }
    assert!(
        q.tenants.len() <= 65,
        "{} tenants remembered",
        q.tenants.len()
    );
}
