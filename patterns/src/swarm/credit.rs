//! Termination detection by credit recovery (weight throwing), in exact integer arithmetic.
//!
//! The entry starts a run holding the whole credit, 1. Every work item carries a share of it,
//! always a power of two, `2^-k`, stored as the exponent `k`. An item that makes new items
//! (sub-work, hand-offs) splits its share among them; an item that completes sends its share
//! back to the entry with its result. Shares are only ever moved, never copied ([`Credit`] is not
//! `Clone`), so the credit in flight plus the credit returned is always exactly 1; the entry's
//! [`Ledger`] adds returned shares as a sparse binary fraction, and the run has terminated exactly
//! when the ledger reaches 1: no item is queued, running or in a message anywhere.
//!
//! Splitting a share into `n` adds `ceil(log2 n)` to the exponent, so exponents grow with the
//! depth of the work tree, not its size. If a split would pass [`MAX_EXPONENT`] (four billion
//! generations of sub-work), it fails and hands the share back: the caller reports that item
//! as failed and returns its credit, so termination stays exact (the fallback).

use std::collections::BTreeSet;

/// The finest share a split may produce: `2^-MAX_EXPONENT`.
pub const MAX_EXPONENT: u32 = u32::MAX;

/// A share of a run's credit, `2^-exponent` of the whole. Moved, split and returned; never
/// copied.
#[derive(Debug, PartialEq, Eq)]
pub struct Credit {
    exp: u32,
}

impl Credit {
    /// The whole credit of a run (1).
    pub fn whole() -> Credit {
        Credit { exp: 0 }
    }

    /// `k` for a share of `2^-k`.
    pub fn exponent(&self) -> u32 {
        self.exp
    }

    /// Splits the share into `n` shares (`n >= 1`) that sum exactly to it, the larger ones first.
    /// Fails, handing the share back, when `n` is 0 or a share would be finer than
    /// `2^-MAX_EXPONENT`.
    pub fn split(self, n: usize) -> Result<Vec<Credit>, Credit> {
        self.split_within(n, MAX_EXPONENT)
    }

    /// [`Credit::split`] with a custom exponent limit (to exercise the fallback in tests).
    pub fn split_within(self, n: usize, max_exponent: u32) -> Result<Vec<Credit>, Credit> {
        match n {
            0 => return Err(self),
            1 => return Ok(vec![self]),
            _ => {}
        }
        // d = ceil(log2 n): 2^d leaves of 2^-(exp+d); m = 2^d - n pairs of them merged.
        let d = (n - 1).ilog2() + 1;
        let Some(fine) = self.exp.checked_add(d).filter(|&e| e <= max_exponent) else {
            return Err(self);
        };
        let merged = (1usize << d) - n;
        let mut shares = Vec::with_capacity(n);
        shares.extend((0..merged).map(|_| Credit { exp: fine - 1 }));
        shares.extend((merged..n).map(|_| Credit { exp: fine }));
        Ok(shares)
    }

    /// A share of `2^-exp` made from nothing: for tests of the arithmetic only.
    #[cfg(test)]
    pub(crate) fn forge(exp: u32) -> Credit {
        Credit { exp }
    }
}

/// More credit came back than was ever given out: a bug in the protocol, never a user error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("credit conservation violated: a share of 2^-{exponent} came back after the whole was")]
pub struct CreditOverflow {
    /// The exponent of the share that overflowed.
    pub exponent: u32,
}

/// The credit returned to the entry so far, as a sparse binary fraction: bit `k` set means
/// `2^-k` is part of the sum. Adding a share carries like binary addition.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ledger {
    bits: BTreeSet<u32>,
    complete: bool,
}

impl Ledger {
    /// Nothing returned yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a returned share. `Ok(true)` when the whole credit is back (the run terminated).
    pub fn give_back(&mut self, credit: Credit) -> Result<bool, CreditOverflow> {
        let overflow = CreditOverflow {
            exponent: credit.exp,
        };
        if self.complete {
            return Err(overflow);
        }
        let mut k = credit.exp;
        loop {
            if !self.bits.remove(&k) {
                if k == 0 {
                    // Bit 0 is the whole; nothing else may be set beside it.
                    if !self.bits.is_empty() {
                        return Err(overflow);
                    }
                    self.complete = true;
                    return Ok(true);
                }
                self.bits.insert(k);
                return Ok(false);
            }
            if k == 0 {
                return Err(overflow);
            }
            k -= 1;
        }
    }

    /// Whether the whole credit is back.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The returned sum as a float (for messages and tests; lossy past 52 bits).
    pub fn approx(&self) -> f64 {
        if self.complete {
            return 1.0;
        }
        self.bits.iter().map(|&k| 0.5f64.powi(k as i32)).sum()
    }
}
