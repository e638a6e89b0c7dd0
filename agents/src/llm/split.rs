//! The cluster split of token budgets, driven by membership events: [`BudgetSplit`] keeps the
//! set of live members a node sees (itself included) and sets its [`Budgets`]' divisor to
//! their number on every change, so each node admits `budget ÷ live members` per minute.
//! IO-free: the node feeds it the events of its membership (SWIM) layer.

use std::collections::BTreeSet;

use super::budget::Budgets;

/// The live members one node sees, and the budgets it splits across them.
#[derive(Debug)]
pub struct BudgetSplit {
    budgets: Budgets,
    live: BTreeSet<String>,
}

impl BudgetSplit {
    /// A split for the node named `me` (alone until members join).
    pub fn new(budgets: Budgets, me: impl Into<String>) -> Self {
        let live = BTreeSet::from([me.into()]);
        budgets.split_across(live.len());
        Self { budgets, live }
    }

    /// Member `name` is live; returns the members the budgets are now split across.
    pub fn member_up(&mut self, name: &str) -> usize {
        self.live.insert(name.to_string());
        self.apply()
    }

    /// Member `name` left or was declared down (this node itself always counts).
    pub fn member_down(&mut self, name: &str) -> usize {
        if self.live.len() > 1 {
            self.live.remove(name);
        }
        self.apply()
    }

    /// Replaces the live set with `names` (this node is kept); returns their number.
    pub fn set_members<'a>(&mut self, me: &str, names: impl IntoIterator<Item = &'a str>) -> usize {
        self.live = names.into_iter().map(str::to_string).collect();
        self.live.insert(me.to_string());
        self.apply()
    }

    fn apply(&self) -> usize {
        self.budgets.split_across(self.live.len());
        self.live.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::budget::share;
    use super::super::config::BudgetConfig;
    use super::*;

    #[test]
    fn shares_are_rounded_down_and_never_zero() {
        assert_eq!(share(60, 1), 60);
        assert_eq!(share(60, 2), 30);
        assert_eq!(share(7, 2), 3);
        assert_eq!(share(2, 5), 1);
        assert_eq!(share(10, 0), 10);
    }

    /// Two nodes, each with its own registry's budgets, follow the same membership events:
    /// each admits half of a 4-requests-per-minute budget while both are live, and the whole
    /// budget once the other is down.
    #[tokio::test(start_paused = true)]
    async fn two_nodes_split_a_budget_and_one_gets_it_all_when_the_other_leaves() {
        let config = BudgetConfig {
            requests_per_minute: Some(4),
            tokens_per_minute: Some(1000),
        };
        let (a, b) = (Budgets::new(), Budgets::new());
        let (la, lb) = (
            a.limiter("http://h/v1", "m", config),
            b.limiter("http://h/v1", "m", config),
        );
        let mut split_a = BudgetSplit::new(a.clone(), "a");
        let mut split_b = BudgetSplit::new(b.clone(), "b");
        assert_eq!(split_a.member_up("b"), 2);
        assert_eq!(split_b.member_up("a"), 2);
        assert_eq!(split_a.member_up("b"), 2, "a repeated Up changes nothing");
        for l in [&la, &lb] {
            l.admit(10).await;
            l.admit(10).await;
            assert!(
                l.try_admit(10).is_err(),
                "a third call waits: share 4 ÷ 2 = 2"
            );
        }
        assert_eq!(a.in_window("http://h/v1", "m"), Some((2, 20)));
        // b leaves: a's share is the whole budget again, its next call fits at once.
        assert_eq!(split_a.member_down("b"), 1);
        assert_eq!(a.split(), 1);
        la.admit(10).await;
        la.admit(10).await;
        assert!(
            la.try_admit(10).is_err(),
            "4 in the window: the whole budget"
        );
        assert_eq!(split_a.member_down("a"), 1, "a node always counts itself");
        assert_eq!(split_b.set_members("b", ["a", "c"]), 3);
        assert_eq!(b.split(), 3);
    }
}
