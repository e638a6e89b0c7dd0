//! The entry's side of the protocol: seeding a run with the whole credit, collecting
//! completions and their shares, and knowing when the run has terminated. IO-free.

use serde_json::Value;

use super::credit::{Credit, CreditOverflow, Ledger};
use super::item::{Item, ItemFailure, ItemId};

/// The outcome of a terminated run: results in item order, failures in item order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunOutcome {
    /// Item results, by item id.
    pub results: Vec<(ItemId, Value)>,
    /// Items that finally failed.
    pub failures: Vec<ItemFailure>,
}

/// The entry's protocol state for one run.
#[derive(Debug, Default)]
pub struct EntryCore {
    ledger: Ledger,
    outstanding: bool,
    outcome: RunOutcome,
}

impl EntryCore {
    /// Gives the whole credit to `items` (seed `i` gets id `i`) and places them on peers by
    /// `place`. With no items the run is over at once.
    pub fn seed(
        items: Vec<Value>,
        mut place: impl FnMut(usize) -> usize,
    ) -> (EntryCore, Vec<(usize, Item)>) {
        let mut entry = EntryCore::default();
        if items.is_empty() {
            return (entry, Vec::new());
        }
        entry.outstanding = true;
        // At most usize::MAX items: ceil(log2 n) <= 64, far inside the exponent range.
        let shares = Credit::whole().split(items.len()).unwrap_or_default();
        let placed = items
            .into_iter()
            .zip(shares)
            .enumerate()
            .map(|(i, (payload, credit))| {
                let item = Item {
                    id: ItemId::seed(i),
                    payload,
                    credit,
                    attempts: 0,
                };
                (place(i), item)
            })
            .collect();
        (entry, placed)
    }

    /// Whether the run has terminated (all credit back).
    pub fn is_complete(&self) -> bool {
        !self.outstanding || self.ledger.is_complete()
    }

    /// An item completed. `Ok(true)` when the run terminated with it.
    pub fn on_done(
        &mut self,
        credit: Credit,
        result: Option<(ItemId, Value)>,
    ) -> Result<bool, CreditOverflow> {
        self.outcome.results.extend(result);
        self.ledger.give_back(credit)
    }

    /// An item finally failed. `Ok(true)` when the run terminated with it.
    pub fn on_failed(
        &mut self,
        credit: Credit,
        failure: ItemFailure,
    ) -> Result<bool, CreditOverflow> {
        self.outcome.failures.push(failure);
        self.ledger.give_back(credit)
    }

    /// The ledger (for conservation checks).
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The outcome, results and failures sorted by item id.
    pub fn finish(self) -> RunOutcome {
        let mut outcome = self.outcome;
        outcome.results.sort_by(|a, b| a.0.cmp(&b.0));
        outcome.failures.sort_by_cached_key(|f| {
            f.item
                .split('.')
                .map(|k| k.parse::<u32>().unwrap_or(u32::MAX))
                .collect::<Vec<_>>()
        });
        outcome
    }
}
