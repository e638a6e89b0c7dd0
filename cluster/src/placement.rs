//! Placement: which live node should host an agent. IO-free.
//!
//! Weighted rendezvous (highest-random-weight) hashing: every node scores every agent id with
//! a stable hash of `(node name, agent id)`, scaled by the node's capacity; the highest score
//! wins. Every node computes the same answer from the same member list, with no coordination,
//! and a member joining or leaving moves only the agents it wins or held (about `1/n`).
//!
//! The hash is explicit and stable across processes, builds and platforms (FNV-1a over the
//! bytes, finished with the SplitMix64 mixer) — never std's randomly keyed `DefaultHasher`.

use crate::registry::NodeName;

/// A node as placement sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The node.
    pub name: NodeName,
    /// Relative capacity (a node with 2 gets about twice the agents of a node with 1); 0 is
    /// treated as 1.
    pub capacity: u32,
    /// The agent kinds the node hosts; `None` means every kind.
    pub kinds: Option<Vec<String>>,
}

impl Candidate {
    /// A node with capacity 1 that hosts every kind.
    pub fn new(name: impl Into<NodeName>) -> Self {
        Self {
            name: name.into(),
            capacity: 1,
            kinds: None,
        }
    }

    /// Whether the node may host agents of `kind` (`None`: the kind is not known).
    pub fn hosts(&self, kind: Option<&str>) -> bool {
        match (&self.kinds, kind) {
            (None, _) | (_, None) => true,
            (Some(kinds), Some(kind)) => kinds.iter().any(|k| k == kind),
        }
    }
}

/// FNV-1a (64-bit) over `bytes`: the one plain stable hash of the crate (placement finishes it
/// with a mixer, membership seeds its random generator with it).
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .into_iter()
        .fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// A stable 64-bit hash of `(node, key)`.
pub fn stable_hash(node: &str, key: &str) -> u64 {
    let mut h = fnv1a(node.bytes().chain([0xff]).chain(key.bytes()));
    // SplitMix64 finaliser: spreads FNV's weak low bits over the whole word.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The weighted rendezvous score of `node` for `key` (higher wins).
fn score(c: &Candidate, key: &str) -> f64 {
    // Map the hash into (0, 1) and use -w / ln(u): the probability that a node wins is its
    // share of the total capacity.
    let h = stable_hash(c.name.as_str(), key);
    let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    f64::from(c.capacity.max(1)) / -u.ln()
}

/// The candidates that may host `kind`, best first for `key`. Ties (practically impossible)
/// break by node name so the order is total.
pub fn rank<'a>(key: &str, kind: Option<&str>, candidates: &'a [Candidate]) -> Vec<&'a Candidate> {
    let mut ranked: Vec<(&Candidate, f64)> = candidates
        .iter()
        .filter(|c| c.hosts(kind))
        .map(|c| (c, score(c, key)))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.name.cmp(&b.0.name)));
    ranked.into_iter().map(|(c, _)| c).collect()
}

/// The node that should host `key` (of `kind`), if any candidate may.
pub fn place<'a>(
    key: &str,
    kind: Option<&str>,
    candidates: &'a [Candidate],
) -> Option<&'a NodeName> {
    rank(key, kind, candidates).first().map(|c| &c.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn nodes(names: &[&str]) -> Vec<Candidate> {
        names.iter().map(|n| Candidate::new(*n)).collect()
    }

    #[test]
    fn fnv1a_is_the_published_function() {
        assert_eq!(fnv1a(*b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(*b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(*b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn the_hash_is_stable() {
        // Fixed values: a change here changes where every agent of every cluster lives.
        assert_eq!(stable_hash("a", "x"), stable_hash("a", "x"));
        assert_ne!(stable_hash("a", "x"), stable_hash("b", "x"));
        assert_ne!(stable_hash("ab", "c"), stable_hash("a", "bc"));
        assert_eq!(stable_hash("node-1", "agent-1"), 0x0e26_377b_c5c9_debb);
    }

    #[test]
    fn every_node_computes_the_same_winner_in_any_member_order() {
        let a = nodes(&["n1", "n2", "n3"]);
        let b = nodes(&["n3", "n1", "n2"]);
        for i in 0..200 {
            let key = format!("agent-{i}");
            assert_eq!(place(&key, None, &a), place(&key, None, &b));
        }
    }

    #[test]
    fn load_spreads_evenly_and_by_capacity() {
        let mut c = nodes(&["n1", "n2", "n3"]);
        let mut count: HashMap<String, usize> = HashMap::new();
        for i in 0..30_000 {
            let w = place(&format!("agent-{i}"), None, &c).unwrap();
            *count.entry(w.to_string()).or_default() += 1;
        }
        for n in ["n1", "n2", "n3"] {
            let share = count[n] as f64 / 30_000.0;
            assert!((0.30..0.37).contains(&share), "{n} got {share}");
        }
        c[0].capacity = 2;
        count.clear();
        for i in 0..30_000 {
            let w = place(&format!("agent-{i}"), None, &c).unwrap();
            *count.entry(w.to_string()).or_default() += 1;
        }
        let share = count["n1"] as f64 / 30_000.0;
        assert!(
            (0.46..0.54).contains(&share),
            "n1 with capacity 2 got {share}"
        );
    }

    #[test]
    fn a_joining_node_takes_only_what_it_wins() {
        let before = nodes(&["n1", "n2", "n3"]);
        let after = nodes(&["n1", "n2", "n3", "n4"]);
        let mut moved = 0;
        for i in 0..10_000 {
            let key = format!("agent-{i}");
            let (b, a) = (place(&key, None, &before), place(&key, None, &after));
            if a != b {
                assert_eq!(a.unwrap().as_str(), "n4", "{key} moved between old nodes");
                moved += 1;
            }
        }
        assert!((2_000..3_000).contains(&moved), "{moved} moved");
    }

    #[test]
    fn kind_constraints_filter_candidates() {
        let mut c = nodes(&["n1", "n2"]);
        c[0].kinds = Some(vec!["gpu.infer".into()]);
        for i in 0..100 {
            let key = format!("k{i}");
            assert_eq!(place(&key, Some("text.count"), &c).unwrap().as_str(), "n2");
        }
        assert_eq!(rank("k", Some("gpu.infer"), &c).len(), 2);
        c[1].kinds = Some(vec![]);
        assert!(place("k", Some("text.count"), &c).is_none());
    }
}
