//! Joining a fork's branches by its merge rule: a pure state machine fed branch outcomes as
//! they complete, deciding as early as the rule allows (`all` fails at the first failure,
//! `first_success` succeeds at the first reply, `majority` as soon as a reply has one).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::protocol::{describe, Joined};
use super::turn::Merge;

/// Collects branch outcomes of one fork.
pub(crate) struct Joiner {
    merge: Merge,
    to: Vec<String>,
    outcomes: Vec<Option<Result<Value, String>>>,
    finished: usize,
}

impl Joiner {
    /// A joiner for branches `to` (in `to` order) under `merge`.
    pub(crate) fn new(merge: Merge, to: Vec<String>) -> Self {
        let outcomes = vec![None; to.len()];
        Self {
            merge,
            to,
            outcomes,
            finished: 0,
        }
    }

    /// Records the outcome of branch `index`; returns the joined result once it is decided
    /// (later outcomes are then irrelevant).
    pub(crate) fn branch_done(
        &mut self,
        index: usize,
        outcome: Result<Value, String>,
    ) -> Option<Result<Joined, String>> {
        let slot = self.outcomes.get_mut(index)?;
        if slot.is_some() {
            return None;
        }
        *slot = Some(outcome);
        self.finished += 1;
        let all_in = self.finished == self.to.len();
        match self.merge {
            Merge::All | Merge::Object | Merge::Concat => self.strict(index, all_in),
            Merge::FirstSuccess => match &self.outcomes[index] {
                Some(Ok(v)) => Some(Ok(self.joined(v.clone()))),
                _ if all_in => Some(Err(self.every_branch_failed())),
                _ => None,
            },
            Merge::Majority => self.majority(all_in),
            Merge::Vote if all_in => Some(self.vote()),
            Merge::Vote => None,
        }
    }

    fn strict(&self, index: usize, all_in: bool) -> Option<Result<Joined, String>> {
        match &self.outcomes[index] {
            Some(Err(e)) => return Some(Err(format!("branch {} failed: {e}", self.to[index]))),
            Some(Ok(v)) if self.merge == Merge::Concat && !v.is_array() => {
                return Some(Err(format!(
                    "branch {} replied with {}, not an array",
                    self.to[index],
                    describe(v)
                )))
            }
            _ => {}
        }
        if !all_in {
            return None;
        }
        let replies = self.outcomes.iter().flatten().flatten();
        let result = match self.merge {
            Merge::Object => Value::Object(
                self.to
                    .iter()
                    .cloned()
                    .zip(replies.cloned())
                    .collect::<Map<_, _>>(),
            ),
            Merge::Concat => Value::Array(
                replies
                    .flat_map(|v| v.as_array().cloned().unwrap_or_default())
                    .collect(),
            ),
            _ => Value::Array(replies.cloned().collect()),
        };
        Some(Ok(self.joined(result)))
    }

    fn majority(&self, all_in: bool) -> Option<Result<Joined, String>> {
        let n = self.to.len();
        let tally = self.tally();
        if let Some((value, _)) = tally.iter().find(|(_, count)| count * 2 > n) {
            return Some(Ok(self.joined((*value).clone())));
        }
        let best = tally.iter().map(|(_, c)| *c).max().unwrap_or(0);
        let remaining = n - self.finished;
        if all_in || (best + remaining) * 2 <= n {
            return Some(Err(format!(
                "no reply has a majority of the {n} branches ({})",
                self.describe_tally(&tally)
            )));
        }
        None
    }

    fn vote(&self) -> Result<Joined, String> {
        let tally = self.tally();
        let best = tally.iter().map(|(_, c)| *c).max().unwrap_or(0);
        // The tally is in `to` order of first appearance: the first at `best` wins a tie.
        match tally.iter().find(|(_, c)| *c == best) {
            Some((value, _)) => Ok(self.joined((*value).clone())),
            None => Err(self.every_branch_failed()),
        }
    }

    /// Distinct successful replies with their counts, in `to` order of first appearance.
    fn tally(&self) -> Vec<(&Value, usize)> {
        let mut tally: Vec<(&Value, usize)> = Vec::new();
        for v in self.outcomes.iter().flatten().flatten() {
            match tally.iter_mut().find(|(seen, _)| *seen == v) {
                Some((_, count)) => *count += 1,
                None => tally.push((v, 1)),
            }
        }
        tally
    }

    fn describe_tally(&self, tally: &[(&Value, usize)]) -> String {
        let mut parts: Vec<String> = tally.iter().map(|(v, c)| format!("{v} x{c}")).collect();
        let failed = self.failures().len();
        if failed > 0 {
            parts.push(format!("{failed} failed"));
        }
        let pending = self.to.len() - self.finished;
        if pending > 0 {
            parts.push(format!("{pending} pending"));
        }
        parts.join(", ")
    }

    fn every_branch_failed(&self) -> String {
        let failures: Vec<String> = self
            .failures()
            .into_iter()
            .map(|(name, e)| format!("{name}: {e}"))
            .collect();
        format!("every branch failed ({})", failures.join("; "))
    }

    fn failures(&self) -> BTreeMap<String, String> {
        self.to
            .iter()
            .zip(&self.outcomes)
            .filter_map(|(name, o)| match o {
                Some(Err(e)) => Some((name.clone(), e.clone())),
                _ => None,
            })
            .collect()
    }

    fn joined(&self, result: Value) -> Joined {
        Joined {
            merge: self.merge,
            result,
            failed: self.failures(),
        }
    }
}
