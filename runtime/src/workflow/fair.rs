//! The order in which waiting work is served, IO-free: higher [priority](super::TaskSpec::priority)
//! first; within a priority, tenants take turns (start-time fair queueing: each tenant's next
//! item is stamped one round after its previous one, and never before the round being served,
//! so a tenant that queued a thousand items does not make a tenant that queues one wait for
//! them); within a tenant, oldest first.
//!
//! A workflow's local pools order the calls waiting for an agent with it, and a cluster node
//! orders its task queue with it (the queue stays a deque in serving order, so stealing takes
//! from it in the same order: high priority first).

use std::collections::{HashMap, VecDeque};

use super::spec::MAX_PRIORITY;

/// Where an item stands: priority (inverted: 0 is the highest), round, arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Tag {
    rank: u8,
    round: u64,
    seq: u64,
}

/// Items in serving order (see the module docs). Not thread-safe: the owner locks it.
#[derive(Debug)]
pub struct FairQueue<T> {
    items: VecDeque<T>,
    tags: VecDeque<Tag>,
    /// The round of each tenant's latest item (`""`: no tenant). A tenant whose round is not
    /// ahead of `served` has nothing to catch up and may be forgotten.
    tenants: HashMap<String, u64>,
    /// The round of the latest item served.
    served: u64,
    seq: u64,
}

impl<T> Default for FairQueue<T> {
    fn default() -> Self {
        Self {
            items: VecDeque::new(),
            tags: VecDeque::new(),
            tenants: HashMap::new(),
            served: 0,
            seq: 0,
        }
    }
}

impl<T> FairQueue<T> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `item` of `tenant` (`None`: no tenant, which takes turns like one) at
    /// `priority` (capped at [`MAX_PRIORITY`]).
    pub fn push(&mut self, item: T, priority: u8, tenant: Option<&str>) {
        let key = tenant.unwrap_or("");
        let last = self.tenants.get(key).copied().unwrap_or(0);
        let round = last.max(self.served) + 1;
        match self.tenants.get_mut(key) {
            Some(r) => *r = round,
            None => {
                self.tenants.insert(key.to_owned(), round);
            }
        }
        self.seq += 1;
        let tag = Tag {
            rank: MAX_PRIORITY - priority.min(MAX_PRIORITY),
            round,
            seq: self.seq,
        };
        // Most items go at (or near) the back: look from there.
        let mut at = self.tags.len();
        while at > 0 && self.tags[at - 1] > tag {
            at -= 1;
        }
        self.tags.insert(at, tag);
        self.items.insert(at, item);
        self.forget_idle_tenants();
    }

    /// Queues `item` before everything (work given back that was already due).
    pub fn push_front(&mut self, item: T) {
        self.tags.push_front(Tag {
            rank: 0,
            round: 0,
            seq: 0,
        });
        self.items.push_front(item);
    }

    /// The next item to serve.
    pub fn pop(&mut self) -> Option<T> {
        let tag = self.tags.pop_front()?;
        self.served = self.served.max(tag.round);
        self.items.pop_front()
    }

    /// Items queued.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The items in serving order.
    pub fn as_deque(&self) -> &VecDeque<T> {
        &self.items
    }

    /// Removes the items at `positions` (ascending) and returns them in serving order.
    pub fn take(&mut self, positions: Vec<usize>) -> Vec<T> {
        let mut taken = Vec::with_capacity(positions.len());
        for i in positions.into_iter().rev() {
            if let Some(item) = self.items.remove(i) {
                self.tags.remove(i);
                taken.push(item);
            }
        }
        taken.reverse();
        taken
    }

    /// Keeps the tenant map small: a tenant not ahead of the served round is as good as new.
    fn forget_idle_tenants(&mut self) {
        if self.tenants.len() > 64 + 2 * self.items.len() {
            let served = self.served;
            self.tenants.retain(|_, round| *round > served);
        }
    }
}

#[cfg(test)]
#[path = "fair_tests.rs"]
mod tests;
