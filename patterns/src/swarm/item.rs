//! Work items: their ids in the work tree, their credit, and how a failed one is reported.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::credit::Credit;

/// An item's place in the work tree: seed `i` is `i`; the `k`-th item made by item `p` is
/// `p.k`. Ordering by id is the order results are reduced in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ItemId(pub(super) Vec<u32>);

impl ItemId {
    pub(super) fn seed(i: usize) -> Self {
        ItemId(vec![u32::try_from(i).unwrap_or(u32::MAX)])
    }

    pub(super) fn child(&self, k: usize) -> Self {
        let mut path = Vec::with_capacity(self.0.len() + 1);
        path.extend_from_slice(&self.0);
        path.push(u32::try_from(k).unwrap_or(u32::MAX));
        ItemId(path)
    }
}

impl std::fmt::Display for ItemId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, k) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{k}")?;
        }
        Ok(())
    }
}

/// A unit of work with its share of the run's credit.
#[derive(Debug)]
pub struct Item {
    /// Its place in the work tree.
    pub id: ItemId,
    /// What the member is asked.
    pub payload: Value,
    pub(super) credit: Credit,
    pub(super) attempts: u32,
}

impl Item {
    /// The exponent of the item's credit share (for conservation checks).
    pub fn credit_exponent(&self) -> u32 {
        self.credit.exponent()
    }
}

/// An item that finally failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemFailure {
    /// Its id in the work tree (`"0.3.1"`).
    pub item: String,
    /// Its payload.
    pub payload: Value,
    /// Why it failed.
    pub error: String,
    /// How many times a member was asked to run it.
    pub attempts: u32,
}
