//! Task scheduling decisions: the queue of tasks waiting for a slot, how many tasks a steal
//! asks for, whom to ask first, and when a busy node tells its peers it has work to spare.
//!
//! A node has one steal in flight at a time and asks for a batch: enough to keep its slots
//! busy while the next steal travels (from the running averages of its task time and steal
//! round trip; two rounds of its slots at least, [`MAX_STEAL`] at most). While it runs stolen
//! tasks it steals the next batch before its queue runs dry. The victim gives at most half of
//! what it can spare (see [`crate::stealing`]).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use troupe_runtime::workflow::fair::FairQueue;

use crate::registry::NodeName;
use crate::stealing::Queued;
use crate::wire::RemoteTask;

/// How often a busy node tells its peers at most that it has work to spare.
pub(crate) const HINT_EVERY: Duration = Duration::from_millis(1);

/// How long an idle task worker waits for news of work before it asks its peers again.
/// Waiting is by notification: a task queued here, a peer's work hint (sent when it queues
/// work it cannot start, after a steal leaves it with work to spare, and after it takes back
/// tasks from a node that went down), and a new link wake idle workers at once. This bound
/// covers what no event reports: tasks a peer could not give because of their affinity (an
/// agent active on the thief) or this node's kinds, which a later registry change can free,
/// and a steal answer lost to a timeout.
pub(crate) const IDLE_RECHECK: Duration = Duration::from_millis(160);

/// The most tasks one steal asks for.
pub(crate) const MAX_STEAL: usize = 64;

/// Tasks waiting for a slot in serving order ([`FairQueue`]: higher priority first, tenants
/// taking turns within a priority, then oldest first); a task given back (its thief went down)
/// goes first.
#[derive(Debug, Default)]
pub(crate) struct TaskQueue {
    queue: FairQueue<Queued>,
}

impl TaskQueue {
    /// Queues a task at the back, or at the front (a task taken back from a thief).
    pub(crate) fn push(&mut self, q: Queued, front: bool) {
        if front {
            self.queue.push_front(q);
        } else {
            let (priority, tenant) = (q.task.priority, q.task.tenant.clone());
            self.queue.push(q, priority, tenant.as_deref());
        }
    }

    /// The next task to run. An own task whose caller no longer waits for it (`waited(key)`
    /// is false: it timed out, or was already answered) is dropped.
    #[cfg(test)]
    pub(crate) fn pop(&mut self, waited: impl Fn(&str) -> bool) -> Option<Queued> {
        self.pop_where(waited, |_| true)
    }

    /// [`Self::pop`], for the first task in serving order that `runs_here` (a task whose pool
    /// needs resources this node does not offer stays queued, for a node that does to steal).
    pub(crate) fn pop_where(
        &mut self,
        waited: impl Fn(&str) -> bool,
        runs_here: impl Fn(&RemoteTask) -> bool,
    ) -> Option<Queued> {
        let mut gone = Vec::new();
        let mut found = false;
        for (i, q) in self.queue.as_deque().iter().enumerate() {
            if q.own && !waited(&q.task.key) {
                gone.push(i);
            } else if runs_here(&q.task) {
                gone.push(i);
                found = true;
                break;
            }
        }
        if gone.is_empty() {
            return None;
        }
        // In queue order: the task to run, when there is one, is the last.
        let mut taken = self.queue.take(gone);
        if found {
            taken.pop()
        } else {
            None
        }
    }

    /// Whether a queued task `runs_here`.
    pub(crate) fn any(&self, runs_here: impl Fn(&RemoteTask) -> bool) -> bool {
        self.queue.as_deque().iter().any(|q| runs_here(&q.task))
    }

    /// Tasks queued.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// The queue, for [`crate::stealing::pick_for_thief`].
    pub(crate) fn as_deque(&self) -> &VecDeque<Queued> {
        self.queue.as_deque()
    }

    /// Removes the tasks at `positions` (ascending, as `pick_for_thief` returns them) and
    /// returns them in queue order.
    pub(crate) fn take(&mut self, positions: Vec<usize>) -> Vec<Queued> {
        self.queue.take(positions)
    }
}

/// How many tasks a node asks for: enough rounds of its slots to cover a steal's round trip
/// (at least two rounds; `task_ns`/`steal_ns` are running averages, 0 when unknown), less what
/// it already has queued or running; at least 1, at most [`MAX_STEAL`].
pub(crate) fn batch_wanted(
    slots: usize,
    queued: usize,
    running: usize,
    task_ns: u64,
    steal_ns: u64,
) -> u32 {
    let rounds = if task_ns == 0 || steal_ns == 0 {
        2
    } else {
        (steal_ns.div_ceil(task_ns) as usize + 1).clamp(2, MAX_STEAL)
    };
    (slots.saturating_mul(rounds))
        .saturating_sub(queued + running)
        .clamp(1, MAX_STEAL) as u32
}

/// A running average (in ns, 0: none yet) with `sample` folded in: weight 1/8, the first
/// sample sets it.
pub(crate) fn average(old: u64, sample: Duration) -> u64 {
    let sample = (sample.as_nanos() as u64).max(1);
    if old == 0 {
        sample
    } else {
        (old * 7 + sample) / 8
    }
}

