use super::runs::run_order;
use crate::placement::Candidate;
use crate::registry::NodeName;

fn client(name: &str) -> Candidate {
    Candidate {
        kinds: Some(Vec::new()),
        ..Candidate::new(name)
    }
}

#[test]
fn runs_go_to_hosting_nodes_only_never_to_the_asker_or_a_client() {
    let me: NodeName = "c".into();
    let cands = vec![
        Candidate::new("a"),
        Candidate::new("b"),
        client("other-client"),
        Candidate::new("c"),
    ];
    let order = run_order("run-1", &me, &cands);
    let mut names: Vec<&str> = order.iter().map(|n| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn the_order_is_stable_per_key_and_differs_between_keys() {
    let me: NodeName = "client".into();
    let cands: Vec<Candidate> = ["n1", "n2", "n3"].into_iter().map(Candidate::new).collect();
    let first = run_order("run-x", &me, &cands);
    assert_eq!(
        first,
        run_order("run-x", &me, &cands),
        "same key, same order"
    );
    let mut reversed = cands.clone();
    reversed.reverse();
    assert_eq!(
        first,
        run_order("run-x", &me, &reversed),
        "independent of the list order"
    );
    let firsts: std::collections::BTreeSet<NodeName> = (0..40)
        .map(|i| run_order(&format!("run-{i}"), &me, &cands)[0].clone())
        .collect();
    assert_eq!(firsts.len(), 3, "runs spread over every node");
}

#[test]
fn a_node_that_went_down_leaves_the_order_the_others_keep_theirs() {
    let me: NodeName = "client".into();
    let cands: Vec<Candidate> = ["n1", "n2", "n3"].into_iter().map(Candidate::new).collect();
    let full = run_order("run-y", &me, &cands);
    let without: Vec<Candidate> = cands
        .iter()
        .filter(|c| c.name != full[0])
        .cloned()
        .collect();
    assert_eq!(run_order("run-y", &me, &without), full[1..].to_vec());
}

#[test]
fn the_first_live_node_in_the_runs_order_takes_it_over_first_the_others_a_turn_later_each() {
    use super::failover::FAILOVER_DELAY;
    use super::runs::{takeover_after, RUN_TURN};
    let cands: Vec<Candidate> = ["n1", "n2", "n3"].into_iter().map(Candidate::new).collect();
    let outsider: NodeName = "client".into();
    let order = run_order("run-z", &outsider, &cands);
    for (place, node) in order.iter().enumerate() {
        assert_eq!(
            takeover_after("run-z", node, &cands),
            Some(FAILOVER_DELAY + RUN_TURN * place as u32),
            "{node} at place {place}"
        );
    }
    let with_client: Vec<Candidate> = cands.iter().cloned().chain([client("c")]).collect();
    assert_eq!(
        takeover_after("run-z", &"c".into(), &with_client),
        None,
        "a client takes no run"
    );
}
