//! An ordered table of children by id: start order for strategies and shutdown, constant-time
//! lookup by id for everything else (a supervisor may hold thousands of agents).

use std::collections::{BTreeMap, HashMap};

/// Children in start order, indexed by id.
#[derive(Debug, Clone)]
pub(crate) struct ChildTable<T> {
    order: BTreeMap<u64, (String, T)>,
    index: HashMap<String, u64>,
    next: u64,
}

impl<T> Default for ChildTable<T> {
    fn default() -> Self {
        Self {
            order: BTreeMap::new(),
            index: HashMap::new(),
            next: 0,
        }
    }
}

impl<T> ChildTable<T> {
    /// Adds `value` under `id` at the end of the order (replacing an existing entry).
    pub(crate) fn push(&mut self, id: &str, value: T) {
        self.remove(id);
        let seq = self.next;
        self.next += 1;
        self.index.insert(id.to_string(), seq);
        self.order.insert(seq, (id.to_string(), value));
    }

    pub(crate) fn get(&self, id: &str) -> Option<&T> {
        let seq = self.index.get(id)?;
        self.order.get(seq).map(|(_, v)| v)
    }

    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut T> {
        let seq = self.index.get(id)?;
        self.order.get_mut(seq).map(|(_, v)| v)
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    pub(crate) fn remove(&mut self, id: &str) -> Option<T> {
        let seq = self.index.remove(id)?;
        self.order.remove(&seq).map(|(_, v)| v)
    }

    /// Entries in start order.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = (&str, &T)> {
        self.order.values().map(|(k, v)| (k.as_str(), v))
    }

    /// Entries in start order, mutable.
    pub(crate) fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = (&str, &mut T)> {
        self.order.values_mut().map(|(k, v)| (k.as_str(), v))
    }

    /// Entries from `id` (included) to the end, in start order.
    pub(crate) fn from(&self, id: &str) -> impl DoubleEndedIterator<Item = (&str, &T)> {
        let start = self.index.get(id).copied().unwrap_or(u64::MAX);
        self.order.range(start..).map(|(_, (k, v))| (k.as_str(), v))
    }
}

impl<T> FromIterator<(String, T)> for ChildTable<T> {
    fn from_iter<I: IntoIterator<Item = (String, T)>>(iter: I) -> Self {
        let mut t = Self::default();
        for (k, v) in iter {
            t.push(&k, v);
        }
        t
    }
}