/// Whether a worker that just took a stolen task fetches the next batch now: it runs stolen
/// work, fewer tasks than its slots are queued, and no steal is in flight.
pub(crate) fn prefetch(own: bool, queued: usize, slots: usize, stealing: bool) -> bool {
    !own && queued < slots && !stealing
}

/// The order in which to ask `peers` (already shuffled) for work: the one that last hinted
/// it has work to spare first.
pub(crate) fn steal_order(mut peers: Vec<NodeName>, hinted: Option<&NodeName>) -> Vec<NodeName> {
    if let Some(h) = hinted {
        if let Some(pos) = peers.iter().position(|p| p == h) {
            peers.swap(0, pos);
        }
    }
    peers
}

/// Whether a node with `queued` tasks waiting and `running` tasks running on `slots` slots
/// cannot start everything it has.
pub(crate) fn busy(queued: usize, running: usize, slots: usize) -> bool {
    queued + running > slots
}

/// What a busy node does about telling its peers (see [`HintLimiter::on_busy`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hint {
    /// Tell every peer now.
    SendNow,
    /// The limit holds it back: check again at this time (then call
    /// [`HintLimiter::on_timer`]).
    Later(Instant),
    /// A later hint is already scheduled.
    Nothing,
}

/// Work hints at most once per [`HINT_EVERY`]; a hint held back by that limit is sent when the
/// window ends (so work queued just after a hint does not wait for idle peers' next poll).
#[derive(Debug, Default)]
pub(crate) struct HintLimiter {
    last: Option<Instant>,
    pending: bool,
}

impl HintLimiter {
    /// The node is busy at `now`.
    pub(crate) fn on_busy(&mut self, now: Instant) -> Hint {
        match self.last {
            Some(t) if now < t + HINT_EVERY => {
                if self.pending {
                    Hint::Nothing
                } else {
                    self.pending = true;
                    Hint::Later(t + HINT_EVERY)
                }
            }
            _ => {
                self.last = Some(now);
                Hint::SendNow
            }
        }
    }

    /// The time given by [`Hint::Later`] came: the shell checks again whether it is busy.
    pub(crate) fn on_timer(&mut self) {
        self.pending = false;
    }
}

/// What became of a result that arrived for a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The first result for its key: answer the workflow's call with it.
    Apply,
    /// Not (or no longer) lent to its sender (it was taken back, or already answered):
    /// ignore it.
    Ignore,
}

/// The tasks this node lent to thieves (owner side) and stole from owners (thief side), by
/// idempotency key. Execution is at least once (a task lent to a node that goes down is taken
/// back and runs again); application is exactly once (only the node a task is lent to may
/// answer it, and only once).
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Owner side: key → (thief, task).
    lent: HashMap<String, (NodeName, RemoteTask)>,
    /// Thief side: key → owner.
    origin: HashMap<String, NodeName>,
}

impl Ledger {
    /// Owner side: `task` was handed to `thief`.
    pub(crate) fn lend(&mut self, thief: &NodeName, task: &RemoteTask) {
        self.lent
            .insert(task.key.clone(), (thief.clone(), task.clone()));
    }

    /// Owner side: `from` reported a result for `key`. Applied only if the task is lent to
    /// `from` right now; the task is no longer lent after that.
    pub(crate) fn result_from(&mut self, from: &NodeName, key: &str) -> Outcome {
        match self.lent.get(key) {
            Some((thief, _)) if thief == from => {
                self.lent.remove(key);
                Outcome::Apply
            }
            _ => Outcome::Ignore,
        }
    }

    /// Owner side: `key` was answered here (run here, or its caller gave up): forget that it
    /// was lent.
    pub(crate) fn settled(&mut self, key: &str) {
        self.lent.remove(key);
    }

    /// Thief side: `key` was stolen from `owner`.
    pub(crate) fn stolen(&mut self, key: &str, owner: &NodeName) {
        self.origin.insert(key.to_owned(), owner.clone());
    }

    /// Thief side: a stolen task finished; the owner to report its result to (none if the
    /// owner went down meanwhile).
    pub(crate) fn finished(&mut self, key: &str) -> Option<NodeName> {
        self.origin.remove(key)
    }

    /// `node` went down: the tasks lent to it, to queue again at the front (in key order);
    /// what was stolen from it is forgotten (its results have nobody to go to).
    pub(crate) fn member_down(&mut self, node: &NodeName) -> Vec<RemoteTask> {
        let mut keys: Vec<String> = self
            .lent
            .iter()
            .filter(|(_, (thief, _))| thief == node)
            .map(|(key, _)| key.clone())
            .collect();
        keys.sort();
        self.origin.retain(|_, owner| owner != node);
        keys.into_iter()
            .filter_map(|key| self.lent.remove(&key).map(|(_, task)| task))
            .collect()
    }

    /// Tasks lent to `node` right now.
    pub(crate) fn lent_to(&self, node: &str) -> usize {
        self.lent
            .values()
            .filter(|(thief, _)| thief.as_str() == node)
            .count()
    }
}
